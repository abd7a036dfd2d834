#[capsule::tool]
const async fn order_lookup(order_id: u32) -> anyhow::Result<u32> {
    Ok(order_id)
}

fn main() {}
