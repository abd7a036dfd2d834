#[capsule::tool]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    if order_id.is_empty() {
        return Ok(0);
    }
    Ok(order_id.len())
}

fn main() {}
