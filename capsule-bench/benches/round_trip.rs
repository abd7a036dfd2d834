//! A guarded tool allowed by `capsule-dev` on loopback, against the hand-written
//! `reqwest` call a user would write from the contract, in the same run: one call at a
//! time, then 64 at once. Rounds alternate between the sides so that drift on a shared
//! machine hits them alike.
//!
//! Two baselines: the check alone, and the check followed by the `tool_result` that
//! the contract asks for, posted in the background as the guard does. On a 2-core
//! machine that shares its cores with the server, the second request per call is
//! work the server does either way.
//!
//! Set `ROUND_TRIP_REPORT=1` to compare against the second baseline.
//!
//! ```text
//! cargo bench -p capsule-bench --bench round_trip
//! ```

use std::sync::Arc;

use capsule_bench::{HandWritten, Latencies, client_for, endpoint, guarded_lookup, report};

const ROUNDS: usize = 10;
const SEQUENTIAL_PER_ROUND: u64 = 300;
const CONCURRENT: u64 = 64;
const CONCURRENT_PER_TASK: u64 = 20;

#[tokio::main]
async fn main() {
    let server = endpoint();
    let client = client_for(&server);
    let session = Arc::new(client.session("bench@example.com"));
    let baseline = Arc::new(HandWritten::new(&server));
    let session_id = session.id().to_owned();

    // Warm both: connections, the session's start, the server's allocations.
    for order in 0..200 {
        let _ = session.scope(guarded_lookup(order)).await;
        let _ = baseline.check(&session_id, order).await;
    }

    let (mut guarded_seq, mut baseline_seq) = (Latencies::default(), Latencies::default());
    let (mut guarded_par, mut baseline_par) = (Latencies::default(), Latencies::default());

    for round in 0..ROUNDS {
        server.clear_events();
        let guarded_first = round % 2 == 0;
        for side in [guarded_first, !guarded_first] {
            for order in 0..SEQUENTIAL_PER_ROUND {
                if side {
                    let output = guarded_seq.time(session.scope(guarded_lookup(order))).await;
                    assert!(output.is_ok(), "the guarded call was blocked");
                } else {
                    let allowed = baseline_seq.time(hand_written(&baseline, &session_id, order));
                    assert_eq!(allowed.await, Ok(true));
                }
            }
            let merged = concurrent(side, &session, &baseline, &session_id).await;
            if side {
                guarded_par.merge(&merged);
            } else {
                baseline_par.merge(&merged);
            }
        }
    }

    report("sequential", &guarded_seq, &baseline_seq);
    report("64 concurrent", &guarded_par, &baseline_par);
    let stats = client.stats();
    println!(
        "client: {} decisions failed open, {} telemetry dropped",
        stats.decisions_failed_open, stats.dropped
    );
}

/// The baseline call: the check alone, or with its report when `ROUND_TRIP_REPORT=1`.
async fn hand_written(
    baseline: &HandWritten,
    session_id: &str,
    order: u64,
) -> Result<bool, String> {
    if std::env::var_os("ROUND_TRIP_REPORT").is_some() {
        baseline.check_and_report(session_id, order).await
    } else {
        baseline.check(session_id, order).await
    }
}

async fn concurrent(
    guarded: bool,
    session: &Arc<capsule::Session>,
    baseline: &Arc<HandWritten>,
    session_id: &str,
) -> Latencies {
    let mut tasks = Vec::new();
    for task in 0..CONCURRENT {
        let session = Arc::clone(session);
        let baseline = Arc::clone(baseline);
        let session_id = session_id.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            for call in 0..CONCURRENT_PER_TASK {
                let order = task * 1000 + call;
                if guarded {
                    let output = latencies.time(session.scope(guarded_lookup(order))).await;
                    assert!(output.is_ok(), "the guarded call was blocked");
                } else {
                    let allowed = latencies.time(hand_written(&baseline, &session_id, order));
                    assert_eq!(allowed.await, Ok(true));
                }
            }
            latencies
        }));
    }

    let mut all = Latencies::default();
    for task in tasks {
        all.merge(&task.await.expect("a benchmark task panicked"));
    }
    all
}
