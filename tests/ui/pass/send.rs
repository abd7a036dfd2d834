//! The future of a guarded tool is `Send` exactly when the unannotated one would be: a
//! tool can be spawned on a multi-threaded runtime, and a tool that holds an `Rc`
//! across an `.await` still compiles (its future is then not `Send`).

#![deny(warnings)]

use std::rc::Rc;

#[capsule::tool]
async fn spawnable(id: u32) -> anyhow::Result<u32> {
    tokio::task::yield_now().await;
    Ok(id)
}

#[capsule::tool]
async fn holds_rc(id: u32) -> anyhow::Result<usize> {
    let shared = Rc::new(id);
    tokio::task::yield_now().await;
    Ok(Rc::strong_count(&shared))
}

#[capsule::tool(skip(local))]
async fn takes_rc(local: Rc<u32>, id: u32) -> anyhow::Result<u32> {
    tokio::task::yield_now().await;
    Ok(*local + id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    assert_eq!(tokio::spawn(spawnable(3)).await??, 3);
    assert_eq!(holds_rc(1).await?, 1);
    assert_eq!(takes_rc(Rc::new(1), 2).await?, 3);
    Ok(())
}
