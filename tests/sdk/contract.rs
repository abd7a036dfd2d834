//! The six events serialise to exactly the contract's sample bodies, and decisions
//! parse from the sample responses.

use std::borrow::Cow;
use std::path::PathBuf;

use capsule::{Agent, Decision, Event, EventKind, Json, Timestamp, User};
use serde_json::{Value, json};

fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/contract/examples")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read the sample {}: {err}", path.display()));
    serde_json::from_str(&text).expect("the sample is JSON")
}

fn event(at: &str, kind: EventKind) -> Event {
    Event {
        session_id: "sess-abc123".into(),
        timestamp: Timestamp::parse(at).expect("the test's timestamp is RFC 3339"),
        agent: Agent::new("support-agent", "Customer Support Agent"),
        user: User::new("user@example.com"),
        kind,
    }
}

fn json(value: &Value) -> Json {
    Json::from_serialize(value).expect("a JSON value serialises")
}

fn assert_matches_sample(event: &Event, name: &str) {
    let sent = serde_json::to_value(event).expect("events serialise");
    assert_eq!(
        sent,
        sample(name),
        "the `{name}` event differs from the contract sample"
    );
}

#[test]
fn session_start_matches_the_sample() {
    assert_matches_sample(
        &event("2026-03-03T10:29:55Z", EventKind::SessionStart),
        "session_start",
    );
}

#[test]
fn session_end_matches_the_sample() {
    assert_matches_sample(
        &event("2026-03-03T10:45:00Z", EventKind::SessionEnd),
        "session_end",
    );
}

#[test]
fn tool_invocation_matches_the_sample() {
    let kind = EventKind::ToolInvocation {
        name: Cow::Borrowed("database_query"),
        input: json(&json!({"query": "SELECT * FROM users"})),
    };
    assert_matches_sample(&event("2026-03-03T10:30:00Z", kind), "tool_invocation");
}

#[test]
fn tool_result_matches_the_sample() {
    let kind = EventKind::ToolResult {
        name: Cow::Borrowed("database_query"),
        input: json(&json!({"query": "SELECT * FROM users"})),
        output: json(&json!({"row_count": 42})),
    };
    assert_matches_sample(&event("2026-03-03T10:30:05Z", kind), "tool_result");
}

#[test]
fn user_message_matches_the_sample() {
    let content = "Show me all customer records from the last month".to_owned();
    let kind = EventKind::UserMessage { content };
    assert_matches_sample(&event("2026-03-03T10:30:00Z", kind), "user_message");
}

#[test]
fn agent_message_matches_the_sample() {
    let content = "Here are the 42 customer records from the last month...".to_owned();
    let kind = EventKind::AgentMessage { content };
    assert_matches_sample(&event("2026-03-03T10:30:06Z", kind), "agent_message");
}

#[test]
fn allow_response_parses() {
    let body = serde_json::to_vec(&sample("response_allow")).unwrap();
    assert_eq!(Decision::from_body(&body), Ok(Decision::Allow));
}

#[test]
fn block_response_parses_with_its_reason() {
    let body = serde_json::to_vec(&sample("response_block")).unwrap();
    let reason = "Policy violation: query accesses sensitive table".to_owned();
    assert_eq!(Decision::from_body(&body), Ok(Decision::Block { reason }));
}

#[test]
fn timestamps_are_utc_seconds_with_z() {
    let now = Timestamp::now().to_string();
    assert_eq!(
        now.len(),
        "2026-03-03T10:30:00Z".len(),
        "unexpected shape: {now}"
    );
    assert!(now.ends_with('Z'), "not UTC with a Z suffix: {now}");
    assert!(Timestamp::parse(&now).is_ok(), "not RFC 3339: {now}");
}
