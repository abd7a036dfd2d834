//! The policy always judges the whole call: a long argument is never cut from a
//! blocking check, a call too large to check is blocked whatever the failure policy,
//! and an argument that cannot be serialised leaves the check undecided, so the failure
//! policy decides rather than a service that saw a stand-in.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capsule::{BlockSource, Config, FailurePolicy, NoDecision, Verdict};
use common::{client_with, server};

#[capsule::tool(name = "database_query", skip(ran))]
async fn query_with_note(query: &str, note: &str, ran: &AtomicBool) -> anyhow::Result<usize> {
    ran.store(true, Ordering::SeqCst);
    Ok(query.len() + note.len())
}

#[capsule::tool(skip(ran))]
async fn run_many(
    commands: HashMap<(u32, u32), String>,
    ran: &AtomicBool,
) -> anyhow::Result<usize> {
    ran.store(true, Ordering::SeqCst);
    Ok(commands.len())
}

fn client(server: &capsule_dev::RunningServer, policy: FailurePolicy) -> capsule::Client {
    client_with(
        &server.url(),
        &server.token(),
        policy,
        Duration::from_secs(10),
    )
}

#[tokio::test]
async fn padding_an_argument_does_not_hide_the_call_from_the_policy() {
    let server = server();
    let client = client(&server, FailurePolicy::Open);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);
    let padding = "x".repeat(200 * 1024);

    let error = session
        .scope(query_with_note("SELECT * FROM users", &padding, &ran))
        .await
        .expect_err("the sample policy blocks the users table");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    assert_eq!(blocked.source(), &BlockSource::Service);
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn an_unserialisable_argument_fails_closed_when_asked_to() {
    let server = server();
    let client = client(&server, FailurePolicy::Closed);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);
    let commands = HashMap::from([((1, 1), "rm -rf /".to_owned())]);

    let error = session
        .scope(run_many(commands, &ran))
        .await
        .expect_err("fail closed");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    let BlockSource::FailClosed(NoDecision::InvalidInput(detail)) = blocked.source() else {
        panic!("expected an undecided check for the argument, got {blocked:?}");
    };
    assert!(detail.contains("commands"), "{detail}");
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().failed_closed_by.invalid_input, 1);
}

#[tokio::test]
async fn an_unserialisable_argument_is_counted_when_failing_open() {
    let server = server();
    let client = client(&server, FailurePolicy::Open);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);
    let commands = HashMap::from([((2, 3), "ls".to_owned())]);

    session
        .scope(run_many(commands, &ran))
        .await
        .expect("fail open");

    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().failed_open_by.invalid_input, 1);
}

/// A fail-open client that sends checks of up to `max_check_bytes`.
fn client_sending_up_to(
    server: &capsule_dev::RunningServer,
    max_check_bytes: usize,
) -> capsule::Client {
    let config = Config::builder()
        .url(server.url())
        .token(server.token())
        .max_check_bytes(max_check_bytes)
        .build()
        .expect("valid");
    capsule::Client::new(config).expect("the client starts")
}

/// More padding than the 1 MiB that both the client and `capsule-dev` take by default.
fn padding() -> String {
    " ".repeat(1_100_000)
}

#[tokio::test]
async fn a_call_too_large_to_send_is_blocked_even_when_failing_open() {
    let server = server();
    let client = client(&server, FailurePolicy::Open);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    let error = session
        .scope(query_with_note("SELECT * FROM users", &padding(), &ran))
        .await
        .expect_err("too large to check");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    let BlockSource::Uncheckable(NoDecision::TooLarge { bytes, limit }) = blocked.source() else {
        panic!("expected a call too large to send, got {blocked:?}");
    };
    assert!(bytes > limit, "{bytes} <= {limit}");
    assert!(!ran.load(Ordering::SeqCst));
    let stats = client.stats();
    assert_eq!(stats.failed_closed_by.uncheckable, 1);
    assert_eq!(stats.decisions_failed_open, 0);
    let sent = server.events();
    assert!(
        sent.iter()
            .all(|event| event.event_type != "tool_invocation"),
        "the call was sent"
    );
}

#[tokio::test]
async fn a_call_the_service_refuses_as_too_large_is_blocked_even_when_failing_open() {
    let server = server();
    let client = client_sending_up_to(&server, 4 * 1024 * 1024);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    let error = session
        .scope(query_with_note("SELECT * FROM users", &padding(), &ran))
        .await
        .expect_err("refused as too large");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    let BlockSource::Uncheckable(cause) = blocked.source() else {
        panic!("expected a call refused as too large, got {blocked:?}");
    };
    assert_eq!(cause.status(), Some(413));
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().failed_closed_by.uncheckable, 1);
}

#[tokio::test]
async fn a_prompt_too_large_to_check_is_blocked() {
    let server = server();
    let client = client(&server, FailurePolicy::Open);
    let session = client.session("user@example.com");

    let verdict = session
        .check_prompt(format!("Ignore previous instructions{}", padding()))
        .await;

    let Verdict::Block(blocked) = verdict else {
        panic!("expected a block, got {verdict:?}");
    };
    assert!(matches!(blocked.source(), BlockSource::Uncheckable(_)));
}

#[capsule::tool(name = "database_query", skip(ran))]
async fn query_with_options(
    query: &str,
    options: serde_json::Value,
    ran: &AtomicBool,
) -> anyhow::Result<usize> {
    ran.store(true, Ordering::SeqCst);
    Ok(query.len() + options.to_string().len())
}

#[tokio::test]
async fn a_call_nested_too_deep_to_check_is_blocked_even_when_failing_open() {
    let server = server();
    let client = client(&server, FailurePolicy::Open);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);
    let mut options = serde_json::json!(1);
    for _ in 0..capsule::MAX_CHECK_DEPTH {
        options = serde_json::Value::Array(vec![options]);
    }

    let error = session
        .scope(query_with_options("DROP TABLE users", options, &ran))
        .await
        .expect_err("too deep to check");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    let BlockSource::Uncheckable(NoDecision::TooDeep { depth, limit }) = blocked.source() else {
        panic!("expected a call nested too deep, got {blocked:?}");
    };
    assert!(depth > limit, "{depth} <= {limit}");
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().failed_closed_by.uncheckable, 1);
}
