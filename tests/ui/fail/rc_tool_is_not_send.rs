use std::rc::Rc;

#[capsule::tool]
async fn holds_rc(id: u32) -> anyhow::Result<usize> {
    let shared = Rc::new(id);
    tokio::task::yield_now().await;
    Ok(Rc::strong_count(&shared))
}

#[tokio::main]
async fn main() {
    let _ = tokio::spawn(holds_rc(1)).await;
}
