//! The binary: `--help` documents every option, and Ctrl-C stops it cleanly.

use crate::common;

use common::{Binary, sample};

#[test]
fn help_documents_every_option_and_command() {
    let output = common::run(["--help"], common::NO_PATHS);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--bind",
        "--policy",
        "--secret",
        "--tenant",
        "--audit",
        "--no-audit",
        "--timeout",
        "--max-body-bytes",
        "--latency",
        "--fault-status",
        "--fault-status-share",
        "--close-share",
        "--fault-event-type",
        "--faults-json",
        "serve",
        "token",
        "timeline",
        "sample-policy",
        "127.0.0.1:8787",
    ] {
        assert!(help.contains(option), "--help does not mention {option}");
    }
}

#[tokio::test]
async fn ctrl_c_stops_the_binary_cleanly_with_the_audit_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let binary = Binary::start(&["--bind", "127.0.0.1:0", "--audit", path.to_str().unwrap()]);
    assert!(binary.url.starts_with("http://127.0.0.1:"));
    assert_eq!(binary.post(&sample("session_start")).await, 202);

    let (status, rest) = binary.interrupt();
    assert!(status.success(), "exit {status:?}");
    assert!(rest.contains("stopped"), "{rest}");
    assert_eq!(capsule_dev::read_audit_log(&path).unwrap().len(), 1);
}

#[tokio::test]
async fn faults_json_sets_per_event_type_knobs_at_start() {
    let binary = Binary::start(&[
        "--bind",
        "127.0.0.1:0",
        "--no-audit",
        "--faults-json",
        r#"{"by_event_type": {"user_message": {"status": 500, "status_share": 1.0}}}"#,
    ]);
    assert_eq!(binary.post(&sample("user_message")).await, 500);
    assert_eq!(binary.post(&sample("tool_invocation")).await, 200);
}

#[tokio::test]
async fn faults_json_with_a_status_and_no_share_answers_every_request() {
    let binary = Binary::start(&[
        "--bind",
        "127.0.0.1:0",
        "--no-audit",
        "--faults-json",
        r#"{"all": {"status": 503}}"#,
    ]);
    assert_eq!(binary.post(&sample("session_start")).await, 503);
    assert_eq!(binary.post(&sample("tool_invocation")).await, 503);
}

#[test]
fn bad_fault_options_are_refused_with_the_knob_named() {
    let output = common::run(
        [
            "--bind",
            "127.0.0.1:0",
            "--no-audit",
            "--close-share",
            "1.5",
        ],
        common::NO_PATHS,
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("close_share"));
}
