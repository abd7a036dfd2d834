//! What the integration tests share: a local endpoint and a client for it.

#![allow(dead_code)]

use std::time::Duration;

use capsule::{Client, Config, FailurePolicy};
use capsule_dev::{DevServer, Recorded, RunningServer};

/// How long a test waits for telemetry before it gives up; only a bound against hangs.
pub const FLUSH: Duration = Duration::from_secs(10);

/// A `capsule-dev` endpoint on an ephemeral loopback port, with its sample policy.
pub fn server() -> RunningServer {
    DevServer::builder()
        .start()
        .expect("the local endpoint starts on loopback")
}

/// A client that talks to `server`.
pub fn client_for(server: &RunningServer) -> Client {
    client_with(
        &server.url(),
        &server.token(),
        FailurePolicy::Open,
        Duration::from_secs(10),
    )
}

/// A client for any URL, with the given failure policy and decision deadline.
pub fn client_with(url: &str, token: &str, policy: FailurePolicy, deadline: Duration) -> Client {
    let config = Config::builder()
        .url(url)
        .token(token)
        .agent("support-agent", "Customer Support Agent")
        .failure_policy(policy)
        .blocking_timeout(deadline)
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .expect("the test configuration is valid");
    Client::new(config).expect("the client starts")
}

/// The events the server recorded for one session, in arrival order.
pub fn events_of(server: &RunningServer, session_id: &str) -> Vec<Recorded> {
    server
        .events()
        .into_iter()
        .filter(|event| event.session_id == session_id)
        .collect()
}

/// The event types, in order.
pub fn types(events: &[Recorded]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect()
}

/// Runs `call` in a new session against `server`, and returns its output with the
/// `tool_invocation` and `tool_result` events the endpoint recorded for that session.
pub async fn guarded_call<F: std::future::Future>(
    server: &RunningServer,
    call: F,
) -> (F::Output, Vec<Recorded>) {
    let client = client_for(server);
    let session = client.session("user@example.com");
    let output = session.scope(call).await;

    assert!(
        client.flush(FLUSH).await,
        "telemetry was not delivered in time"
    );
    let tool_events = events_of(server, session.id())
        .into_iter()
        .filter(|event| event.event_type.starts_with("tool_"))
        .collect();
    (output, tool_events)
}

/// Runs the ignored test `name` of this test binary again as a child process, alone, with
/// `env` set: a program that needs a process of its own (no other test's client or
/// session in it, and a real end when its `main` returns). Returns what it did.
pub fn run_program(name: &str, env: &[(&str, String)]) -> std::process::Output {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--ignored", "--quiet", "--nocapture"])
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()
        .expect("the program runs");
    assert!(
        output.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
