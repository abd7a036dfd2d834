//! The telemetry queue: bounded in events and bytes, every event delivered or counted,
//! retries with one id per event, pauses on `429`, per-session order, and fields cut
//! or repaired rather than lost.

use crate::common;

use std::time::{Duration, Instant};

use capsule_dev::{DevServer, FaultKnobs, Faults};
use capsule_runtime::{Client, EventKind, FailurePolicy};
use common::{FLUSH, RawServer, Reply, accepted, builder, event, message, response};

const DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_events_into_a_dead_endpoint_stay_within_the_bound_and_are_all_counted() {
    const EVENTS: u64 = 1_000_000;
    const MAX_EVENTS: usize = 1_000;
    const MAX_BYTES: usize = 128 * 1024;

    let config = builder(&common::refused_url(), "t", FailurePolicy::Open, DEADLINE)
        .queue_capacity(MAX_EVENTS)
        .queue_max_bytes(MAX_BYTES)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();

    let emitting = std::thread::spawn({
        let client = client.clone();
        move || {
            for n in 0..EVENTS {
                let session = if n % 2 == 0 { "sess-a" } else { "sess-b" };
                client.emit(message(session, "x"));
            }
        }
    });
    emitting.join().expect("emitting never panics");

    assert!(client.flush(FLUSH).await, "the queue did not drain");
    let stats = client.stats();
    assert_eq!(stats.emitted, EVENTS);
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.emitted, stats.failed + stats.dropped, "{stats:#?}");
    assert_eq!(stats.failed, stats.failed_by.connect, "{stats:#?}");
    assert!(stats.dropped_by.queue_full + stats.dropped_by.queue_full_bytes > 0);
    assert!(stats.queue_peak_depth <= MAX_EVENTS as u64, "{stats:#?}");
    assert!(stats.queue_peak_bytes <= MAX_BYTES as u64, "{stats:#?}");
    assert_eq!((stats.queue_depth, stats.queue_bytes), (0, 0));
}

#[tokio::test]
async fn the_byte_bound_drops_what_the_event_bound_would_let_in() {
    let server = RawServer::start(|_, _| Reply::Hold);
    let config = builder(&server.url(), "t", FailurePolicy::Open, DEADLINE)
        .queue_capacity(1_000)
        .queue_max_bytes(64 * 1024)
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();

    for _ in 0..10 {
        client.emit(message("sess-big", &"x".repeat(20 * 1024)));
    }

    let stats = client.stats();
    assert!(stats.dropped_by.queue_full_bytes >= 7, "{stats:#?}");
    assert!(stats.queue_bytes <= 64 * 1024);
    assert_eq!(stats.dropped_by.queue_full, 0);
    common::assert_accounted(&client);
}

#[tokio::test]
async fn a_transient_failure_is_retried_with_the_same_event_id() {
    let server = RawServer::start(|_, n| {
        if n < 2 {
            response("503 Service Unavailable", &[], "busy")
        } else {
            accepted()
        }
    });
    let config = builder(&server.url(), "t", FailurePolicy::Open, DEADLINE)
        .telemetry_retries(3)
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();

    client.emit(message("sess-retry", "hello"));
    assert!(client.flush(FLUSH).await);

    let stats = client.stats();
    assert_eq!(
        (stats.sent, stats.retried, stats.failed),
        (1, 2, 0),
        "{stats:#?}"
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[0].correlation_id.is_some());
    assert!(
        seen.iter()
            .all(|s| s.correlation_id == seen[0].correlation_id)
    );
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = RawServer::start(|_, _| response("400 Bad Request", &[], "no"));
    let client = common::client(&server.url(), "t", FailurePolicy::Open, DEADLINE);

    client.emit(message("sess-400", "hello"));
    assert!(client.flush(FLUSH).await);

    let stats = client.stats();
    assert_eq!(
        (stats.failed_by.bad_request, stats.retried),
        (1, 0),
        "{stats:#?}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn retry_after_pauses_every_sender() {
    let server = RawServer::start(|_, n| {
        if n == 0 {
            response("429 Too Many Requests", &["Retry-After: 1"], "")
        } else {
            accepted()
        }
    });
    let config = builder(&server.url(), "t", FailurePolicy::Open, DEADLINE)
        .telemetry_concurrency(4)
        .telemetry_retries(2)
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();

    client.emit(message("sess-first", "hello"));
    let waiting = Instant::now();
    while client.stats().retried == 0 {
        assert!(waiting.elapsed() < FLUSH, "the 429 never came back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in 0..8 {
        client.emit(message(&format!("sess-{n}"), "later"));
    }
    assert!(client.flush(FLUSH).await);

    let stats = client.stats();
    assert_eq!((stats.sent, stats.failed), (9, 0), "{stats:#?}");
    let seen = server.seen();
    let rate_limited_at = seen[0].at;
    for later in &seen[1..] {
        assert!(
            later.at.duration_since(rate_limited_at) >= Duration::from_millis(900),
            "a request went out during the pause"
        );
    }
}

#[tokio::test]
async fn each_session_arrives_in_order_while_sessions_go_concurrently() {
    let server = DevServer::builder()
        .faults(Faults::all(
            FaultKnobs::default().latency(Duration::from_millis(2)),
        ))
        .start()
        .unwrap();
    let config = builder(
        &server.url(),
        &server.token(),
        FailurePolicy::Open,
        DEADLINE,
    )
    .telemetry_concurrency(4)
    .build()
    .unwrap();
    let client = Client::new(config).unwrap();

    let sessions: Vec<String> = (0..8).map(|n| format!("sess-order-{n}")).collect();
    for session in &sessions {
        client.emit(event(session, EventKind::SessionStart));
    }
    for step in 0..10 {
        for session in &sessions {
            client.emit(message(session, &format!("step {step}")));
        }
    }
    for session in &sessions {
        client.emit(event(session, EventKind::SessionEnd));
    }
    assert!(client.flush(FLUSH).await);

    assert_eq!(client.stats().sent, 8 * 12);
    for session in &sessions {
        let events: Vec<String> = server
            .events()
            .into_iter()
            .filter(|e| &e.session_id == session)
            .map(|e| match e.body["message"]["content"].as_str() {
                Some(content) => content.to_owned(),
                None => e.event_type,
            })
            .collect();
        let mut expected = vec!["session_start".to_owned()];
        expected.extend((0..10).map(|step| format!("step {step}")));
        expected.push("session_end".to_owned());
        assert_eq!(events, expected);
    }
}

#[tokio::test]
async fn an_oversized_field_is_cut_and_marked_and_bad_utf8_is_replaced() {
    let server = DevServer::builder().start().unwrap();
    let config = builder(
        &server.url(),
        &server.token(),
        FailurePolicy::Open,
        DEADLINE,
    )
    .max_field_bytes(4096)
    .build()
    .unwrap();
    let client = Client::new(config).unwrap();
    let session = client.session_with_id("sess-cut", "user@example.com");

    session.agent_message("y".repeat(1024 * 1024));
    session.agent_message(b"caf\xe9 au lait");
    assert!(client.flush(FLUSH).await);

    let stats = client.stats();
    assert_eq!(
        (stats.sent, stats.dropped, stats.failed),
        (3, 0, 0),
        "{stats:#?}"
    );
    let contents: Vec<String> = server
        .events()
        .into_iter()
        .filter(|e| e.event_type == "agent_message")
        .map(|e| e.body["message"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert!(contents[0].len() <= 4096);
    assert!(contents[0].ends_with("[truncated by Capsule: 1048576 bytes in all]"));
    assert_eq!(contents[1], "caf\u{fffd} au lait");
}

#[tokio::test]
async fn telemetry_queued_when_the_last_client_handle_is_dropped_still_goes_out() {
    const SESSIONS: usize = 20;
    // Each answer takes a while, so events are still queued when the client goes.
    let server = DevServer::builder()
        .faults(Faults::all(
            FaultKnobs::default().latency(Duration::from_millis(20)),
        ))
        .start()
        .unwrap();

    {
        let client = common::client(&server.url(), &server.token(), FailurePolicy::Open, FLUSH);
        for n in 0..SESSIONS {
            let session = client.session(format!("user{n}@example.com"));
            session.agent_message("bye");
        }
    }

    let until = Instant::now() + FLUSH;
    let ends = || {
        let events = server.events();
        events
            .iter()
            .filter(|e| e.event_type == "session_end")
            .count()
    };
    while ends() < SESSIONS && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ends(), SESSIONS, "some session_end events were lost");
}
