#[capsule::tool(skip(pool))]
async fn lookup(db: &str, order_id: String) -> anyhow::Result<String> {
    Ok(format!("{db}{order_id}"))
}

fn main() {}
