#[capsule::tool]
struct OrderLookup {
    order_id: String,
}

fn main() {}
