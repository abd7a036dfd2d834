//! Settings per check (deadline, failure policy, mode) override the client's, and
//! monitor mode reports blocks without enforcing them.

use crate::common;

use std::time::{Duration, Instant};

use capsule_dev::{DevServer, FaultKnobs, Faults};
use capsule_runtime::{
    BlockSource, CheckOptions, Client, EventKind, FailurePolicy, Json, Mode, NoDecision, Verdict,
};
use common::{SLACK, event, invocation};

const LONG: Duration = Duration::from_secs(30);

/// A query the sample policy blocks.
fn sensitive_query() -> capsule_runtime::Event {
    let input = Json::from_serialize(&serde_json::json!({"query": "SELECT * FROM users"}));
    event(
        "sess-options",
        EventKind::ToolInvocation {
            name: "database_query".into(),
            input: input.unwrap(),
        },
    )
}

#[tokio::test]
async fn a_per_check_deadline_holds_under_a_longer_client_deadline() {
    let server = DevServer::builder()
        .faults(Faults::all(
            FaultKnobs::default().latency(Duration::from_secs(5)),
        ))
        .start()
        .unwrap();
    let client = common::client(&server.url(), &server.token(), FailurePolicy::Open, LONG);
    let short = CheckOptions::new().deadline(Duration::from_millis(300));

    let started = Instant::now();
    let verdict = client.check_with(&invocation("sess-options"), short).await;

    assert!(started.elapsed() < Duration::from_millis(300) + SLACK);
    assert_eq!(
        verdict,
        Verdict::Allow {
            failed: Some(NoDecision::Timeout)
        }
    );
}

#[tokio::test]
async fn a_per_check_failure_policy_overrides_the_clients() {
    let server = DevServer::builder()
        .faults(Faults::all(FaultKnobs::default().status(503, 1.0)))
        .start()
        .unwrap();
    let client = common::client(&server.url(), &server.token(), FailurePolicy::Open, LONG);
    let closed = CheckOptions::new().failure_policy(FailurePolicy::Closed);

    let verdict = client.check_with(&invocation("sess-options"), closed).await;
    let blocked = verdict.into_block().expect("this check fails closed");
    assert!(
        matches!(blocked.source(), BlockSource::FailClosed(cause) if cause.status() == Some(503))
    );

    let verdict = client.check(&invocation("sess-options")).await;
    assert!(verdict.is_allowed(), "other checks still fail open");
    let stats = client.stats();
    assert_eq!(
        (stats.decisions_failed_closed, stats.decisions_failed_open),
        (1, 1)
    );
}

#[tokio::test]
async fn monitor_mode_reports_a_block_and_lets_the_action_run() {
    let server = DevServer::builder().start().unwrap();
    let config = common::builder(&server.url(), &server.token(), FailurePolicy::Open, LONG)
        .mode(Mode::Monitor)
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();

    let verdict = client.check(&sensitive_query()).await;

    let Verdict::Unenforced(blocked) = &verdict else {
        panic!("monitor mode lets blocks through, got {verdict:?}")
    };
    assert_eq!(blocked.source(), &BlockSource::Service);
    assert_eq!(
        blocked.reason(),
        "Policy violation: query accesses sensitive table"
    );
    assert!(verdict.is_allowed());
    assert_eq!(client.stats().decisions_unenforced, 1);
    let recorded = server.events();
    assert_eq!(recorded.last().unwrap().action.as_deref(), Some("block"));

    let enforce = CheckOptions::new().mode(Mode::Enforce);
    let verdict = client.check_with(&sensitive_query(), enforce).await;
    assert!(
        !verdict.is_allowed(),
        "a check may enforce while the client monitors"
    );
}

#[tokio::test]
async fn a_guarded_call_takes_its_own_options() {
    use capsule_runtime::__private::{Input, ToolCall};

    let server = DevServer::builder()
        .faults(Faults::all(FaultKnobs::default().status(500, 1.0)))
        .start()
        .unwrap();
    let client = common::client(&server.url(), &server.token(), FailurePolicy::Open, LONG);
    let session = client.session("user@example.com");
    let fail_closed = CheckOptions::new().failure_policy(FailurePolicy::Closed);

    let outcome = session
        .scope(async {
            let call = ToolCall::begin("refund").expect("a session is in scope");
            call.options(fail_closed)
                .check(Input::with_capacity(0))
                .await
        })
        .await;

    let blocked = outcome.expect_err("this tool fails closed");
    assert!(
        matches!(blocked.source(), BlockSource::FailClosed(cause) if cause.status() == Some(500))
    );
}

#[tokio::test]
async fn a_check_given_up_by_its_caller_closes_its_request() {
    // A raw listener, since capsule-dev answers every request: this one reads the
    // request, never answers, and reports when the client closes the connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let closed = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0; 64 * 1024];
        while socket.read(&mut buffer).await.unwrap_or(0) > 0 {}
    });
    let client = common::client(&url, "t", FailurePolicy::Open, LONG);

    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        client.check(&invocation("sess-given-up")),
    )
    .await;

    assert!(gave_up.is_err(), "the endpoint never answers");
    tokio::time::timeout(LONG / 2, closed)
        .await
        .expect("the request was closed long before its 30 s deadline")
        .unwrap();
}
