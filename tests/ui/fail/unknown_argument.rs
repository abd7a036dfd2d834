#[capsule::tool(rename = "order_lookup")]
async fn lookup(order_id: String) -> anyhow::Result<String> {
    Ok(order_id)
}

fn main() {}
