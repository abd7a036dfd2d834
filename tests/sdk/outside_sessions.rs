//! A guarded call made outside any session belongs to the global client's own session,
//! which begins with `session_start` on first use and ends with `session_end` when the
//! guard from `init` is dropped.
//!
//! The program is this test binary run again as a child process, with only the ignored
//! `program` test selected: no other test's session may be alive while it calls the
//! tool, and the process must really end when the guard is dropped.

use std::process::{Command, Stdio};

use capsule_dev::DevServer;

#[capsule::tool]
async fn order_lookup(order_id: u64) -> anyhow::Result<String> {
    Ok(format!("order {order_id} shipped"))
}

#[test]
fn a_call_outside_any_session_is_framed_by_session_start_and_end() {
    let server = DevServer::builder().start().expect("the endpoint starts");

    let status = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "outside_sessions::program",
            "--exact",
            "--ignored",
            "--quiet",
        ])
        .env("CAPSULE_URL", server.url())
        .env("CAPSULE_TOKEN", server.token())
        .env("CAPSULE_USER_EMAIL", "ops@example.com")
        .stdout(Stdio::null())
        .status()
        .expect("the program runs");

    assert!(status.success());
    let events = server.events();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
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
