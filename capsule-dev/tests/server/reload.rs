//! A watched policy file is reloaded when it changes; an invalid new version is refused and
//! the rules in force stay.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use capsule_dev::{DevServer, RunningServer};
use common::{Binary, decide, eventually, invocation};
use serde_json::json;

const BLOCK_FETCH: &str = r#"
[[rule]]
name = "no-fetch"
tool = "fetch"
action = "block"
reason = "fetch is off"
"#;

const BLOCK_SHELL: &str = r#"
[[rule]]
name = "no-shell"
tool = "shell"
action = "block"
reason = "shell is off"
"#;

async fn action_for(server: &RunningServer, tool: &str) -> String {
    let decision = decide(server, &invocation(tool, json!({}))).await;
    decision["response"]["action"].as_str().unwrap().to_owned()
}

/// Replaces the file the way many editors do: write a new file, rename it over the old.
fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("new");
    std::fs::write(&staged, text).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// A policy file holding `text`, in a folder that lives as long as the returned guard.
fn policy_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// The binary, serving the policy file at `path` on a free port, with no audit log.
fn start_binary(path: &Path) -> Binary {
    let path = path.to_str().unwrap();
    Binary::start(&["--bind", "127.0.0.1:0", "--no-audit", "--policy", path])
}

fn start(path: &Path) -> RunningServer {
    DevServer::builder()
        .policy_file(path)
        .reload_every(Duration::from_millis(20))
        .start()
        .unwrap()
}

#[tokio::test]
async fn a_changed_policy_file_replaces_the_rules() {
    let (_dir, path) = policy_file(BLOCK_FETCH);
    let server = start(&path);
    assert_eq!(action_for(&server, "fetch").await, "block");
    assert_eq!(action_for(&server, "shell").await, "allow");

    replace(&path, BLOCK_SHELL);
    eventually("the new rules", async || {
        server.policy_rule_names() == ["no-shell"]
    })
    .await;
    assert_eq!(action_for(&server, "fetch").await, "allow");
    assert_eq!(action_for(&server, "shell").await, "block");

    // Edited in place, too.
    std::fs::write(&path, format!("{BLOCK_FETCH}{BLOCK_SHELL}")).unwrap();
    eventually("both rules", async || server.policy_rule_names().len() == 2).await;
    assert_eq!(action_for(&server, "fetch").await, "block");
}

#[tokio::test]
async fn an_invalid_new_version_keeps_the_old_rules() {
    let (_dir, path) = policy_file(BLOCK_FETCH);
    let server = start(&path);

    replace(
        &path,
        "[[rule]]\nname = \"no-shell\"\naction = \"block\"\ntool = \"[\"\n",
    );
    eventually("the refusal", async || {
        server.policy_reload_error().is_some()
    })
    .await;
    let err = server.policy_reload_error().unwrap();
    assert_eq!(err.line, Some(4), "{err}");
    assert_eq!(err.path.as_deref(), Some(path.as_path()));
    assert_eq!(server.policy_rule_names(), ["no-fetch"]);
    assert_eq!(action_for(&server, "fetch").await, "block");

    // The refusal is visible over HTTP too.
    let policy: serde_json::Value = common::get_dev(&server, "/_dev/policy")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        policy["reload_error"].as_str().unwrap().contains(":4:"),
        "{policy}"
    );

    // Once fixed, the file is taken again and the refusal is cleared.
    replace(&path, BLOCK_SHELL);
    eventually("the fixed rules", async || {
        server.policy_rule_names() == ["no-shell"]
    })
    .await;
    assert!(server.policy_reload_error().is_none());
    assert_eq!(action_for(&server, "fetch").await, "allow");
}

#[tokio::test]
async fn a_deleted_policy_file_is_reported_and_keeps_the_rules_until_it_is_back() {
    let (_dir, path) = policy_file(BLOCK_FETCH);
    let server = start(&path);

    std::fs::remove_file(&path).unwrap();
    eventually("the read error", async || {
        server.policy_reload_error().is_some()
    })
    .await;
    let policy: serde_json::Value = common::get_dev(&server, "/_dev/policy")
        .await
        .json()
        .await
        .unwrap();
    let reported = policy["reload_error"].as_str().unwrap();
    assert!(reported.contains("cannot read the policy file"), "{policy}");
    assert_eq!(policy["rules"], json!(["no-fetch"]));
    assert_eq!(action_for(&server, "fetch").await, "block");

    // Back as it was, it is taken again and the error is cleared.
    std::fs::write(&path, BLOCK_FETCH).unwrap();
    eventually("the error cleared", async || {
        server.policy_reload_error().is_none()
    })
    .await;
    assert_eq!(server.policy_rule_names(), ["no-fetch"]);

    // Back with other rules, those are taken.
    std::fs::remove_file(&path).unwrap();
    eventually("the read error again", async || {
        server.policy_reload_error().is_some()
    })
    .await;
    std::fs::write(&path, BLOCK_SHELL).unwrap();
    eventually("the rules of the new file", async || {
        server.policy_rule_names() == ["no-shell"]
    })
    .await;
    assert!(server.policy_reload_error().is_none());
}

#[tokio::test]
async fn a_policy_emptied_at_run_time_is_taken_with_a_warning_that_all_is_allowed() {
    let (_dir, path) = policy_file(BLOCK_FETCH);
    let binary = start_binary(&path);

    std::fs::write(&path, "# no rules for now\n").unwrap();
    eventually("the empty policy", async || {
        binary.get_dev("/_dev/policy").await["rules"] == json!([])
    })
    .await;

    let (_, log) = binary.interrupt();
    let warning = log
        .lines()
        .find(|line| line.contains("every event is now allowed"))
        .unwrap_or_else(|| panic!("no warning about the empty policy in:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
}

#[test]
fn a_policy_without_rules_at_start_is_taken_with_a_warning_that_all_is_allowed() {
    let (_dir, path) = policy_file("# no rules yet\n");
    let binary = start_binary(&path);

    let warning = binary
        .startup
        .iter()
        .find(|line| line.contains("has no rules: every event is allowed"))
        .unwrap_or_else(|| panic!("no warning about the empty policy in {:?}", binary.startup));
    assert!(warning.contains("WARN"), "{warning}");
}
