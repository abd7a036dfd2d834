#[derive(Debug)]
struct LookupError;

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lookup failed")
    }
}

#[capsule::tool]
async fn order_lookup(order_id: String) -> Result<String, LookupError> {
    Ok(order_id)
}

fn main() {}
