//! Peak memory while an agent emits a million telemetry events into a dead endpoint.
//!
//! The queue holds at most its bound in events and bytes; the rest is dropped and
//! counted, so memory stays flat however long the outage lasts. This prints the
//! process's peak resident memory (Linux `VmHWM`) before and after, with the counters.
//!
//! ```text
//! cargo run --release -p capsule-agent-runtime --example outage_memory
//! ```
//!
//! `OUTAGE_EVENTS` changes the number of events (default 1 000 000); `OUTAGE_QUEUE`
//! the queue's capacity in events (default 10 000, the client's default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use capsule_runtime::{Agent, Client, Config, Event, EventKind, Timestamp, User};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: u64 = env_or("OUTAGE_EVENTS", 1_000_000);
    let capacity: usize = env_or("OUTAGE_QUEUE", 10_000);

    // A loopback port on which nothing listens: every connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    drop(listener);

    let config = Config::builder()
        .url(url)
        .token("outage-token")
        .queue_capacity(capacity)
        .build()?;
    let client = Client::new(config)?;
    let before = peak_rss_kib();

    let started = Instant::now();
    let sessions: Vec<Arc<str>> = (0..64).map(|n| format!("sess-{n}").into()).collect();
    let agent = Agent::new("support-agent", "Customer Support Agent");
    let user = User::new("user@example.com");
    for n in 0..events {
        #[allow(clippy::cast_possible_truncation)]
        let session_id = Arc::clone(&sessions[(n % 64) as usize]);
        client.emit(Event {
            session_id,
            timestamp: Timestamp::now(),
            agent: agent.clone(),
            user: user.clone(),
            kind: EventKind::AgentMessage {
                content: "Order #12345 has been shipped. Tracking number: 1Z999AA1".to_owned(),
            },
        });
        if n % 100_000 == 0 {
            println!("{n:>9} emitted, peak RSS {} KiB", peak_rss_kib());
        }
    }
    let emitting = started.elapsed();

    let drained = client.shutdown_blocking(Duration::from_secs(10));
    let stats = client.stats();
    println!(
        "emitted {} events in {emitting:?}; queue capacity {capacity} events",
        stats.emitted
    );
    println!(
        "peak RSS: {before} KiB before, {} KiB after; queue peak {} events, {} KiB",
        peak_rss_kib(),
        stats.queue_peak_depth,
        stats.queue_peak_bytes / 1024
    );
    println!(
        "sent {}, failed {}, dropped {} ({:?}); drained before shutdown: {drained}",
        stats.sent, stats.failed, stats.dropped, stats.dropped_by
    );
    assert_eq!(stats.emitted, stats.sent + stats.failed + stats.dropped);
    Ok(())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The peak resident set size of this process, in KiB (0 where `/proc` is missing).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
