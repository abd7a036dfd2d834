//! The policy always judges the whole call: a long argument is never cut from a
//! blocking check, and an argument that cannot be serialised leaves the check
//! undecided, so the failure policy decides rather than a service that saw a stand-in.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capsule::{BlockSource, FailurePolicy, NoDecision};
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
