#[derive(serde::Serialize)]
struct Order {
    sku: String,
}

#[capsule::tool(input = sku)]
async fn lookup(Order { sku }: Order) -> anyhow::Result<String> {
    Ok(sku)
}

fn main() {}
