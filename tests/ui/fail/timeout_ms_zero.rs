#[capsule::tool(timeout_ms = 0)]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    Ok(order_id)
}

fn main() {}
