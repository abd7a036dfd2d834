//! A pinned body in which `#[async_trait]`'s renamed parameter `__arg1` is used in a form
//! the attribute does not know: it cannot tell which bindings to send, and says so
//! rather than leaving the parameter out of the input.

use std::future::Future;
use std::pin::Pin;

#[capsule::tool]
fn lookup(__arg1: (u32, u32)) -> Pin<Box<dyn Future<Output = anyhow::Result<u32>> + Send>> {
    Box::pin(async move {
        let (offset, limit) = __arg1;
        Ok(offset + limit)
    })
}

fn main() {}
