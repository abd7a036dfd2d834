//! The audit log: every accepted event with its decision, rule, received time and
//! correlation id, in a JSONL file that survives a restart and an unclean stop.

use crate::common;

use std::io::Write;

use capsule_dev::{DevServer, read_audit_log};
use common::{Binary, post, sample};
use serde_json::Value;

async fn post_correlated(server: &capsule_dev::RunningServer, body: &Value, id: &str) -> u16 {
    let response = common::client()
        .post(server.events_url())
        .bearer_auth(server.token())
        .header("x-correlation-id", id)
        .json(body)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn each_accepted_event_is_a_line_with_its_decision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let server = DevServer::builder().audit_file(&path).start().unwrap();
    assert_eq!(
        post_correlated(&server, &sample("session_start"), "c-1").await,
        202
    );
    assert_eq!(
        post_correlated(&server, &sample("tool_invocation"), "c-2").await,
        200
    );
    let mut bad = sample("tool_invocation");
    bad["tool"]["name"] = Value::Null;
    assert_eq!(post_correlated(&server, &bad, "c-3").await, 400);

    // Written before the answer: no need to stop the server to see it.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the rejected event is not audited");
    assert_eq!(lines[0]["event_type"], "session_start");
    assert_eq!(lines[0]["correlation_id"], "c-1");
    assert_eq!(lines[0]["action"], Value::Null);
    assert_eq!(lines[1]["action"], "block");
    assert_eq!(lines[1]["rule"], "sensitive-table");
    assert_eq!(
        lines[1]["reason"],
        "Policy violation: query accesses sensitive table"
    );
    assert_eq!(lines[1]["correlation_id"], "c-2");
    assert_eq!(lines[1]["body"], sample("tool_invocation"));
    let received = lines[1]["received_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(received, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
}

#[tokio::test]
async fn the_log_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let first = DevServer::builder().audit_file(&path).start().unwrap();
    assert_eq!(post(&first, &sample("session_start")).await.status(), 202);
    assert_eq!(post(&first, &sample("tool_invocation")).await.status(), 200);
    let before = first.events();
    first.shutdown();

    let second = DevServer::builder().audit_file(&path).start().unwrap();
    assert_eq!(
        second.events(),
        before,
        "the earlier run's events are read back"
    );
    assert_eq!(post(&second, &sample("session_end")).await.status(), 202);
    let agents: Value = common::get_dev(&second, "/_dev/agents")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(agents[0]["events"], 3);
    assert_eq!(read_audit_log(&path).unwrap().len(), 3);
}

#[tokio::test]
async fn a_torn_last_line_is_skipped_and_the_next_event_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    {
        let server = DevServer::builder().audit_file(&path).start().unwrap();
        assert_eq!(post(&server, &sample("session_start")).await.status(), 202);
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(br#"{"body":{"event_type":"tool_inv"#)
        .unwrap();
    drop(file);

    let server = DevServer::builder().audit_file(&path).start().unwrap();
    assert_eq!(server.events().len(), 1);
    assert_eq!(post(&server, &sample("session_end")).await.status(), 202);
    let kinds: Vec<String> = read_audit_log(&path)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(kinds, ["session_start", "session_end"]);
}

#[tokio::test]
async fn a_killed_binary_loses_no_answered_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let audit = path.to_str().unwrap();
    let binary = Binary::start(&["--bind", "127.0.0.1:0", "--audit", audit]);
    let kinds = [
        "session_start",
        "user_message",
        "tool_invocation",
        "tool_result",
        "session_end",
    ];
    for kind in kinds {
        assert!(
            [200, 202].contains(&binary.post(&sample(kind)).await),
            "{kind}"
        );
    }
    drop(binary); // SIGKILL: no shutdown code runs.

    let recorded: Vec<String> = read_audit_log(&path)
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(recorded, kinds);

    // A new run reads them back and serves them.
    let binary = Binary::start(&["--bind", "127.0.0.1:0", "--audit", audit]);
    let sessions = binary.get_dev("/_dev/agents/support-agent/sessions").await;
    assert_eq!(sessions[0]["events"], 5);
    assert_eq!(sessions[0]["blocked"], 1);
}
