//! Cost of building and serialising each of the six events, with a realistic tool
//! input (a 1 KiB argument struct) and a large one (1 MiB).
//!
//! ```text
//! cargo bench -p capsule-bench --bench events
//! ```

use std::borrow::Cow;
use std::hint::black_box;

use capsule::{Agent, Event, EventKind, Json, Timestamp, User};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;

/// A typical argument struct: a few scalars and one text field of `size` bytes.
#[derive(Serialize)]
struct Arguments {
    customer_id: u64,
    table: &'static str,
    limit: u32,
    query: String,
}

fn arguments(size: usize) -> Arguments {
    let query = "SELECT id, email FROM orders WHERE status = 'open' "
        .chars()
        .cycle()
        .take(size)
        .collect();
    Arguments {
        customer_id: 42,
        table: "orders",
        limit: 100,
        query,
    }
}

fn event(kind: EventKind) -> Event {
    Event {
        session_id: "sess-7f0c7c8e-44d1-4a57-9f0e-2d4c3b3c1a11".into(),
        timestamp: Timestamp::now(),
        agent: Agent::new("support-agent", "Customer Support Agent"),
        user: User::new("user@example.com"),
        kind,
    }
}

type MakeKind<'a> = Box<dyn Fn() -> EventKind + 'a>;

fn kinds(args: &Arguments) -> Vec<(&'static str, MakeKind<'_>)> {
    vec![
        (
            "tool_invocation",
            Box::new(move || EventKind::ToolInvocation {
                name: Cow::Borrowed("database_query"),
                input: Json::from_serialize(args).expect("serialisable"),
            }),
        ),
        (
            "tool_result",
            Box::new(move || EventKind::ToolResult {
                name: Cow::Borrowed("database_query"),
                input: Json::from_serialize(args).expect("serialisable"),
                output: Json::from_serialize(&args.query).expect("serialisable"),
            }),
        ),
        (
            "user_message",
            Box::new(move || EventKind::UserMessage {
                content: args.query.clone(),
            }),
        ),
        (
            "agent_message",
            Box::new(move || EventKind::AgentMessage {
                content: args.query.clone(),
            }),
        ),
        ("session_start", Box::new(|| EventKind::SessionStart)),
        ("session_end", Box::new(|| EventKind::SessionEnd)),
    ]
}

fn build_and_serialise(c: &mut Criterion) {
    for (label, size) in [("1KiB", 1024), ("1MiB", 1024 * 1024)] {
        let args = arguments(size);
        let mut group = c.benchmark_group(format!("event_{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 64 * 1024 {
            group.sample_size(20);
        }

        for (name, make) in kinds(&args) {
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let event = event(make());
                    black_box(serde_json::to_vec(&event).expect("serialisable"))
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, build_and_serialise);
criterion_main!(benches);
