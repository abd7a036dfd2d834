//! Return types are matched by trait, not by the spelling `Result`: any `Result<T, E>`
//! with `E: From<capsule::Blocked>`, through any alias, and `impl Serialize` outputs.

#![deny(warnings)]

use std::error::Error;
use std::io;

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error(transparent)]
    Blocked(#[from] capsule::Blocked),
    #[error("not found")]
    NotFound,
}

/// The user's own alias, as many crates define one.
type ToolResult<T> = Result<T, ToolError>;

#[capsule::tool]
async fn with_anyhow(id: u32) -> Result<u32, anyhow::Error> {
    Ok(id)
}

#[capsule::tool]
async fn with_anyhow_alias(id: u32) -> anyhow::Result<u32> {
    Ok(id)
}

#[capsule::tool]
async fn with_boxed_error(id: u32) -> Result<u32, Box<dyn Error + Send + Sync>> {
    Ok(id)
}

#[capsule::tool]
async fn with_plain_boxed_error(id: u32) -> Result<u32, Box<dyn Error>> {
    Ok(id)
}

#[capsule::tool]
async fn with_io_alias(id: u32) -> io::Result<u32> {
    Ok(id)
}

#[capsule::tool]
async fn with_thiserror(id: u32) -> Result<u32, ToolError> {
    if id == 0 {
        return Err(ToolError::NotFound);
    }
    Ok(id)
}

#[capsule::tool]
async fn with_own_alias(id: u32) -> ToolResult<u32> {
    Ok(id)
}

#[capsule::tool]
async fn with_impl_output(id: u32) -> Result<impl Serialize, ToolError> {
    Ok(vec![id])
}

#[capsule::tool]
async fn with_fully_qualified(id: u32) -> ::core::result::Result<u32, ::std::io::Error> {
    Ok(id)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    assert_eq!(with_anyhow(1).await?, 1);
    assert_eq!(with_anyhow_alias(1).await?, 1);
    assert_eq!(
        with_boxed_error(1).await.map_err(|e| anyhow::anyhow!(e))?,
        1
    );
    assert_eq!(
        with_plain_boxed_error(1)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        1
    );
    assert_eq!(with_io_alias(1).await?, 1);
    assert!(matches!(with_thiserror(0).await, Err(ToolError::NotFound)));
    assert_eq!(with_own_alias(1).await?, 1);
    assert_eq!(serde_json::to_string(&with_impl_output(1).await?)?, "[1]");
    assert_eq!(with_fully_qualified(1).await?, 1);
    Ok(())
}
