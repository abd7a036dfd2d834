//! The body is checked against the contract's envelope: each wrong field is named in a
//! `400`, and extra fields are accepted.

use crate::common;

use capsule_dev::DevServer;
use common::{post, sample};
use serde_json::{Value, json};

/// Posts `body` and returns the `field` of the `400` it must get.
async fn rejected_field(server: &capsule_dev::RunningServer, body: &Value) -> String {
    let response = post(server, body).await;
    assert_eq!(response.status(), 400, "{body}");
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{error}"
    );
    error["field"]
        .as_str()
        .expect("the error names the field")
        .to_owned()
}

fn without(mut body: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    body.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    body
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).unwrap() = value;
    body
}

#[tokio::test]
async fn a_missing_field_is_named() {
    let server = DevServer::builder().start().unwrap();
    let cases = [
        ("session_start", "/event_type", "event_type"),
        ("session_start", "/session_id", "session_id"),
        ("session_start", "/timestamp", "timestamp"),
        ("session_start", "/agent", "agent"),
        ("session_start", "/agent/id", "agent.id"),
        ("session_start", "/agent/name", "agent.name"),
        ("session_start", "/user", "user"),
        ("session_start", "/user/email", "user.email"),
        ("tool_invocation", "/tool", "tool"),
        ("tool_invocation", "/tool/name", "tool.name"),
        ("tool_invocation", "/tool/input", "tool.input"),
        ("tool_result", "/tool/output", "tool.output"),
        ("user_message", "/message", "message"),
        ("agent_message", "/message/content", "message.content"),
    ];
    for (event_type, pointer, field) in cases {
        let body = without(sample(event_type), pointer);
        assert_eq!(
            rejected_field(&server, &body).await,
            field,
            "{event_type} without {pointer}"
        );
    }
    assert!(
        server.events().is_empty(),
        "rejected events are not recorded"
    );
}

#[tokio::test]
async fn a_mistyped_field_is_named() {
    let server = DevServer::builder().start().unwrap();
    let cases = [
        ("/session_id", json!(7), "session_id"),
        ("/agent", json!("support-agent"), "agent"),
        ("/agent/id", json!(null), "agent.id"),
        ("/user/email", json!(["a@b"]), "user.email"),
        ("/tool/name", json!(42), "tool.name"),
        ("/tool/input", json!("SELECT 1"), "tool.input"),
    ];
    for (pointer, value, field) in cases {
        let body = with(sample("tool_invocation"), pointer, value);
        assert_eq!(rejected_field(&server, &body).await, field, "{pointer}");
    }
    let body = with(
        sample("user_message"),
        "/message/content",
        json!({"text": "hi"}),
    );
    assert_eq!(rejected_field(&server, &body).await, "message.content");
}

#[tokio::test]
async fn an_unknown_event_type_is_refused() {
    let server = DevServer::builder().start().unwrap();
    let body = with(sample("session_start"), "/event_type", json!("tool_call"));
    let response = post(&server, &body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "event_type");
    assert!(
        error["error"].as_str().unwrap().contains("tool_invocation"),
        "lists the six"
    );
}

#[tokio::test]
async fn a_timestamp_that_is_not_utc_to_the_second_is_refused() {
    let server = DevServer::builder().start().unwrap();
    for bad in [
        "2026-03-03 10:30:00",
        "03/03/2026",
        "2026-03-03T10:30:00",
        "yesterday",
        "2026-03-03T10:30:00.123Z",
        "2026-03-03T11:30:00+01:00",
        "2026-03-03 10:30:00Z",
        "2026-03-03t10:30:00Z",
        "2026-03-03T10:30:00z",
    ] {
        let body = with(sample("session_start"), "/timestamp", json!(bad));
        assert_eq!(rejected_field(&server, &body).await, "timestamp", "{bad}");
    }
    let good = with(
        sample("session_start"),
        "/timestamp",
        json!("2026-03-03T10:30:00Z"),
    );
    assert_eq!(post(&server, &good).await.status(), 202);
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused() {
    let server = DevServer::builder().start().unwrap();
    assert_eq!(
        rejected_field(&server, &json!(["session_start"])).await,
        "body"
    );
}

#[tokio::test]
async fn a_body_without_json_content_type_is_refused() {
    let server = DevServer::builder().start().unwrap();
    let response = common::client()
        .post(server.events_url())
        .bearer_auth(server.token())
        .header("content-type", "text/plain")
        .body(sample("session_start").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "Content-Type");
}

#[tokio::test]
async fn unknown_extra_fields_are_accepted_and_kept() {
    let server = DevServer::builder().start().unwrap();
    let mut body = sample("session_start");
    body["event_id"] = json!("evt-1");
    body["agent"]["version"] = json!("1.2.3");
    assert_eq!(post(&server, &body).await.status(), 202);
    assert_eq!(server.events()[0].body["event_id"], "evt-1");
    assert_eq!(server.events()[0].body["agent"]["version"], "1.2.3");
}
