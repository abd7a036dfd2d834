//! The expansion compiles whatever the user's crate names: a `mod capsule`, a
//! `mod serde_json`, its own `Result` alias, a `struct Box`, an `Option` of its own, and
//! parameters named like the macro's generated locals.

#![deny(warnings)]

mod capsule {
    pub struct Blocked;
}

mod serde_json {
    pub fn to_string() {}
}

struct Box;

#[allow(dead_code)]
enum Option {
    Some,
    None,
}

type Result<T> = ::core::result::Result<T, ::anyhow::Error>;

#[::capsule::tool]
async fn shadowed(id: u32) -> Result<u32> {
    let _ = (capsule::Blocked, Box);
    serde_json::to_string();
    Ok(id)
}

#[::capsule::tool]
async fn like_locals(
    __capsule_call: u32,
    __capsule_input: u32,
    __capsule_run: u32,
    __capsule_blocked: u32,
    __capsule_result: u32,
    __capsule_ret: u32,
) -> Result<u32> {
    Ok(__capsule_call
        + __capsule_input
        + __capsule_run
        + __capsule_blocked
        + __capsule_result
        + __capsule_ret)
}

#[::capsule::tool]
async fn named_like_helpers(
    blocked: u32,
    input: u32,
    call: u32,
    run: u32,
    result: u32,
) -> Result<u32> {
    Ok(blocked + input + call + run + result)
}

#[tokio::main]
async fn main() -> Result<()> {
    assert_eq!(shadowed(1).await?, 1);
    assert_eq!(like_locals(1, 1, 1, 1, 1, 1).await?, 6);
    assert_eq!(named_like_helpers(1, 1, 1, 1, 1).await?, 5);
    Ok(())
}
