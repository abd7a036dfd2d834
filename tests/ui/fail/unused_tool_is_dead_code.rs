#![deny(dead_code)]

#[capsule::tool]
async fn order_lookup(order_id: String) -> anyhow::Result<String> {
    Ok(order_id)
}

fn main() {}
