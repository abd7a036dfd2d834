trait Lookup {
    #[capsule::tool]
    async fn order_lookup(&self, order_id: String) -> anyhow::Result<String>;
}

fn main() {}
