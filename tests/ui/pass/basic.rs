//! Guarded tools build without a warning under strict lints.

#![deny(warnings)]
#![deny(clippy::all, clippy::pedantic)]

use std::sync::Arc;

/// A tool returning `anyhow::Result`.
#[capsule::tool]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    Ok(order_id)
}

/// A tool with a renamed name, a skipped argument and a boxed error.
#[capsule::tool(name = "database_query", skip(pool))]
async fn query(pool: Arc<()>, sql: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    drop(pool);
    Ok(sql.len())
}

struct Agent;

impl Agent {
    /// A method taking `&self`.
    #[capsule::tool]
    async fn ping(&self, times: u32) -> std::io::Result<u32> {
        Ok(times)
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let _ = order_lookup("1".to_owned()).await;
        let _ = query(Arc::new(()), "SELECT 1").await;
        let _ = Agent.ping(2).await;
    });
}
