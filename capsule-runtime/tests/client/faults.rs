//! The fault matrix: what a blocking check returns when the endpoint misbehaves, under
//! both failure policies, within its deadline; that telemetry never waits meanwhile;
//! the counters; and that nothing panicked.
//!
//! Faults that `capsule-dev` can produce (statuses, latency, a wrong token, closed
//! connections) use it; the rest use the test's raw endpoint (`common::RawServer`).

use crate::common;

use std::time::{Duration, Instant};

use capsule_dev::{DevServer, FaultKnobs, Faults, RunningServer};
use capsule_runtime::{BlockSource, CauseCounts, FailurePolicy, NoDecision, Verdict};
use common::{RawServer, Reply, SLACK, allow, client, invocation, message, response};

const DEADLINE: Duration = Duration::from_millis(800);

/// What a case expects: the cause, and the counter it lands in.
struct Expect {
    cause: fn(&NoDecision) -> bool,
    counter: fn(&CauseCounts) -> u64,
}

/// Runs one blocking check under each failure policy against `url` and checks the
/// verdict, the deadline, the counters, that telemetry does not wait, and that
/// nothing panicked.
async fn assert_no_decision(url: &str, token: &str, expect: &Expect) {
    let panics_before = common::panics();

    for policy in [FailurePolicy::Open, FailurePolicy::Closed] {
        let client = client(url, token, policy, DEADLINE);

        let started = Instant::now();
        let verdict = client.check(&invocation("sess-faults")).await;
        let took = started.elapsed();
        assert!(
            took < DEADLINE + SLACK,
            "{policy:?}: the check took {took:?}"
        );

        let cause = match (policy, &verdict) {
            (
                FailurePolicy::Open,
                Verdict::Allow {
                    failed: Some(cause),
                },
            ) => cause.clone(),
            (FailurePolicy::Closed, Verdict::Block(blocked)) => {
                let BlockSource::FailClosed(cause) = blocked.source() else {
                    panic!("a service block where the service gave none: {blocked:?}")
                };
                assert!(blocked.reason().contains(&cause.summary()));
                assert!(!blocked.reason().contains("http"), "{}", blocked.reason());
                cause.clone()
            }
            _ => panic!("{policy:?}: unexpected verdict {verdict:?}"),
        };
        assert!(
            (expect.cause)(&cause),
            "{policy:?}: unexpected cause {cause:?}"
        );

        let stats = client.stats();
        let (counted, total) = match policy {
            FailurePolicy::Open => (&stats.failed_open_by, stats.decisions_failed_open),
            FailurePolicy::Closed => (&stats.failed_closed_by, stats.decisions_failed_closed),
        };
        assert_eq!((expect.counter)(counted), 1, "{policy:?}: {stats:#?}");
        assert_eq!(total, 1, "{policy:?}: {stats:#?}");

        // Telemetry is queued, not sent in the caller: emit is plain synchronous code.
        for n in 0..50 {
            client.emit(message("sess-faults", &format!("reply {n}")));
        }
        assert_eq!(client.stats().emitted, 50);
        common::assert_accounted(&client);
        client.shutdown(Duration::from_secs(1)).await;
        common::assert_accounted(&client);
    }

    assert_eq!(common::panics(), panics_before, "something panicked");
}

fn dev_server(knobs: FaultKnobs) -> RunningServer {
    DevServer::builder()
        .faults(Faults::all(knobs))
        .start()
        .expect("the local endpoint starts")
}

fn status_is(status: u16) -> fn(&NoDecision) -> bool {
    match status {
        408 => |cause| cause.status() == Some(408),
        429 => |cause| cause.status() == Some(429),
        500 => |cause| cause.status() == Some(500),
        502 => |cause| cause.status() == Some(502),
        503 => |cause| cause.status() == Some(503),
        _ => unreachable!("add the status to the table"),
    }
}

fn connect(cause: &NoDecision) -> bool {
    matches!(cause, NoDecision::Connect(_))
}

fn timeout(cause: &NoDecision) -> bool {
    matches!(cause, NoDecision::Timeout)
}

fn unparseable(cause: &NoDecision) -> bool {
    matches!(cause, NoDecision::Unparseable(_))
}

#[tokio::test]
async fn connection_refused() {
    let expect = Expect {
        cause: connect,
        counter: |c| c.connect,
    };
    assert_no_decision(&common::refused_url(), "t", &expect).await;
}

#[tokio::test]
async fn accepts_but_never_answers() {
    let server = RawServer::start(|_, _| Reply::Hold);
    let expect = Expect {
        cause: timeout,
        counter: |c| c.timeout,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn answers_after_the_deadline() {
    let server = dev_server(FaultKnobs::default().latency(Duration::from_secs(3)));
    let expect = Expect {
        cause: timeout,
        counter: |c| c.timeout,
    };
    assert_no_decision(&server.url(), &server.token(), &expect).await;
}

#[tokio::test]
async fn status_408() {
    let server = dev_server(FaultKnobs::default().status(408, 1.0));
    let expect = Expect {
        cause: status_is(408),
        counter: |c| c.request_timeout,
    };
    assert_no_decision(&server.url(), &server.token(), &expect).await;
}

#[tokio::test]
async fn status_500() {
    let server = dev_server(FaultKnobs::default().status(500, 1.0));
    let expect = Expect {
        cause: status_is(500),
        counter: |c| c.server_error,
    };
    assert_no_decision(&server.url(), &server.token(), &expect).await;
}

#[tokio::test]
async fn status_502() {
    let server = dev_server(FaultKnobs::default().status(502, 1.0));
    let expect = Expect {
        cause: status_is(502),
        counter: |c| c.server_error,
    };
    assert_no_decision(&server.url(), &server.token(), &expect).await;
}

#[tokio::test]
async fn status_503_with_retry_after() {
    let server = RawServer::start(|_, _| {
        response(
            "503 Service Unavailable",
            &["Retry-After: 30"],
            "down for maintenance",
        )
    });
    let expect = Expect {
        cause: |cause| {
            *cause
                == NoDecision::Status {
                    status: 503,
                    message: Some("down for maintenance".into()),
                }
        },
        counter: |c| c.server_error,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn status_429() {
    let server = dev_server(FaultKnobs::default().status(429, 1.0));
    let expect = Expect {
        cause: status_is(429),
        counter: |c| c.rate_limited,
    };
    assert_no_decision(&server.url(), &server.token(), &expect).await;
}

#[tokio::test]
async fn status_400_with_a_message() {
    let server = RawServer::start(|_, _| {
        response(
            "400 Bad Request",
            &["Content-Type: application/json"],
            r#"{"error": "field `user.email` is missing"}"#,
        )
    });
    let expect = Expect {
        cause: |cause| {
            *cause
                == NoDecision::Status {
                    status: 400,
                    message: Some("field `user.email` is missing".into()),
                }
        },
        counter: |c| c.bad_request,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn status_401_for_a_wrong_token() {
    let server = dev_server(FaultKnobs::default());
    let expect = Expect {
        cause: |cause| cause.status() == Some(401),
        counter: |c| c.unauthorized,
    };
    assert_no_decision(&server.url(), "not-a-valid-token", &expect).await;
}

#[tokio::test]
async fn status_200_with_malformed_json() {
    let server = RawServer::start(|_, _| {
        response("200 OK", &[], r#"{"apiVersion": "1", "response": {"act"#)
    });
    let expect = Expect {
        cause: unparseable,
        counter: |c| c.unparseable,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn status_200_with_an_unknown_action() {
    let server = RawServer::start(|_, _| {
        response(
            "200 OK",
            &[],
            r#"{"apiVersion": "1", "response": {"action": "quarantine"}}"#,
        )
    });
    let expect = Expect {
        cause: |cause| matches!(cause, NoDecision::Unparseable(d) if d.contains("quarantine")),
        counter: |c| c.unparseable,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn status_200_with_an_empty_body() {
    let server = RawServer::start(|_, _| response("200 OK", &[], ""));
    let expect = Expect {
        cause: |cause| matches!(cause, NoDecision::Unparseable(d) if d.contains("empty")),
        counter: |c| c.unparseable,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn an_html_error_page() {
    let page = "<html><head><title>502 Bad Gateway</title></head>\
                <body><center><h1>502 Bad Gateway</h1></center></body></html>";
    let server = RawServer::start(move |_, _| {
        response("502 Bad Gateway", &["Content-Type: text/html"], page)
    });
    let expect = Expect {
        cause: |cause| {
            *cause
                == NoDecision::Status {
                    status: 502,
                    message: None,
                }
        },
        counter: |c| c.server_error,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn the_connection_reset_mid_body() {
    let server = RawServer::start(|_, _| Reply::ResetMidBody);
    let expect = Expect {
        cause: |cause| matches!(cause, NoDecision::Connect(d) if d.contains("reading the answer")),
        counter: |c| c.connect,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn a_body_far_over_the_cap() {
    let server = RawServer::start(|_, _| Reply::Endless);
    let expect = Expect {
        cause: |cause| matches!(cause, NoDecision::Unparseable(d) if d.contains("KiB")),
        counter: |c| c.unparseable,
    };
    assert_no_decision(&server.url(), "t", &expect).await;
}

#[tokio::test]
async fn the_connection_closed_without_an_answer() {
    let server = dev_server(FaultKnobs::default().close_connection(1.0));
    let expect = Expect {
        cause: connect,
        counter: |c| c.connect,
    };
    assert_no_decision(&server.url(), &server.token(), &expect).await;
}

#[tokio::test]
async fn keep_alive_closed_between_two_calls_is_retried_on_a_fresh_connection() {
    // The second request on the first connection meets a server that has just closed
    // it: the request was written, no answer will come.
    let server = RawServer::start(|seen, _| {
        if seen.connection == 0 && seen.on_connection == 1 {
            Reply::Close
        } else {
            allow()
        }
    });
    let panics_before = common::panics();

    for policy in [FailurePolicy::Open, FailurePolicy::Closed] {
        let client = client(&server.url(), "t", policy, DEADLINE);
        for _ in 0..2 {
            let verdict = client.check(&invocation("sess-keepalive")).await;
            assert_eq!(verdict, Verdict::Allow { failed: None }, "{policy:?}");
        }
        let stats = client.stats();
        assert_eq!(
            stats.decisions_failed_open + stats.decisions_failed_closed,
            0
        );
    }

    let seen = server.seen();
    let first_client: Vec<(usize, usize)> = seen[..3]
        .iter()
        .map(|s| (s.connection, s.on_connection))
        .collect();
    assert_eq!(first_client, [(0, 0), (0, 1), (1, 0)], "{seen:#?}");
    assert_eq!(
        seen[1].correlation_id, seen[2].correlation_id,
        "the retry is the same event"
    );
    assert_eq!(common::panics(), panics_before);
}

#[tokio::test]
async fn a_service_block_is_never_taken_for_a_failure() {
    let server = RawServer::start(|_, _| {
        response(
            "200 OK",
            &[],
            r#"{"apiVersion": "1", "response": {"action": "block", "reason": "no"}}"#,
        )
    });
    for policy in [FailurePolicy::Open, FailurePolicy::Closed] {
        let client = client(&server.url(), "t", policy, DEADLINE);
        let Verdict::Block(blocked) = client.check(&invocation("sess-block")).await else {
            panic!("the service blocked")
        };
        assert_eq!(blocked.source(), &BlockSource::Service);
        assert_eq!(blocked.reason(), "no");
        let stats = client.stats();
        assert_eq!(
            stats.decisions_failed_open + stats.decisions_failed_closed,
            0
        );
    }
}
