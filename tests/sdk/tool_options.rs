//! A tool's own decision deadline, failure policy and monitor mode, set on the
//! attribute, take the place of the client's.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use capsule::{BlockSource, Client, FailurePolicy, NoDecision, Session};
use capsule_dev::{EventType, FaultKnobs, Faults, RunningServer};
use common::{client_with, server};

#[capsule::tool(name = "refund", timeout_ms = 200, skip(ran))]
async fn quick_refund(order_id: u64, ran: &AtomicBool) -> anyhow::Result<u64> {
    ran.store(true, Ordering::SeqCst);
    Ok(order_id)
}

#[capsule::tool(name = "refund", timeout_ms = 200, fail_closed, skip(ran))]
async fn strict_refund(order_id: u64, ran: &AtomicBool) -> anyhow::Result<u64> {
    ran.store(true, Ordering::SeqCst);
    Ok(order_id)
}

#[capsule::tool(name = "lookup", fail_open, skip(ran))]
async fn lenient_lookup(order_id: u64, ran: &AtomicBool) -> anyhow::Result<u64> {
    ran.store(true, Ordering::SeqCst);
    Ok(order_id)
}

#[capsule::tool(name = "database_query", monitor, skip(ran))]
async fn watched_query(query: &str, ran: &AtomicBool) -> anyhow::Result<usize> {
    ran.store(true, Ordering::SeqCst);
    Ok(query.len())
}

/// A client for `server` with the given policy and a deadline far beyond the tools' own,
/// and a session of it.
fn session_on(server: &RunningServer, policy: FailurePolicy) -> (Client, Session) {
    let client = client_with(
        &server.url(),
        &server.token(),
        policy,
        Duration::from_secs(10),
    );
    let session = client.session("user@example.com");
    (client, session)
}

/// An endpoint that takes two seconds over every decision.
fn slow_endpoint() -> RunningServer {
    let server = server();
    let slow = FaultKnobs::default().latency(Duration::from_secs(2));
    server.set_faults(Faults::none().for_event_type(EventType::ToolInvocation, slow));
    server
}

#[tokio::test]
async fn timeout_ms_cuts_the_decision_short_and_fails_open() {
    let server = slow_endpoint();
    let (client, session) = session_on(&server, FailurePolicy::Open);
    let ran = AtomicBool::new(false);

    let started = Instant::now();
    session
        .scope(quick_refund(1, &ran))
        .await
        .expect("fail open");

    // A bound against the client's 10 s deadline, not a timing measurement.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the tool's deadline was not used"
    );
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().failed_open_by.timeout, 1);
}

#[tokio::test]
async fn fail_closed_on_the_tool_blocks_when_no_decision_comes() {
    let server = slow_endpoint();
    let (_client, session) = session_on(&server, FailurePolicy::Open);
    let ran = AtomicBool::new(false);

    let error = session
        .scope(strict_refund(2, &ran))
        .await
        .expect_err("fail closed");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    assert_eq!(
        blocked.source(),
        &BlockSource::FailClosed(NoDecision::Timeout)
    );
    assert!(
        !ran.load(Ordering::SeqCst),
        "a fail-closed tool ran without a decision"
    );
}

#[tokio::test]
async fn fail_open_on_the_tool_overrides_a_fail_closed_client() {
    let server = server();
    server.set_faults(Faults::all(FaultKnobs::default().status(500, 1.0)));
    let (client, session) = session_on(&server, FailurePolicy::Closed);
    let ran = AtomicBool::new(false);

    session
        .scope(lenient_lookup(3, &ran))
        .await
        .expect("the tool fails open");

    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_failed_open, 1);
    assert_eq!(client.stats().decisions_failed_closed, 0);
}

#[tokio::test]
async fn monitor_reports_a_block_but_lets_the_tool_run() {
    let server = server();
    let client = common::client_for(&server);
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    let length = session
        .scope(watched_query("SELECT * FROM users", &ran))
        .await;

    assert_eq!(length.expect("monitor mode does not enforce"), 19);
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_unenforced, 1);

    assert!(client.flush(common::FLUSH).await);
    let invocation = common::events_of(&server, session.id())
        .into_iter()
        .find(|event| event.event_type == "tool_invocation")
        .expect("the check was still sent");
    assert_eq!(invocation.action.as_deref(), Some("block"));
}
