#[capsule::tool(fail_closed, fail_open)]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    Ok(order_id)
}

fn main() {}
