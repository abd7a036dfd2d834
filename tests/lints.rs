//! The code `#[capsule::tool]` generates is quiet: clippy passes on the fixture crates
//! in `tests/lints/`, which deny warnings, clippy's `all` and `pedantic` groups and
//! missing docs, and hold guarded tools of every supported shape.
//!
//! A trybuild pass case cannot show this, since it runs rustc alone; this test runs
//! `cargo clippy` on real crates instead.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn strict_crates_full_of_guarded_tools_lint_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests").join("lints");

    // The fixture resolves exactly the versions the SDK is tested with.
    std::fs::copy(root.join("Cargo.lock"), fixture.join("Cargo.lock"))
        .expect("the SDK's Cargo.lock can be copied into the fixture");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["clippy", "--workspace", "--quiet", "--message-format=short"])
        .current_dir(&fixture)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .expect("cargo runs");

    assert!(
        output.status.success(),
        "clippy failed on the fixture crates (is the clippy component installed?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The target directory of the ui tests, so that the dependencies both need (and their
/// build scripts) are built once.
fn shared_target_dir() -> PathBuf {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = scratch.parent().unwrap_or(scratch);
    target.join("tests").join("trybuild")
}
