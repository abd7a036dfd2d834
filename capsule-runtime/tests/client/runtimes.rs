//! The client under every runtime arrangement an agent may have: `current_thread`,
//! multi-thread, several at once, none at all, or one that was dropped; session guards
//! dropped in each of those and while unwinding; and flush and shutdown deadlines that
//! hold when the endpoint never answers.

use crate::common;

use std::time::{Duration, Instant};

use capsule_dev::{DevServer, RunningServer};
use capsule_runtime::{Client, FailurePolicy, NoDecision, Verdict};
use common::{FLUSH, RawServer, Reply, SLACK, invocation};

const DEADLINE: Duration = Duration::from_secs(10);

fn server_and_client() -> (RunningServer, Client) {
    let server = DevServer::builder().start().unwrap();
    let client = common::client(
        &server.url(),
        &server.token(),
        FailurePolicy::Open,
        DEADLINE,
    );
    (server, client)
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Whether the endpoint recorded a `session_end` for `session`.
fn ended(server: &RunningServer, session: &str) -> bool {
    server
        .events()
        .iter()
        .any(|e| e.session_id == session && e.event_type == "session_end")
}

#[test]
fn checks_work_on_current_thread_and_multi_thread_runtimes() {
    let (_server, client) = server_and_client();

    for runtime in [current_thread(), multi_thread()] {
        let verdict = runtime.block_on(client.check(&invocation("sess-rt")));
        assert_eq!(verdict, Verdict::Allow { failed: None });
    }
}

#[test]
fn a_client_keeps_working_after_the_runtime_that_first_used_it_is_dropped() {
    let (_server, client) = server_and_client();

    let first = multi_thread();
    let verdict = first.block_on(async {
        let session = client.session("user@example.com");
        session.agent_message("warming the connection pool");
        session.client().check(&invocation("sess-first")).await
    });
    assert!(verdict.is_allowed());
    drop(first);

    let verdict = current_thread().block_on(client.check(&invocation("sess-second")));
    assert_eq!(verdict, Verdict::Allow { failed: None });
    assert!(client.flush_blocking(FLUSH));
    assert_eq!(client.stats().failed, 0);
}

#[test]
fn several_runtimes_share_one_client() {
    let (_server, client) = server_and_client();

    let threads: Vec<_> = (0..3)
        .map(|n| {
            let client = client.clone();
            std::thread::spawn(move || {
                let runtime = if n % 2 == 0 {
                    current_thread()
                } else {
                    multi_thread()
                };
                runtime.block_on(async {
                    for _ in 0..5 {
                        let verdict = client.check(&invocation(&format!("sess-{n}"))).await;
                        assert_eq!(verdict, Verdict::Allow { failed: None });
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no runtime's checks failed");
    }
    assert_eq!(client.stats().decisions_failed_open, 0);
}

#[test]
fn a_session_dropped_outside_any_runtime_ends() {
    let (server, client) = server_and_client();

    let session = client.session("user@example.com");
    let id = session.id().to_owned();
    drop(session);

    assert!(client.flush_blocking(FLUSH));
    assert!(ended(&server, &id));
}

#[test]
fn a_session_dropped_inside_a_current_thread_runtime_ends() {
    let (server, client) = server_and_client();

    let id = current_thread().block_on(async {
        let session = client.session("user@example.com");
        let id = session.id().to_owned();
        drop(session);
        assert!(client.flush(FLUSH).await);
        id
    });
    assert!(ended(&server, &id));
}

#[test]
fn a_session_dropped_after_its_runtime_was_dropped_ends() {
    let (server, client) = server_and_client();

    let runtime = current_thread();
    let session = runtime.block_on(async { client.session("user@example.com") });
    drop(runtime);
    let id = session.id().to_owned();
    drop(session);

    assert!(client.flush_blocking(FLUSH));
    assert!(ended(&server, &id));
}

#[test]
fn a_session_dropped_while_unwinding_from_a_panic_ends() {
    let (server, client) = server_and_client();
    let panics_before = common::panics();

    let mut id = String::new();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let session = client.session("user@example.com");
        id = session.id().to_owned();
        panic!("the agent failed mid-session");
    }));

    assert!(unwound.is_err());
    assert!(client.flush_blocking(FLUSH));
    assert!(ended(&server, &id));
    assert_eq!(common::panics(), panics_before);
}

#[test]
fn flush_and_shutdown_return_within_their_deadline_when_the_endpoint_never_answers() {
    let server = RawServer::start(|_, _| Reply::Hold);
    let config = common::builder(&server.url(), "t", FailurePolicy::Open, DEADLINE)
        .telemetry_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();
    for n in 0..20 {
        client.emit(common::message("sess-hang", &format!("event {n}")));
    }
    let deadline = Duration::from_millis(300);

    let started = Instant::now();
    assert!(!client.flush_blocking(deadline));
    assert!(started.elapsed() < deadline + SLACK);

    let runtime = current_thread();
    let started = Instant::now();
    assert!(!runtime.block_on(client.flush(deadline)));
    assert!(started.elapsed() < deadline + SLACK);

    let started = Instant::now();
    assert!(!runtime.block_on(client.shutdown(deadline)));
    assert!(started.elapsed() < deadline + SLACK);

    let stats = client.stats();
    assert_eq!(stats.dropped_by.shut_down, 20, "{stats:#?}");
    common::assert_accounted(&client);
}

#[test]
fn after_shutdown_checks_follow_the_failure_policy_and_telemetry_is_counted_as_dropped() {
    let server = DevServer::builder().start().unwrap();
    let open = common::client(
        &server.url(),
        &server.token(),
        FailurePolicy::Open,
        DEADLINE,
    );
    let closed = common::client(
        &server.url(),
        &server.token(),
        FailurePolicy::Closed,
        DEADLINE,
    );
    let runtime = current_thread();

    for client in [&open, &closed] {
        assert!(client.shutdown_blocking(FLUSH));
        client.emit(common::message("sess-late", "too late"));
        assert_eq!(client.stats().dropped_by.shut_down, 1);
        common::assert_accounted(client);
    }

    let verdict = runtime.block_on(open.check(&invocation("sess-late")));
    assert_eq!(
        verdict,
        Verdict::Allow {
            failed: Some(NoDecision::Unavailable)
        }
    );
    let verdict = runtime.block_on(closed.check(&invocation("sess-late")));
    assert!(!verdict.is_allowed());
    assert_eq!(closed.stats().failed_closed_by.unavailable, 1);
}

#[test]
fn a_check_does_not_wait_its_whole_deadline_for_a_stuck_session_start() {
    // session_start is never answered; the check itself is.
    let server = RawServer::start(|seen, _| {
        if seen.body["event_type"] == "session_start" {
            Reply::Hold
        } else {
            common::allow()
        }
    });
    let deadline = Duration::from_secs(2);
    let config = common::builder(&server.url(), "t", FailurePolicy::Open, deadline)
        .telemetry_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let client = Client::new(config).unwrap();
    let session = client.session("user@example.com");

    let verdict = current_thread().block_on(session.check_prompt("hello"));

    assert_eq!(verdict, Verdict::Allow { failed: None });
    let kinds: Vec<String> = server
        .seen()
        .iter()
        .map(|s| s.body["event_type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["session_start", "user_message"]);
}
