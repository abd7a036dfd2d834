#[capsule::tool(skip(db), skip_all)]
async fn lookup(db: &str, order_id: String) -> anyhow::Result<String> {
    Ok(format!("{db}{order_id}"))
}

fn main() {}
