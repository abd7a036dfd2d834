//! A guarded call against an endpoint 20 ms away (added by `capsule-dev`'s latency
//! knob): it should cost one round trip plus under 1 ms, and the telemetry it queues
//! should add nothing to the caller. The round trip is measured in the same run by the
//! hand-written call to the same endpoint, since the server's sleep itself overshoots
//! 20 ms by its timer's granularity.
//!
//! ```text
//! cargo bench -p capsule-bench --bench network_distance
//! ```

use std::time::{Duration, Instant};

use capsule::{Event, EventKind, Timestamp};
use capsule_bench::{HandWritten, Latencies, client_for, endpoint, guarded_lookup};
use capsule_dev::{FaultKnobs, Faults};

const LATENCY: Duration = Duration::from_millis(20);
const CALLS: u64 = 200;

fn signed(micros: u64) -> i64 {
    i64::try_from(micros).unwrap_or(i64::MAX)
}

#[tokio::main]
async fn main() {
    let server = endpoint();
    server.set_faults(Faults::all(FaultKnobs::default().latency(LATENCY)));
    let client = client_for(&server);
    let session = client.session("bench@example.com");

    let baseline = HandWritten::new(&server);
    let _ = session.scope(guarded_lookup(0)).await;
    let _ = baseline.check(session.id(), 0).await;

    let (mut calls, mut round_trips) = (Latencies::default(), Latencies::default());
    for order in 0..CALLS {
        let output = calls.time(session.scope(guarded_lookup(order))).await;
        assert!(output.is_ok(), "the guarded call was blocked");
        let allowed = round_trips.time(baseline.check(session.id(), order)).await;
        assert_eq!(allowed, Ok(true));
    }

    let mut emits = Latencies::default();
    let mut slowest = Duration::ZERO;
    for _ in 0..CALLS {
        let event = Event {
            session_id: session.id().into(),
            timestamp: Timestamp::now(),
            agent: client.config().agent().clone(),
            user: session.user().clone(),
            kind: EventKind::AgentMessage {
                content: "Order #12345 has shipped.".to_owned(),
            },
        };
        let start = Instant::now();
        client.emit(event);
        let took = start.elapsed();
        slowest = slowest.max(took);
        emits.record(took);
    }

    println!(
        "{} ms away: guarded call p50 {} µs p99 {} µs | one round trip (hand-written) \
         p50 {} µs p99 {} µs | guard's cost over the round trip: p50 {} µs p99 {} µs",
        LATENCY.as_millis(),
        calls.micros_at(0.5),
        calls.micros_at(0.99),
        round_trips.micros_at(0.5),
        round_trips.micros_at(0.99),
        signed(calls.micros_at(0.5)) - signed(round_trips.micros_at(0.5)),
        signed(calls.micros_at(0.99)) - signed(round_trips.micros_at(0.99)),
    );
    println!(
        "telemetry emit to the same endpoint: p50 {} µs p99 {} µs max {} µs (caller side)",
        emits.micros_at(0.5),
        emits.micros_at(0.99),
        slowest.as_micros()
    );
    let _ = client.flush(Duration::from_secs(30)).await;
}
