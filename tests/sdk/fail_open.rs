//! When the endpoint cannot give a decision, a guarded tool still runs (fail open), or
//! is blocked with the cause when the client fails closed.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capsule::{BlockSource, Client, FailurePolicy, NoDecision, Session};
use capsule_dev::{FaultKnobs, Faults, RunningServer};
use common::{client_with, server};

#[capsule::tool(skip(ran))]
async fn refund(order_id: u64, ran: &AtomicBool) -> anyhow::Result<u64> {
    ran.store(true, Ordering::SeqCst);
    Ok(order_id)
}

/// A loopback address on which nothing listens: bind a port, then let it go.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback is available");
    let addr = listener.local_addr().expect("bound");
    drop(listener);
    format!("http://{addr}")
}

/// A fail-open client for an endpoint where nothing listens.
fn dead_endpoint_client() -> Client {
    client_with(
        &closed_port_url(),
        "t",
        FailurePolicy::Open,
        Duration::from_secs(5),
    )
}

#[tokio::test]
async fn endpoint_down_lets_the_tool_run() {
    let client = dead_endpoint_client();
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    let refunded = session.scope(refund(7, &ran)).await.expect("fail open");

    assert_eq!(refunded, 7);
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_failed_open, 1);
}

/// A client with `policy`, and a session of it, for an endpoint that answers every
/// request with `500`.
fn answering_500(server: &RunningServer, policy: FailurePolicy) -> (Client, Session) {
    server.set_faults(Faults::all(FaultKnobs::default().status(500, 1.0)));
    let client = client_with(
        &server.url(),
        &server.token(),
        policy,
        Duration::from_secs(5),
    );
    let session = client.session("user@example.com");
    (client, session)
}

#[tokio::test]
async fn endpoint_answering_500_lets_the_tool_run() {
    let server = server();
    let (client, session) = answering_500(&server, FailurePolicy::Open);
    let ran = AtomicBool::new(false);

    session.scope(refund(8, &ran)).await.expect("fail open");

    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_failed_open, 1);
}

#[tokio::test]
async fn endpoint_answering_500_blocks_when_failing_closed() {
    let server = server();
    let (client, session) = answering_500(&server, FailurePolicy::Closed);
    let ran = AtomicBool::new(false);

    let error = session
        .scope(refund(9, &ran))
        .await
        .expect_err("fail closed");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    assert_eq!(
        blocked.source(),
        &BlockSource::FailClosed(NoDecision::Status {
            status: 500,
            message: Some("fault injected by capsule-dev: status 500 Internal Server Error".into())
        })
    );
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_failed_closed, 1);
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_cut_off_at_the_deadline() {
    // A raw listener: it accepts connections and never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });

    let client = client_with(&url, "t", FailurePolicy::Open, Duration::from_millis(300));
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    session
        .scope(refund(10, &ran))
        .await
        .expect("fail open after the deadline");

    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_failed_open, 1);
    hold.abort();
}

#[tokio::test]
async fn telemetry_to_a_dead_endpoint_is_counted_not_raised() {
    let client = dead_endpoint_client();
    let session = client.session("user@example.com");
    session.agent_message("hello");
    drop(session);

    assert!(client.flush(common::FLUSH).await, "the queue did not drain");
    let stats = client.stats();
    assert_eq!(stats.emitted, 3);
    assert_eq!(stats.failed, 3, "{stats:?}");
    assert_eq!(stats.sent, 0);
}

#[tokio::test]
async fn a_url_without_the_events_endpoint_fails_closed_saying_what_to_fix() {
    let server = server();
    let wrong = format!("{}/not-capsule", server.url());
    let client = client_with(
        &wrong,
        &server.token(),
        FailurePolicy::Closed,
        Duration::from_secs(5),
    );
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    let error = session
        .scope(refund(11, &ran))
        .await
        .expect_err("fail closed");

    let blocked = error.downcast_ref::<capsule::Blocked>().expect("a block");
    let BlockSource::FailClosed(cause) = blocked.source() else {
        panic!("a failure, not a service block: {blocked:?}");
    };
    assert_eq!(cause.status(), Some(404));
    assert!(
        cause.to_string().contains("CAPSULE_URL"),
        "the cause says what to fix: {cause}"
    );
    assert!(!ran.load(Ordering::SeqCst));
}

#[tokio::test]
async fn the_whole_events_url_works_as_well_as_the_host() {
    let server = server();
    let whole = format!("{}{}", server.url(), capsule_dev::EVENTS_PATH);
    let client = client_with(
        &whole,
        &server.token(),
        FailurePolicy::Closed,
        Duration::from_secs(5),
    );
    let session = client.session("user@example.com");
    let ran = AtomicBool::new(false);

    session
        .scope(refund(12, &ran))
        .await
        .expect("the endpoint allows it");

    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(client.stats().decisions_failed_closed, 0);
}
