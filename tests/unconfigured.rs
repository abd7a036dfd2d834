//! With no endpoint configured, guarded tools run as if unannotated.
//!
//! This file is its own test binary, so no client or session of another test exists here.

use std::sync::atomic::{AtomicU32, Ordering};

static CALLS: AtomicU32 = AtomicU32::new(0);

#[capsule::tool]
async fn greet(name: String) -> anyhow::Result<String> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("hello {name}"))
}

#[tokio::test]
async fn a_guarded_tool_runs_unguarded_without_configuration() {
    assert!(
        std::env::var_os("CAPSULE_URL").is_none(),
        "run this test without CAPSULE_URL"
    );

    assert_eq!(greet("Ada".to_owned()).await.unwrap(), "hello Ada");
    assert_eq!(greet("Grace".to_owned()).await.unwrap(), "hello Grace");

    assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    assert!(!capsule::global().is_enabled());
}
