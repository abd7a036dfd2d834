struct Pool;

#[capsule::tool]
async fn lookup(pool: &Pool, order_id: String) -> anyhow::Result<String> {
    let Pool = pool;
    Ok(order_id)
}

fn main() {}
