//! What `#[capsule::tool]` reports as `tool.output`, how a block comes back to the caller
//! for each kind of return type, and that a blocked body never runs; checked on the
//! events a real `capsule-dev` endpoint received.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use capsule::Blocked;
use capsule_dev::{Recorded, RunningServer};
use common::{FLUSH, client_for, events_of, guarded_call, server, types};
use serde_json::json;
use tokio::sync::Notify;

/// The sample policy of `capsule-dev` blocks a `query` that reads the users table.
const BLOCKED_QUERY: &str = "SELECT * FROM users";
const BLOCK_REASON: &str = "Policy violation: query accesses sensitive table";

#[capsule::tool]
async fn early_return(query: &str) -> anyhow::Result<String> {
    if query.is_empty() {
        return Ok("nothing to run".to_owned());
    }
    Ok(format!("ran {query}"))
}

#[capsule::tool]
async fn parse_count(query: &str) -> anyhow::Result<u32> {
    let count: u32 = query.parse()?;
    Ok(count * 2)
}

#[capsule::tool]
async fn crashing(query: String) -> anyhow::Result<String> {
    assert!(query.is_empty(), "the tool crashed on {query}");
    Ok(query)
}

/// Says when its body has started, then never returns.
#[capsule::tool(skip(started))]
async fn endless(query: String, started: Arc<Notify>) -> anyhow::Result<String> {
    started.notify_one();
    std::future::pending::<()>().await;
    Ok(query)
}

/// Not `Serialize`: returned only by a tool that leaves its output out.
#[derive(Debug, PartialEq)]
struct Handle(u32);

#[capsule::tool(skip_output)]
async fn open_handle(query: &str) -> anyhow::Result<Handle> {
    Ok(Handle(u32::try_from(query.len())?))
}

#[capsule::tool(on_block = |blocked| format!("I may not run that: {}", blocked.reason()))]
async fn text_tool(query: &str, ran: &AtomicUsize) -> String {
    ran.fetch_add(1, Ordering::SeqCst);
    format!("{query}: 42 rows")
}

/// A named `on_block` handler. It takes the block by value, as `on_block` hands it over.
#[allow(clippy::needless_pass_by_value)]
fn refusal(blocked: Blocked) -> serde_json::Value {
    json!({"refused": blocked.reason()})
}

#[capsule::tool(on_block = refusal)]
async fn value_tool(query: &str) -> serde_json::Value {
    json!({"rows": 42, "query": query})
}

#[capsule::tool(on_block = |blocked| Ok(format!("refused: {}", blocked.reason())))]
async fn soft_block(query: &str) -> anyhow::Result<String> {
    Ok(format!("ran {query}"))
}

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error(transparent)]
    Blocked(#[from] Blocked),
    #[error("the query is empty")]
    Empty,
}

#[capsule::tool]
async fn typed_error(query: &str) -> Result<usize, ToolError> {
    if query.is_empty() {
        return Err(ToolError::Empty);
    }
    Ok(query.len())
}

#[capsule::tool]
async fn io_tool(query: &str) -> std::io::Result<usize> {
    Ok(query.len())
}

#[tokio::test]
async fn an_early_return_is_reported_as_the_output() {
    let server = server();

    let (output, events) = guarded_call(&server, early_return("")).await;

    assert_eq!(output.expect("allowed"), "nothing to run");
    assert_eq!(types(&events), ["tool_invocation", "tool_result"]);
    assert_eq!(events[1].body["tool"]["output"], json!("nothing to run"));
}

#[tokio::test]
async fn an_error_from_question_mark_is_reported_as_its_text() {
    let server = server();

    let (output, events) = guarded_call(&server, parse_count("many")).await;

    let error = output.expect_err("`many` is not a number");
    assert_eq!(types(&events), ["tool_invocation", "tool_result"]);
    assert_eq!(events[1].body["tool"]["output"], json!(error.to_string()));
}

#[tokio::test]
async fn skip_output_reports_null_and_keeps_the_value() {
    let server = server();

    let (output, events) = guarded_call(&server, open_handle("abc")).await;

    assert_eq!(output.expect("allowed"), Handle(3));
    assert_eq!(types(&events), ["tool_invocation", "tool_result"]);
    assert_eq!(events[1].body["tool"]["input"], json!({"query": "abc"}));
    assert_eq!(events[1].body["tool"]["output"], json!(null));
}

#[tokio::test]
async fn a_text_tool_turns_a_block_into_text_and_its_body_never_runs() {
    let server = server();
    let ran = AtomicUsize::new(0);

    let (blocked, blocked_events) = guarded_call(&server, text_tool(BLOCKED_QUERY, &ran)).await;
    assert_eq!(blocked, format!("I may not run that: {BLOCK_REASON}"));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "the blocked body ran");
    assert_eq!(types(&blocked_events), ["tool_invocation"]);
    assert_eq!(blocked_events[0].action.as_deref(), Some("block"));

    let (allowed, allowed_events) = guarded_call(&server, text_tool("SELECT 1", &ran)).await;
    assert_eq!(allowed, "SELECT 1: 42 rows");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(
        allowed_events[1].body["tool"]["output"],
        json!("SELECT 1: 42 rows")
    );
}

#[tokio::test]
async fn on_block_takes_a_named_function() {
    let server = server();

    let (blocked, _) = guarded_call(&server, value_tool(BLOCKED_QUERY)).await;
    let (allowed, events) = guarded_call(&server, value_tool("SELECT 1")).await;

    assert_eq!(blocked, json!({"refused": BLOCK_REASON}));
    assert_eq!(events[1].body["tool"]["output"], allowed);
}

#[tokio::test]
async fn on_block_may_turn_a_block_into_success_of_a_result_tool() {
    let server = server();

    let (output, events) = guarded_call(&server, soft_block(BLOCKED_QUERY)).await;

    assert_eq!(
        output.expect("on_block made it Ok"),
        format!("refused: {BLOCK_REASON}")
    );
    assert_eq!(types(&events), ["tool_invocation"]);
}

#[tokio::test]
async fn a_block_arrives_through_each_kind_of_error_type() {
    let server = server();

    let (typed, _) = guarded_call(&server, typed_error(BLOCKED_QUERY)).await;
    let Err(ToolError::Blocked(blocked)) = typed else {
        panic!("expected the block, got {typed:?}");
    };
    assert_eq!(blocked.reason(), BLOCK_REASON);

    let (io, _) = guarded_call(&server, io_tool(BLOCKED_QUERY)).await;
    let error = io.expect_err("blocked");
    assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
    let inner = error.get_ref().and_then(|e| e.downcast_ref::<Blocked>());
    assert_eq!(inner.map(Blocked::reason), Some(BLOCK_REASON));

    let (empty, events) = guarded_call(&server, typed_error("")).await;
    assert!(matches!(empty, Err(ToolError::Empty)));
    assert_eq!(
        events[1].body["tool"]["output"],
        json!("the query is empty")
    );
}

/// Runs `call` as its own task in a new session, and returns how the task ended with the
/// events the endpoint recorded for the session.
async fn spawned_call<F>(
    server: &RunningServer,
    call: F,
) -> (Result<F::Output, tokio::task::JoinError>, Vec<Recorded>)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    let client = client_for(server);
    let session = client.session("user@example.com");
    let ended = tokio::spawn(session.scope(call)).await;
    assert!(client.flush(FLUSH).await, "telemetry was not delivered");
    (ended, events_of(server, session.id()))
}

#[tokio::test]
async fn a_tool_that_panics_still_reports_its_end() {
    let server = server();

    let (ended, events) = spawned_call(&server, crashing("boom".to_owned())).await;

    assert!(ended.expect_err("the tool panicked").is_panic());
    assert_eq!(
        types(&events),
        ["session_start", "tool_invocation", "tool_result"]
    );
    assert_eq!(events[2].body["tool"]["input"], json!({"query": "boom"}));
    assert_eq!(
        events[2].body["tool"]["output"],
        json!("<the tool panicked before it returned>")
    );
}

#[tokio::test]
async fn a_call_dropped_while_its_tool_runs_still_reports_its_end() {
    let server = server();
    // The caller gives up on the call as soon as the tool's body is running.
    let call = async {
        let started = Arc::new(Notify::new());
        tokio::select! {
            _ = endless("slow".to_owned(), Arc::clone(&started)) => false,
            () = started.notified() => true,
        }
    };

    let (ended, events) = spawned_call(&server, call).await;

    assert!(ended.expect("the task ends"), "the caller dropped the call");
    assert_eq!(
        types(&events),
        ["session_start", "tool_invocation", "tool_result"]
    );
    assert_eq!(
        events[2].body["tool"]["output"],
        json!("<the call was cancelled before the tool returned>")
    );
}
