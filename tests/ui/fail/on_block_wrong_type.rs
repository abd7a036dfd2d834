#[capsule::tool(on_block = |blocked| blocked.to_string())]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    Ok(order_id)
}

fn main() {}
