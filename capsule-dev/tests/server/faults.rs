//! Fault knobs, at start and at run time: added latency, a fixed status for a share of
//! requests, closing the connection without an answer, and all of it per event type.

use crate::common;

use std::time::{Duration, Instant};

use capsule_dev::{DevServer, EventType, FaultKnobs, Faults, RunningServer};
use common::{post, raw_event_request, raw_exchange, sample};
use serde_json::json;

#[tokio::test]
async fn latency_delays_the_answer_and_the_event_is_still_accepted() {
    let latency = Duration::from_millis(300);
    let server = DevServer::builder()
        .faults(Faults::all(FaultKnobs::default().latency(latency)))
        .start()
        .unwrap();
    let start = Instant::now();
    assert_eq!(
        post(&server, &sample("tool_invocation")).await.status(),
        200
    );
    assert!(
        start.elapsed() >= latency,
        "answered before the added latency"
    );
    assert_eq!(server.events().len(), 1);
}

#[tokio::test]
async fn a_status_for_a_share_of_requests_is_exact_and_those_are_not_recorded() {
    let server = DevServer::builder()
        .faults(Faults::all(FaultKnobs::default().status(503, 0.5)))
        .start()
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = post(&server, &sample("session_start")).await;
        statuses.push(response.status().as_u16());
        if response.status() == 503 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains("fault"), "{body}");
        }
    }
    assert_eq!(statuses, [202, 503, 202, 503, 202, 503]);
    assert_eq!(
        server.events().len(),
        3,
        "only the accepted half is recorded"
    );
}

#[test]
fn close_without_answer_drops_the_connection_with_no_bytes() {
    let server = DevServer::builder()
        .faults(Faults::all(FaultKnobs::default().close_connection(1.0)))
        .start()
        .unwrap();
    let answer = raw_exchange(
        server.addr(),
        &raw_event_request(&server, &sample("session_start")),
    );
    assert!(
        answer.is_empty(),
        "got an answer: {}",
        String::from_utf8_lossy(&answer)
    );
    assert!(server.events().is_empty());

    // The server itself keeps serving.
    server.set_faults(Faults::none());
    let answer = raw_exchange(
        server.addr(),
        &raw_event_request(&server, &sample("session_start")),
    );
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 202"));
}

#[tokio::test]
async fn a_closed_connection_is_an_error_for_an_http_client() {
    let server = DevServer::builder()
        .faults(Faults::all(FaultKnobs::default().close_connection(1.0)))
        .start()
        .unwrap();
    let result = common::client()
        .post(server.events_url())
        .bearer_auth(server.token())
        .json(&sample("tool_invocation"))
        .send()
        .await;
    assert!(
        result.is_err(),
        "expected a connection error, got {result:?}"
    );
}

#[tokio::test]
async fn faults_apply_per_event_type() {
    let faults = Faults::none().for_event_type(
        EventType::ToolInvocation,
        FaultKnobs::default().status(500, 1.0),
    );
    let server = DevServer::builder().faults(faults).start().unwrap();
    assert_eq!(
        post(&server, &sample("tool_invocation")).await.status(),
        500
    );
    assert_eq!(post(&server, &sample("user_message")).await.status(), 200);
    assert_eq!(post(&server, &sample("session_start")).await.status(), 202);
}

#[tokio::test]
async fn set_faults_takes_effect_for_the_next_request() {
    let server = DevServer::builder().start().unwrap();
    assert_eq!(post(&server, &sample("session_start")).await.status(), 202);
    server.set_faults(Faults::all(FaultKnobs::default().status(502, 1.0)));
    assert_eq!(post(&server, &sample("session_start")).await.status(), 502);
    assert_eq!(server.faults().all.status, Some(502));
    server.set_faults(Faults::none());
    assert_eq!(post(&server, &sample("session_start")).await.status(), 202);
}

#[tokio::test]
async fn the_admin_endpoint_sets_faults_at_run_time_with_the_token() {
    let server = DevServer::builder().start().unwrap();
    let url = format!("{}/_dev/faults", server.url());
    let knobs = json!({"by_event_type": {"session_end": {"status": 429, "status_share": 1.0}}});

    let refused = common::client()
        .put(&url)
        .json(&knobs)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    assert_eq!(put_faults(&server, &knobs).await.status(), 200);
    assert_eq!(post(&server, &sample("session_end")).await.status(), 429);
    assert_eq!(post(&server, &sample("session_start")).await.status(), 202);

    let current: serde_json::Value = common::get_dev(&server, "/_dev/faults")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["by_event_type"]["session_end"]["status"], 429);

    for bad in [
        json!({"all": {"status_share": 2.0}}),
        json!({"all": {"latncy_ms": 5}}),
    ] {
        assert_eq!(put_faults(&server, &bad).await.status(), 400, "{bad}");
    }
    assert_eq!(
        post(&server, &sample("session_end")).await.status(),
        429,
        "bad knobs change nothing"
    );
}

#[tokio::test]
async fn the_binary_takes_fault_options_at_start() {
    let binary = common::Binary::start(&[
        "--bind",
        "127.0.0.1:0",
        "--no-audit",
        "--fault-status",
        "503",
        "--fault-event-type",
        "tool_result",
    ]);
    assert_eq!(binary.post(&sample("tool_result")).await, 503);
    assert_eq!(binary.post(&sample("agent_message")).await, 202);
}

#[tokio::test]
async fn a_status_put_without_a_share_answers_every_request() {
    let server = DevServer::builder().start().unwrap();
    let knobs = json!({"all": {"status": 503}});
    assert_eq!(put_faults(&server, &knobs).await.status(), 200);
    for _ in 0..3 {
        assert_eq!(post(&server, &sample("session_start")).await.status(), 503);
    }

    // An explicit share still counts.
    let knobs = json!({"all": {"status": 503, "status_share": 0.5}});
    assert_eq!(put_faults(&server, &knobs).await.status(), 200);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            post(&server, &sample("session_start"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [202, 503, 202, 503]);
}

/// `PUT /_dev/faults` with the server's token.
async fn put_faults(server: &RunningServer, knobs: &serde_json::Value) -> reqwest::Response {
    common::client()
        .put(format!("{}/_dev/faults", server.url()))
        .bearer_auth(server.token())
        .json(knobs)
        .send()
        .await
        .unwrap()
}
