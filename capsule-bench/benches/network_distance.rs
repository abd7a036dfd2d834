//! A guarded call against an endpoint 20 ms away (added by `capsule-dev`'s latency
//! knob on blocking events): it should cost one round trip plus under 1 ms, and the
//! telemetry it queues should add nothing to the caller.
//!
//! ```text
//! cargo bench -p capsule-bench --bench network_distance
//! ```

use std::time::{Duration, Instant};

use capsule::{Event, EventKind, Timestamp};
use capsule_bench::{Latencies, client_for, endpoint, guarded_lookup};
use capsule_dev::{FaultKnobs, Faults};

const LATENCY: Duration = Duration::from_millis(20);
const CALLS: u64 = 200;

#[tokio::main]
async fn main() {
    let server = endpoint();
    server.set_faults(Faults::all(FaultKnobs::default().latency(LATENCY)));
    let client = client_for(&server);
    let session = client.session("bench@example.com");

    let _ = session.scope(guarded_lookup(0)).await;

    let mut calls = Latencies::default();
    for order in 0..CALLS {
        let output = calls.time(session.scope(guarded_lookup(order))).await;
        assert!(output.is_ok(), "the guarded call was blocked");
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

    let latency_us = u64::try_from(LATENCY.as_micros()).unwrap_or(u64::MAX);
    println!(
        "guarded call with {} ms added: p50 {} µs p99 {} µs -> over the added latency: \
         p50 {} µs p99 {} µs",
        LATENCY.as_millis(),
        calls.micros_at(0.5),
        calls.micros_at(0.99),
        calls.micros_at(0.5).saturating_sub(latency_us),
        calls.micros_at(0.99).saturating_sub(latency_us),
    );
    println!(
        "telemetry emit to the same endpoint: p50 {} µs p99 {} µs max {} µs (caller side)",
        emits.micros_at(0.5),
        emits.micros_at(0.99),
        slowest.as_micros()
    );
    let _ = client.flush(Duration::from_secs(30)).await;
}
