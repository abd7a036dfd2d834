//! Guarded tools in a crate that depends on the SDK under another name, with a module
//! of its own named `capsule`: `crate = "agent_sdk"` points the expansion at the SDK.

#![deny(warnings)]
#![deny(clippy::all, clippy::pedantic)]
#![deny(missing_docs)]

/// Not the SDK: a module that happens to share its usual name.
pub mod capsule {
    /// Not the SDK's `Blocked`.
    pub struct Blocked;
}

/// Looks up an order.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[agent_sdk::tool(crate = "agent_sdk")]
pub async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    Ok(format!("order {order_id} has shipped"))
}

/// Counts rows, answering the model in text.
#[agent_sdk::tool(crate = agent_sdk, on_block = |blocked| blocked.to_string())]
pub async fn count_rows(query: &str) -> String {
    format!("42 rows for {query}")
}
