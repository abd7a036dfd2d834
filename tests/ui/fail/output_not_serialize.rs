struct Order;

#[capsule::tool]
async fn lookup(order_id: String) -> anyhow::Result<Order> {
    let _ = order_id;
    Ok(Order)
}

fn main() {}
