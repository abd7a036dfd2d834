//! Telemetry benchmarks: what emitting one event costs the caller, and how many events
//! per second reach a `capsule-dev` endpoint on loopback.
//!
//! ```text
//! cargo bench -p capsule-agent-runtime --bench telemetry
//! ```
//!
//! Before criterion's runs, the caller-side latency of single emits is measured one
//! call at a time and its percentiles printed, since criterion reports means over
//! batches. Set `CAPSULE_BENCH_URL` and `CAPSULE_BENCH_TOKEN` to measure delivery to an
//! endpoint running in another process (for comparison with an HTTP load tool on the
//! same endpoint); by default an in-process `capsule-dev` is started.

use std::hint::black_box;
use std::time::{Duration, Instant};

use capsule_dev::{DevServer, RunningServer};
use capsule_runtime::{Client, Config};
use criterion::{Criterion, Throughput};

/// Events emitted between two flushes, so the queue never fills and every measured
/// emit takes the path that queues the event.
const CHUNK: usize = 1_000;

/// Concurrent telemetry requests, the client's default.
const CONCURRENCY: usize = 4;

const FLUSH: Duration = Duration::from_secs(60);

struct Endpoint {
    url: String,
    token: String,
    _local: Option<RunningServer>,
}

fn endpoint() -> Endpoint {
    let url = std::env::var("CAPSULE_BENCH_URL");
    let token = std::env::var("CAPSULE_BENCH_TOKEN");
    if let (Ok(url), Ok(token)) = (url, token) {
        return Endpoint {
            url,
            token,
            _local: None,
        };
    }

    let server = DevServer::builder().start().expect("capsule-dev starts");
    Endpoint {
        url: server.url(),
        token: server.token(),
        _local: Some(server),
    }
}

fn client(endpoint: &Endpoint) -> Client {
    let config = Config::builder()
        .url(&endpoint.url)
        .token(&endpoint.token)
        .agent("bench-agent", "Benchmark Agent")
        .telemetry_concurrency(CONCURRENCY)
        .queue_capacity(CHUNK * 4)
        .build()
        .expect("a valid configuration");
    Client::new(config).expect("the client starts")
}

/// Times single `agent_message` calls, one at a time, and prints percentiles.
fn print_emit_percentiles(client: &Client) {
    let session = client.session("bench@example.com");
    let mut samples = Vec::with_capacity(200 * CHUNK);

    for _ in 0..200 {
        for _ in 0..CHUNK {
            let started = Instant::now();
            session.agent_message(black_box("Order #12345 has been shipped."));
            samples.push(started.elapsed());
        }
        assert!(client.flush_blocking(FLUSH), "the endpoint fell behind");
    }

    samples.sort_unstable();
    let at = |per_mille: usize| samples[(samples.len() * per_mille / 1000).min(samples.len() - 1)];
    println!(
        "emit latency over {} calls: p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
        samples.len(),
        at(500),
        at(900),
        at(990),
        at(999),
        samples[samples.len() - 1]
    );
    let stats = client.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
}

fn emit(c: &mut Criterion, client: &Client) {
    let session = client.session("bench@example.com");
    c.bench_function("emit/agent_message", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(CHUNK as u64);
                let started = Instant::now();
                for _ in 0..chunk {
                    session.agent_message(black_box("Order #12345 has been shipped."));
                }
                spent += started.elapsed();
                left -= chunk;
                assert!(client.flush_blocking(FLUSH), "the endpoint fell behind");
            }
            spent
        });
    });
}

fn delivery(c: &mut Criterion, client: &Client) {
    const EVENTS: u64 = 2_000;
    let sessions: Vec<_> = (0..64)
        .map(|n| client.session(format!("user{n}@example.com")))
        .collect();

    let mut group = c.benchmark_group("delivery");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.bench_function("loopback_capsule_dev", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                for n in 0..EVENTS {
                    #[allow(clippy::cast_possible_truncation)]
                    let session = &sessions[(n % 64) as usize];
                    session.agent_message("Order #12345 has been shipped.");
                }
                assert!(client.flush_blocking(FLUSH), "the endpoint fell behind");
            }
            started.elapsed()
        });
    });
    group.finish();

    let stats = client.stats();
    assert_eq!(stats.failed + stats.dropped, 0, "{stats:?}");
}

/// The same events posted by hand-written reqwest code: `CONCURRENCY` tasks, each
/// sending one request after another, on a runtime with one worker like the client's.
fn plain_reqwest(c: &mut Criterion, endpoint: &Endpoint) {
    const EVENTS: u64 = 2_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let http = reqwest::Client::new();
    let url = format!("{}/v1/generic-webhook/hooks/events", endpoint.url);
    let authorization = format!("Bearer {}", endpoint.token);

    let mut group = c.benchmark_group("delivery");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(20);
    group.bench_function("loopback_plain_reqwest", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..CONCURRENCY)
                        .map(|lane| {
                            let (http, url, authorization) =
                                (http.clone(), url.clone(), authorization.clone());
                            tokio::spawn(async move {
                                for _ in 0..EVENTS / CONCURRENCY as u64 {
                                    let body = event_body(lane);
                                    let response = http
                                        .post(&url)
                                        .header("authorization", &authorization)
                                        .header("content-type", "application/json")
                                        .body(body)
                                        .send()
                                        .await
                                        .expect("the endpoint answers");
                                    assert!(response.status().is_success());
                                    let _ = response.bytes().await;
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("no task panicked");
                    }
                });
            }
            started.elapsed()
        });
    });
    group.finish();
}

fn event_body(lane: usize) -> String {
    serde_json::json!({
        "event_type": "agent_message",
        "session_id": format!("sess-{lane}"),
        "timestamp": "2026-03-03T10:30:06Z",
        "agent": {"id": "bench-agent", "name": "Benchmark Agent"},
        "user": {"email": "bench@example.com"},
        "message": {"content": "Order #12345 has been shipped."},
    })
    .to_string()
}

fn main() {
    let endpoint = endpoint();
    let client = client(&endpoint);
    print_emit_percentiles(&client);

    let mut criterion = Criterion::default().configure_from_args();
    emit(&mut criterion, &client);
    delivery(&mut criterion, &client);
    plain_reqwest(&mut criterion, &endpoint);
    criterion.final_summary();
}
