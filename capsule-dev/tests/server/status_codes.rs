//! Every status the contract names, over real HTTP: 200 with a decision, 202 with an empty
//! body, 400, 401, 408, 413, and what is recorded for each.

use crate::common;

use std::time::Duration;

use capsule_dev::{DevServer, FaultKnobs, Faults, Policy};
use common::{post, post_with_token, sample};
use serde_json::json;

#[tokio::test]
async fn blocking_events_get_200_with_the_exact_decision_body() {
    let server = DevServer::builder().start().unwrap();

    let blocked = post(&server, &sample("tool_invocation")).await;
    assert_eq!(blocked.status(), 200);
    assert_eq!(blocked.headers()["content-type"], "application/json");
    assert_eq!(
        blocked.text().await.unwrap(),
        concat!(
            r#"{"apiVersion":"1","response":{"action":"block","#,
            r#""reason":"Policy violation: query accesses sensitive table"}}"#
        )
    );

    let allowed = post(&server, &sample("user_message")).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.text().await.unwrap(),
        r#"{"apiVersion":"1","response":{"action":"allow"}}"#
    );
}

#[tokio::test]
async fn telemetry_events_get_202_with_an_empty_body() {
    let server = DevServer::builder().start().unwrap();
    for event_type in [
        "tool_result",
        "agent_message",
        "session_start",
        "session_end",
    ] {
        let response = post(&server, &sample(event_type)).await;
        assert_eq!(response.status(), 202, "{event_type}");
        assert!(
            response.bytes().await.unwrap().is_empty(),
            "{event_type} body is empty"
        );
    }
    let recorded: Vec<_> = server.events().into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        recorded,
        [
            "tool_result",
            "agent_message",
            "session_start",
            "session_end"
        ]
    );
    assert!(
        server.events().iter().all(|e| e.action.is_none()),
        "telemetry has no action"
    );
}

#[tokio::test]
async fn a_request_without_token_gets_401_and_is_not_recorded() {
    let server = DevServer::builder().start().unwrap();
    let response = post_with_token(&server, None, &sample("session_start")).await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "missing");
    assert!(server.events().is_empty());
}

#[tokio::test]
async fn a_malformed_body_gets_400_and_is_not_recorded() {
    let server = DevServer::builder().start().unwrap();
    let response = common::client()
        .post(server.events_url())
        .bearer_auth(server.token())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["field"], "body");
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    assert!(server.events().is_empty());
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let server = DevServer::builder().max_body_bytes(512).start().unwrap();
    let mut body = sample("agent_message");
    body["message"]["content"] = json!("x".repeat(1024));
    let response = post(&server, &body).await;
    assert_eq!(response.status(), 413);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["field"], "body");
    assert!(server.events().is_empty());

    // The same body without a declared length (chunked) is refused as well.
    let text = body.to_string();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{:x}\r\n{text}\r\n0\r\n\r\n",
        capsule_dev::EVENTS_PATH,
        server.addr(),
        server.token(),
        text.len()
    );
    let answer = common::raw_exchange(server.addr(), request.as_bytes());
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 413"));
    assert!(server.events().is_empty());
}

#[tokio::test]
async fn a_decision_past_the_server_timeout_gets_408_and_is_not_recorded() {
    let server = DevServer::builder()
        .timeout(Duration::from_millis(100))
        .faults(Faults::all(
            FaultKnobs::default().latency(Duration::from_secs(5)),
        ))
        .start()
        .unwrap();
    let response = post(&server, &sample("tool_invocation")).await;
    assert_eq!(response.status(), 408);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("timeout"),
        "{body}"
    );
    assert!(server.events().is_empty());
}

#[tokio::test]
async fn the_correlation_id_is_echoed_and_recorded() {
    let server = DevServer::builder()
        .policy(Policy::allow_all())
        .start()
        .unwrap();
    let response = common::client()
        .post(server.events_url())
        .bearer_auth(server.token())
        .header("x-correlation-id", "trace-42")
        .json(&sample("session_start"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-correlation-id"], "trace-42");
    assert_eq!(
        server.events()[0].correlation_id.as_deref(),
        Some("trace-42")
    );
}

#[tokio::test]
async fn an_unknown_path_gets_404_naming_the_events_path() {
    let server = DevServer::builder().start().unwrap();
    let response = common::client()
        .get(format!("{}/v1/other", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains(capsule_dev::EVENTS_PATH)
    );
}

#[test]
fn works_from_sync_code_and_stops_on_drop() {
    let server = DevServer::builder().start().unwrap();
    let addr = server.addr();
    let answer = common::raw_exchange(
        addr,
        &common::raw_event_request(&server, &sample("session_end")),
    );
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 202"));
    drop(server);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens after the drop"
    );
}
