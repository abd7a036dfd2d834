#[capsule::tool]
async fn order_lookup(order_id: String) -> String {
    order_id
}

fn main() {}
