//! Guarded tools of every supported shape, in a crate that denies warnings, clippy's
//! `all` and `pedantic` groups and missing docs. `tests/lints.rs` runs clippy on it:
//! any lint that the generated code trips fails that test.

#![deny(warnings)]
#![deny(clippy::all, clippy::pedantic)]
#![deny(missing_docs)]

use std::fmt::Display;
use std::sync::Arc;

use capsule::Blocked;
use serde::Serialize;
use serde_json::{Value, json};

/// An order as the model sends it.
#[derive(Serialize)]
pub struct Order {
    /// The stock-keeping unit.
    pub sku: String,
    /// How many.
    pub qty: u32,
}

/// A handle that is not `Serialize`.
pub struct Pool;

/// The errors of these tools.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Capsule blocked the call.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// Nothing matched.
    #[error("not found")]
    NotFound,
}

/// Looks up an order.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool]
pub async fn order_lookup(order_id: String) -> anyhow::Result<Value> {
    Ok(json!({ "order_id": order_id, "status": "shipped" }))
}

/// Refunds an order, with a deadline and failure policy of its own, in monitor mode.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool(timeout_ms = 500, fail_closed, monitor)]
pub async fn refund(order_id: String, cents: u64) -> anyhow::Result<Value> {
    Ok(json!({ "order_id": order_id, "refunded": cents }))
}

/// Runs a query, with a pool that is not sent.
///
/// # Errors
/// Fails when Capsule blocks the call or the query is empty.
#[capsule::tool(name = "database_query", skip(pool))]
pub async fn run_query(pool: &Pool, query: &str) -> Result<usize, ToolError> {
    let Pool = pool;
    if query.is_empty() {
        return Err(ToolError::NotFound);
    }
    Ok(query.len())
}

/// Places an order, sent as the whole input.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool(input = order)]
pub async fn place(
    order: Order,
    pool: &Pool,
) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    let Pool = pool;
    Ok(order.qty)
}

/// Destructures its parameters.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool]
pub async fn destructured(
    Order { sku, qty }: Order,
    (x, y): (i32, i32),
    _: Pool,
) -> std::io::Result<String> {
    Ok(format!("{qty} x {sku} at {x},{y}"))
}

/// Reassigns a `mut` argument to a local borrow, and returns early.
///
/// # Errors
/// Fails when Capsule blocks the call or `text` is not a number.
#[capsule::tool]
pub async fn reassigned(mut text: &str, mut tries: u32) -> anyhow::Result<u32> {
    let trimmed = text.trim().to_owned();
    text = &trimmed;
    tries += 1;
    if text.is_empty() {
        return Ok(tries);
    }
    Ok(text.parse::<u32>()? + tries)
}

/// Recurses through `Box::pin`.
///
/// # Errors
/// Fails when Capsule blocks one of the calls.
#[capsule::tool]
pub async fn depth(levels: u32) -> anyhow::Result<u32> {
    if levels == 0 {
        return Ok(0);
    }
    Ok(Box::pin(depth(levels - 1)).await? + 1)
}

/// Generic over its argument, with a `where` clause and an `impl Trait` output.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool]
pub async fn generic<T, const N: usize>(
    label: T,
    items: impl IntoIterator<Item = u8> + Serialize,
) -> anyhow::Result<impl Serialize>
where
    T: Serialize + Display + Send,
{
    Ok(format!("{label}: {} of {N}", items.into_iter().count()))
}

/// Sends nothing and reports nothing.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool(skip_all, skip_output)]
pub async fn quiet(pool: Pool) -> anyhow::Result<Pool> {
    Ok(pool)
}

/// Answers the model in text, and is guarded all the same.
#[capsule::tool(on_block = |blocked| format!("refused: {}", blocked.reason()))]
pub async fn text(query: String) -> String {
    format!("ran {query}")
}

/// Turns a block into a value through a named function.
#[must_use]
pub fn refusal(blocked: &Blocked) -> Value {
    json!({ "refused": blocked.reason() })
}

/// Answers with JSON, blocked through a closure over a named function.
#[capsule::tool(on_block = |blocked| refusal(&blocked))]
pub async fn value(query: String) -> Value {
    json!({ "ran": query })
}

/// Returns nothing, and is guarded all the same.
#[capsule::tool(on_block = |_| ())]
pub async fn fire(query: String) {
    drop(query);
}

/// An inner attribute stays at the top of the body.
///
/// # Errors
/// Fails when Capsule blocks the call.
#[capsule::tool]
pub async fn inner_attribute(id: u32) -> anyhow::Result<u32> {
    #![allow(clippy::let_and_return)]
    let doubled = id * 2;
    Ok(doubled)
}

/// A shop whose methods are tools.
pub struct Shop {
    stock: u32,
}

impl Shop {
    /// Reads the stock.
    ///
    /// # Errors
    /// Fails when Capsule blocks the call.
    #[capsule::tool]
    pub async fn stock(&self, sku: &str) -> anyhow::Result<String> {
        Ok(format!("{} of {sku}", self.stock))
    }

    /// Takes from the stock.
    ///
    /// # Errors
    /// Fails when Capsule blocks the call.
    #[capsule::tool]
    pub async fn take(&mut self, count: u32) -> anyhow::Result<u32> {
        self.stock = self.stock.saturating_sub(count);
        Ok(self.stock)
    }

    /// Reads the stock of a shared shop.
    ///
    /// # Errors
    /// Fails when Capsule blocks the call.
    #[capsule::tool]
    pub async fn shared(self: Arc<Self>, factor: u32) -> anyhow::Result<u32> {
        Ok(self.stock * factor)
    }

    /// Consumes a boxed shop.
    ///
    /// # Errors
    /// Fails when Capsule blocks the call.
    #[capsule::tool]
    pub async fn close_boxed(mut self: Box<Self>, reason: String) -> anyhow::Result<String> {
        self.stock = 1;
        Ok(format!("{reason}: {}", self.stock))
    }

    /// Consumes the shop.
    ///
    /// # Errors
    /// Fails when Capsule blocks the call.
    #[capsule::tool]
    pub async fn close(mut self, reason: String) -> anyhow::Result<String> {
        self.stock = 0;
        Ok(format!("{reason}: {}", self.stock))
    }
}

/// Looks things up, through `#[async_trait]`.
#[async_trait::async_trait]
pub trait Lookup {
    /// Finds a record.
    ///
    /// # Errors
    /// Fails when Capsule blocks the call.
    async fn find(&self, query: String, page: (u32, u32)) -> anyhow::Result<String>;
}

#[async_trait::async_trait]
impl Lookup for Shop {
    #[capsule::tool]
    async fn find(&self, mut query: String, (offset, limit): (u32, u32)) -> anyhow::Result<String> {
        query.push(';');
        Ok(format!("{query} {offset}..{limit} of {}", self.stock))
    }
}
