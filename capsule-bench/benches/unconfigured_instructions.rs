//! Instructions executed by a guarded tool with no endpoint configured, beside the
//! same function without the attribute. Counted by callgrind, so the figures repeat
//! on a busy machine.
//!
//! ```text
//! cargo install gungraun-runner --version 0.20.0
//! cargo bench -p capsule-bench --bench unconfigured_instructions
//! ```

// The benchmark macros generate undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use capsule_bench::{guarded_lookup, guarded_search, plain_lookup, plain_search, ready};
use gungraun::{library_benchmark, library_benchmark_group, main};

/// Makes the global client (disabled: no `CAPSULE_URL`) before the measured call, as a
/// running agent would have after its first guarded call.
fn warm() -> u64 {
    let _ = capsule::global();
    42
}

#[library_benchmark]
#[bench::call(setup = warm)]
fn plain(order_id: u64) -> Result<u64, capsule::Blocked> {
    black_box(ready(plain_lookup(black_box(order_id))))
}

#[library_benchmark]
#[bench::call(setup = warm)]
fn guarded(order_id: u64) -> Result<u64, capsule::Blocked> {
    black_box(ready(guarded_lookup(black_box(order_id))))
}

fn warm_text() -> String {
    let _ = capsule::global();
    String::new()
}

#[library_benchmark]
#[bench::call(setup = warm_text)]
fn plain_owned_arg(query: String) -> Result<usize, capsule::Blocked> {
    black_box(ready(plain_search(black_box(query))))
}

#[library_benchmark]
#[bench::call(setup = warm_text)]
fn guarded_owned_arg(query: String) -> Result<usize, capsule::Blocked> {
    black_box(ready(guarded_search(black_box(query))))
}

library_benchmark_group!(
    name = unconfigured;
    benchmarks = plain, guarded, plain_owned_arg, guarded_owned_arg
);
main!(library_benchmark_groups = unconfigured);
