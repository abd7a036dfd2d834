//! `#[capsule::tool]` on the methods of `#[async_trait]` impls and of rmcp
//! `#[tool_router]` impls (with rmcp's `#[tool]` above or below it), and guarded tools
//! spawned on other threads; checked on the events a real `capsule-dev` endpoint received.

use crate::common;

use common::{client_for, guarded_call, server, types};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The sample policy of `capsule-dev` blocks a `query` that reads the users table.
const BLOCKED_QUERY: &str = "SELECT * FROM users";

#[async_trait::async_trait]
trait Lookup {
    async fn find(&self, query: String, page: (u32, u32), token: ()) -> anyhow::Result<String>;
}

struct Database;

#[async_trait::async_trait]
impl Lookup for Database {
    #[capsule::tool(name = "database_query")]
    async fn find(
        &self,
        mut query: String,
        (offset, limit): (u32, u32),
        _: (),
    ) -> anyhow::Result<String> {
        query.push(';');
        Ok(format!("{query} {offset}..{limit}"))
    }
}

#[derive(Deserialize, Serialize, schemars::JsonSchema)]
struct QueryArgs {
    query: String,
}

#[derive(Clone)]
struct Server {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Server {
    /// `#[capsule::tool]` above rmcp's `#[tool]`: it sees the `async fn` as written.
    #[capsule::tool(
        name = "database_query",
        on_block = |blocked| Ok(CallToolResult::error(vec![ContentBlock::text(
            blocked.to_string()
        )]))
    )]
    #[tool(description = "Runs a read-only query")]
    async fn run_query(
        &self,
        Parameters(QueryArgs { query }): Parameters<QueryArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "42 rows for {query}"
        ))]))
    }

    /// `#[capsule::tool]` below rmcp's `#[tool]`: it sees rmcp's pinned future.
    #[tool(description = "Counts the rows of a query")]
    #[capsule::tool(
        name = "database_query",
        input = args,
        on_block = |blocked| blocked.to_string()
    )]
    async fn count_rows(&self, args: Parameters<QueryArgs>) -> String {
        format!("42 rows for {}", args.0.query)
    }
}

fn query(text: &str) -> Parameters<QueryArgs> {
    Parameters(QueryArgs {
        query: text.to_owned(),
    })
}

#[tokio::test]
async fn an_async_trait_method_is_guarded_with_its_bindings_sent() {
    let server = server();

    let (output, events) =
        guarded_call(&server, Database.find("SELECT 1".to_owned(), (0, 10), ())).await;
    assert_eq!(output.expect("allowed"), "SELECT 1; 0..10");
    assert_eq!(types(&events), ["tool_invocation", "tool_result"]);
    assert_eq!(
        events[0].body["tool"]["input"],
        json!({"query": "SELECT 1", "offset": 0, "limit": 10})
    );
    assert_eq!(events[1].body["tool"]["output"], json!("SELECT 1; 0..10"));

    let (blocked, events) = guarded_call(
        &server,
        Database.find(BLOCKED_QUERY.to_owned(), (0, 10), ()),
    )
    .await;
    let error = blocked.expect_err("the policy blocks the users table");
    assert!(error.downcast_ref::<capsule::Blocked>().is_some());
    assert_eq!(types(&events), ["tool_invocation"]);
}

#[tokio::test]
async fn rmcp_tools_are_guarded_in_either_attribute_order() {
    let server = server();
    let tools = Server {
        tool_router: Server::tool_router(),
    };

    let (allowed, events) = guarded_call(&server, tools.run_query(query("SELECT 1"))).await;
    let allowed = allowed.expect("allowed");
    assert_eq!(allowed.is_error, Some(false));
    assert_eq!(
        events[0].body["tool"]["input"],
        json!({"query": "SELECT 1"})
    );
    assert_eq!(
        events[1].body["tool"]["output"],
        serde_json::to_value(&allowed).expect("a CallToolResult is JSON")
    );

    let (refused, events) = guarded_call(&server, tools.run_query(query(BLOCKED_QUERY))).await;
    assert_eq!(refused.expect("on_block answers Ok").is_error, Some(true));
    assert_eq!(types(&events), ["tool_invocation"]);

    let (counted, events) = guarded_call(&server, tools.count_rows(query("SELECT 2"))).await;
    assert_eq!(counted, "42 rows for SELECT 2");
    assert_eq!(
        events[0].body["tool"]["input"],
        json!({"query": "SELECT 2"})
    );

    let (refused, _) = guarded_call(&server, tools.count_rows(query(BLOCKED_QUERY))).await;
    assert!(refused.contains("blocked by Capsule"), "{refused}");
}

#[test]
fn rmcp_still_routes_both_tools() {
    let tools = Server {
        tool_router: Server::tool_router(),
    };

    let mut names: Vec<String> = tools
        .tool_router
        .list_all()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect();
    names.sort();

    assert_eq!(names, ["count_rows", "run_query"]);
}

#[capsule::tool]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    tokio::task::yield_now().await;
    Ok(format!("order {order_id} has shipped"))
}

#[tokio::test]
async fn a_guarded_tool_can_be_spawned_on_another_thread() {
    let server = server();
    let client = client_for(&server);
    let session = client.session("user@example.com");

    let task = tokio::spawn(session.scope(order_lookup("12345".to_owned())));
    let output = task.await.expect("the task ran to completion");

    assert_eq!(output.expect("allowed"), "order 12345 has shipped");
}
