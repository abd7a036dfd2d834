//! Time of a guarded tool with no endpoint configured, beside the same function
//! without the attribute.
//!
//! ```text
//! cargo bench -p capsule-bench --bench unconfigured
//! ```

use std::hint::black_box;

use capsule_bench::{guarded_lookup, guarded_search, plain_lookup, plain_search, ready};
use criterion::{Criterion, criterion_group, criterion_main};

fn unconfigured(c: &mut Criterion) {
    assert!(
        std::env::var_os("CAPSULE_URL").is_none(),
        "unset CAPSULE_URL for this benchmark"
    );
    assert!(!capsule::global().is_enabled());

    let mut group = c.benchmark_group("unconfigured");
    group.bench_function("plain", |b| {
        b.iter(|| ready(plain_lookup(black_box(42))));
    });
    group.bench_function("guarded", |b| {
        b.iter(|| ready(guarded_lookup(black_box(42))));
    });
    group.bench_function("plain_owned_arg", |b| {
        b.iter(|| ready(plain_search(black_box(String::new()))));
    });
    group.bench_function("guarded_owned_arg", |b| {
        b.iter(|| ready(guarded_search(black_box(String::new()))));
    });
    group.finish();
}

criterion_group!(benches, unconfigured);
criterion_main!(benches);
