//! The server's log, at the default level: one line per refused request saying why, and
//! values from requests that cannot break a line.

use crate::common;

use std::time::Duration;

use capsule_dev::TokenKeys;
use common::{Binary, sample};
use serde_json::json;

/// The line of `log` about `request` answered `status`, which must exist.
fn line_about<'a>(log: &'a str, request: &str, status: u16) -> &'a str {
    let wanted = format!("{request} -> {status}");
    log.lines()
        .find(|line| line.contains(&wanted))
        .unwrap_or_else(|| panic!("no line about {wanted} in:\n{log}"))
}

#[tokio::test]
async fn each_refused_request_is_logged_with_its_status_and_reason_but_no_token() {
    let binary = Binary::start(&[
        "--bind",
        "127.0.0.1:0",
        "--no-audit",
        "--max-body-bytes",
        "2000",
    ]);
    let send = async |token: &str, body: &serde_json::Value| {
        let response = common::client()
            .post(binary.events_url())
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    };

    let foreign = TokenKeys::generate().mint("dev", Duration::from_secs(60));
    assert_eq!(send(&foreign, &sample("session_start")).await, 401);
    assert_eq!(
        send("garbage-token-text", &sample("session_start")).await,
        401
    );
    let mut untyped = sample("session_start");
    untyped["session_id"] = json!(7);
    assert_eq!(send(&binary.token, &untyped).await, 400);
    let mut large = sample("session_start");
    large["padding"] = json!("x".repeat(3000));
    assert_eq!(send(&binary.token, &large).await, 413);
    let missing = common::client()
        .get(format!("{}/nowhere", binary.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let (_, log) = binary.interrupt();
    let events = "POST /v1/generic-webhook/hooks/events";
    let unauthorized: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&format!("{events} -> 401")))
        .collect();
    assert_eq!(unauthorized.len(), 2, "{log}");
    assert!(unauthorized[0].contains("signature"), "{log}");
    assert!(unauthorized[1].contains("malformed"), "{log}");
    assert!(line_about(&log, events, 400).contains("`session_id` must be a string"));
    assert!(line_about(&log, events, 413).contains("limit of 2000 bytes"));
    assert!(line_about(&log, "GET /nowhere", 404).contains("no such endpoint"));
    for line in log.lines().filter(|line| line.contains(" -> 4")) {
        assert!(line.contains("WARN"), "{line}");
    }
    assert!(!log.contains(&foreign), "a token is in the log:\n{log}");
    assert!(
        !log.contains("garbage-token-text"),
        "a token is in the log:\n{log}"
    );
}

#[tokio::test]
async fn a_control_character_in_an_id_is_accepted_and_escaped_in_the_log() {
    let binary = Binary::start(&["--bind", "127.0.0.1:0", "--no-audit"]);
    let mut body = sample("session_start");
    body["session_id"] = json!("sess-1\nFORGED line\u{1b}[2J");
    assert_eq!(binary.post(&body).await, 202);

    let (_, log) = binary.interrupt();
    assert!(
        !log.lines().any(|line| line.starts_with("FORGED")),
        "the id split a line:\n{log}"
    );
    assert!(
        log.contains(r"sess-1\nFORGED line\u{1b}[2J"),
        "the id is not shown escaped:\n{log}"
    );
}
