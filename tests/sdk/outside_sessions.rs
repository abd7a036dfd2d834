//! A guarded call made outside any session belongs to the default session of the global
//! client, or, when that has no endpoint, of the newest client that has one. That
//! session begins with `session_start` on first use and ends with `session_end` when
//! the guard from `init` is dropped or the client shuts down.
//!
//! Each program is this test binary run again as a child process, with only one ignored
//! test selected: no other test's client or session may be alive while it calls the
//! tool, and the process must really end when it is done.

use capsule_dev::DevServer;

use crate::common::{run_program, types};

#[capsule::tool]
async fn order_lookup(order_id: u64) -> anyhow::Result<String> {
    Ok(format!("order {order_id} shipped"))
}

#[test]
fn a_call_outside_any_session_is_framed_by_session_start_and_end() {
    let server = DevServer::builder().start().expect("the endpoint starts");

    run_program(
        "outside_sessions::program",
        &[
            ("CAPSULE_URL", server.url()),
            ("CAPSULE_TOKEN", server.token()),
            ("CAPSULE_USER_EMAIL", "ops@example.com".to_owned()),
        ],
    );

    let events = server.events();
    assert_eq!(
        types(&events),
        [
            "session_start",
            "tool_invocation",
            "tool_result",
            "session_end"
        ]
    );
    assert!(
        events.iter().all(|e| e.session_id == events[0].session_id),
        "one session: {events:?}"
    );
    assert_eq!(events[1].body["user"]["email"], "ops@example.com");
}

#[test]
#[ignore = "the program run by a_call_outside_any_session_is_framed_by_session_start_and_end"]
fn program() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let _capsule = capsule::init(capsule::Config::from_env().expect("the environment is set"))
        .expect("the first init");

    let shipped = runtime
        .block_on(order_lookup(7))
        .expect("the local policy allows it");
    assert_eq!(shipped, "order 7 shipped");
}

#[capsule::tool(name = "database_query")]
async fn query(query: String) -> anyhow::Result<usize> {
    Ok(query.len())
}

#[test]
fn a_call_outside_any_session_goes_to_a_client_made_without_init() {
    let server = DevServer::builder().start().expect("the endpoint starts");

    // Not CAPSULE_URL: the global client stays disabled, as in an agent that makes its
    // own client.
    run_program(
        "outside_sessions::program_with_own_client",
        &[
            ("OWN_CLIENT_URL", server.url()),
            ("OWN_CLIENT_TOKEN", server.token()),
        ],
    );

    let events = server.events();
    assert_eq!(
        types(&events),
        ["session_start", "tool_invocation", "session_end"]
    );
    assert_eq!(events[1].action.as_deref(), Some("block"));
}

#[test]
#[ignore = "the program run by a_call_outside_any_session_goes_to_a_client_made_without_init"]
fn program_with_own_client() {
    let var = |name| std::env::var(name).expect("set by the parent test");
    let config = capsule::Config::builder()
        .url(var("OWN_CLIENT_URL"))
        .token(var("OWN_CLIENT_TOKEN"))
        .build()
        .expect("valid");
    let client = capsule::Client::new(config).expect("the client starts");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");

    let outcome = runtime.block_on(query("SELECT * FROM users".to_owned()));

    assert!(outcome.is_err(), "the sample policy blocks it");
    assert!(client.shutdown_blocking(std::time::Duration::from_secs(10)));
}
