//! Inspection: the agents seen, the sessions of an agent and the events of a session over
//! JSON, and a session's timeline in the terminal.

use crate::common;

use std::time::Duration;

use capsule_dev::{DevServer, RunningServer};
use common::{get_dev, get_dev_as, post, post_with_token, sample};
use serde_json::{Value, json};

fn of(event_type: &str, session: &str, agent: &str) -> Value {
    let mut body = sample(event_type);
    body["session_id"] = json!(session);
    body["agent"] = json!({"id": agent, "name": format!("{agent} agent")});
    body
}

#[tokio::test]
async fn agents_sessions_and_events_are_listed_in_order() {
    let server = DevServer::builder().start().unwrap();
    for body in [
        of("session_start", "s-1", "support"),
        of("tool_invocation", "s-1", "support"),
        of("session_start", "s-9", "billing"),
        of("session_start", "s-2", "support"),
        of("session_end", "s-1", "support"),
    ] {
        assert!(post(&server, &body).await.status().is_success());
    }

    let agents: Value = get_dev(&server, "/_dev/agents").await.json().await.unwrap();
    let ids: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["support", "billing"], "in the order first seen");
    assert_eq!(agents[0]["name"], "support agent");
    assert_eq!(agents[0]["sessions"], 2);
    assert_eq!(agents[0]["events"], 4);
    let seen = |key: &str| {
        let text = agents[0][key].as_str().unwrap();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    assert!(seen("first_seen") < seen("last_seen"));

    let sessions: Value = get_dev(&server, "/_dev/agents/support/sessions")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s-1", "s-2"]);
    assert_eq!(sessions[0]["events"], 3);
    assert_eq!(sessions[0]["blocked"], 1);

    let events: Value = get_dev(&server, "/_dev/sessions/s-1/events")
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["session_start", "tool_invocation", "session_end"]);
    assert_eq!(events[1]["rule"], "sensitive-table");
    assert_eq!(events[1]["body"]["tool"]["name"], "database_query");
}

#[tokio::test]
async fn unknown_agents_and_sessions_are_404_and_the_views_need_the_token() {
    let server = DevServer::builder().start().unwrap();
    assert_eq!(
        get_dev(&server, "/_dev/agents/nobody/sessions")
            .await
            .status(),
        404
    );
    assert_eq!(
        get_dev(&server, "/_dev/sessions/nothing/events")
            .await
            .status(),
        404
    );
    let agents: Value = get_dev(&server, "/_dev/agents").await.json().await.unwrap();
    assert_eq!(agents, json!([]));

    let anonymous = common::client()
        .get(format!("{}/_dev/agents", server.url()))
        .send()
        .await;
    assert_eq!(anonymous.unwrap().status(), 401);
}

/// The event types of a JSON list of recorded events, with their tenants.
fn kinds_and_tenants(events: &Value) -> Vec<(String, String)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event_type"].to_string(), e["tenant"].to_string()))
        .collect()
}

async fn json_as(server: &RunningServer, token: &str, path: &str) -> (u16, Value) {
    let response = get_dev_as(server, token, path).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_agents_sessions_and_events() {
    let server = DevServer::builder().start().unwrap();
    let acme = server.mint_token("acme", Duration::from_secs(600));
    let other = server.mint_token("tenant-b", Duration::from_secs(600));
    for body in [
        of("session_start", "s-1", "support"),
        of("tool_invocation", "s-1", "support"),
    ] {
        let response = post_with_token(&server, Some(&acme), &body).await;
        assert!(response.status().is_success());
    }

    assert_eq!(
        json_as(&server, &other, "/_dev/agents").await,
        (200, json!([]))
    );
    for path in ["/_dev/agents/support/sessions", "/_dev/sessions/s-1/events"] {
        let (status, error) = json_as(&server, &other, path).await;
        assert_eq!(status, 404, "{path}: {error}");
        assert!(
            error["error"].as_str().unwrap().contains("tenant-b"),
            "{error}"
        );
    }
    let path = "/_dev/agents/support/sessions/s-1/events";
    assert_eq!(json_as(&server, &other, path).await.0, 404);

    // The same agent and session ids under another tenant make another session.
    let body = of("session_end", "s-1", "support");
    let response = post_with_token(&server, Some(&other), &body).await;
    assert_eq!(response.status(), 202);
    let (_, acme_events) = json_as(&server, &acme, "/_dev/sessions/s-1/events").await;
    let (_, other_events) = json_as(&server, &other, "/_dev/sessions/s-1/events").await;
    let pair = |kind: &str, tenant: &str| (format!("{kind:?}"), format!("{tenant:?}"));
    assert_eq!(
        kinds_and_tenants(&acme_events),
        [
            pair("session_start", "acme"),
            pair("tool_invocation", "acme")
        ]
    );
    assert_eq!(
        kinds_and_tenants(&other_events),
        [pair("session_end", "tenant-b")]
    );
    let (_, agents) = json_as(&server, &other, "/_dev/agents").await;
    assert_eq!(agents[0]["events"], 1, "{agents}");
    let (_, sessions) = json_as(&server, &acme, "/_dev/agents/support/sessions").await;
    assert_eq!(sessions[0]["events"], 2, "{sessions}");
}

#[tokio::test]
async fn two_agents_with_one_session_id_are_kept_apart() {
    let server = DevServer::builder().start().unwrap();
    for body in [
        of("session_start", "s-1", "support"),
        of("session_start", "s-1", "billing"),
        of("session_end", "s-1", "billing"),
    ] {
        assert_eq!(post(&server, &body).await.status(), 202);
    }

    let response = get_dev(&server, "/_dev/sessions/s-1/events").await;
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.unwrap();
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("billing") && text.contains("support") && text.contains("/_dev/agents/"),
        "{text}"
    );

    for (agent, count) in [("support", 1), ("billing", 2)] {
        let path = format!("/_dev/agents/{agent}/sessions/s-1/events");
        let events: Value = get_dev(&server, &path).await.json().await.unwrap();
        let events = events.as_array().unwrap();
        assert_eq!(events.len(), count, "{path}");
        assert!(events.iter().all(|e| e["agent_id"] == agent), "{path}");
    }
}

#[tokio::test]
async fn clear_events_empties_the_views() {
    let server = DevServer::builder().start().unwrap();
    assert_eq!(post(&server, &sample("session_start")).await.status(), 202);
    server.clear_events();
    assert!(server.events().is_empty());
    let agents: Value = get_dev(&server, "/_dev/agents").await.json().await.unwrap();
    assert_eq!(agents, json!([]));
}

#[tokio::test]
async fn the_timeline_subcommand_prints_a_session_from_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let server = DevServer::builder().audit_file(&path).start().unwrap();
    for kind in [
        "session_start",
        "user_message",
        "tool_invocation",
        "tool_result",
        "session_end",
    ] {
        assert!(
            post(&server, &of(kind, "sess-t", "support"))
                .await
                .status()
                .is_success()
        );
    }
    assert!(
        post(&server, &of("session_start", "sess-other", "support"))
            .await
            .status()
            .is_success()
    );
    drop(server);

    let output = common::run(["timeline", "sess-t", "--audit"], [&path]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].contains("session_start"));
    assert!(
        lines[1].contains("user_message") && lines[1].contains("ALLOW"),
        "{text}"
    );
    assert!(
        lines[2].contains("database_query") && lines[2].contains("BLOCK"),
        "{text}"
    );
    assert!(lines[2].contains("[sensitive-table]"), "{text}");
    assert!(
        lines[3].contains("tool_result") && lines[3].contains(r#"{"row_count":42}"#),
        "a result shows the tool's output: {text}"
    );
    assert!(!lines[3].contains("SELECT"), "not its input: {text}");
    assert!(lines[4].contains("session_end"));

    // Without a session id, the sessions are listed.
    let output = common::run(["timeline", "--audit"], [&path]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("sess-t") && text.contains("sess-other"),
        "{text}"
    );

    // An unknown session says how to find one.
    let output = common::run(["timeline", "nope", "--audit"], [&path]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("list"));
}

#[tokio::test]
async fn the_timeline_subcommand_keeps_tenants_and_agents_of_one_session_id_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let server = DevServer::builder().audit_file(&path).start().unwrap();
    let acme = server.mint_token("acme", Duration::from_secs(600));
    let other = server.mint_token("tenant-b", Duration::from_secs(600));
    for (token, kind) in [(&acme, "session_start"), (&other, "session_end")] {
        let response = post_with_token(&server, Some(token), &of(kind, "s-1", "support")).await;
        assert_eq!(response.status(), 202);
    }
    drop(server);

    let output = common::run(["timeline", "s-1", "--audit"], [&path]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"tenant "acme""#) && stderr.contains("--tenant"),
        "{stderr}"
    );

    let output = common::run(
        ["timeline", "s-1", "--tenant", "tenant-b", "--audit"],
        [&path],
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("session_end"), "{text}");

    let output = common::run(["timeline", "--audit"], [&path]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("tenant acme") && text.contains("tenant tenant-b"),
        "{text}"
    );
}
