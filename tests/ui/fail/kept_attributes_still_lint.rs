#![deny(unused_must_use, deprecated)]

#[capsule::tool(on_block = |blocked| blocked.to_string())]
#[must_use]
async fn must_use(id: u32) -> String {
    id.to_string()
}

#[capsule::tool]
#[deprecated = "use order_lookup"]
async fn old_lookup(id: u32) -> anyhow::Result<u32> {
    Ok(id)
}

#[tokio::main]
async fn main() {
    must_use(1).await;
    let _ = old_lookup(1).await;
}
