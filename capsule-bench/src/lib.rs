//! What the benchmarks share: guarded tools beside their unannotated twins, a local
//! endpoint, the hand-written baseline client, and latency summaries.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use capsule::{Blocked, Client, Config};
use capsule_dev::{DevServer, Policy, RunningServer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// A tool with the attribute.
///
/// # Errors
/// Returns the block when Capsule refuses the call.
#[capsule::tool]
pub async fn guarded_lookup(order_id: u64) -> Result<u64, Blocked> {
    Ok(order_id.wrapping_mul(3))
}

/// The same tool without it.
///
/// # Errors
/// Never; the signature matches the guarded twin.
#[allow(clippy::unused_async)]
pub async fn plain_lookup(order_id: u64) -> Result<u64, Blocked> {
    Ok(order_id.wrapping_mul(3))
}

/// A tool with the attribute and an owned argument, whose future has drop glue.
///
/// # Errors
/// Returns the block when Capsule refuses the call.
#[capsule::tool]
pub async fn guarded_search(query: String) -> Result<usize, Blocked> {
    Ok(query.len())
}

/// The same tool without it.
///
/// # Errors
/// Never; the signature matches the guarded twin.
#[allow(clippy::unused_async)]
pub async fn plain_search(query: String) -> Result<usize, Blocked> {
    Ok(query.len())
}

/// Polls a future that completes without waiting, once, with a no-op waker.
///
/// # Panics
/// Panics when the future is not ready at once: the benchmark is then measuring the
/// wrong thing.
// Inlined always, so that whether the harness inlines does not change what is counted.
#[allow(clippy::inline_always)]
#[inline(always)]
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited, so it is not the unconfigured path"),
    }
}

/// A local endpoint that allows everything (so both sides do the same work on the
/// server), optionally with added latency on blocking events.
///
/// # Panics
/// Panics when the endpoint cannot start on loopback.
#[must_use]
pub fn endpoint() -> RunningServer {
    DevServer::builder()
        .policy(Policy::allow_all())
        .start()
        .expect("capsule-dev starts")
}

/// A client for `server`.
///
/// # Panics
/// Panics when the client cannot start.
#[must_use]
pub fn client_for(server: &RunningServer) -> Client {
    let config = Config::builder()
        .url(server.url())
        .token(server.token())
        .agent("bench-agent", "Benchmark Agent")
        .build()
        .expect("valid configuration");
    Client::new(config).expect("client starts")
}

/// The code a careful user writes by hand from the contract: one shared `reqwest`
/// client, the same `tool_invocation` body, the decision parsed from the answer.
#[derive(Clone)]
pub struct HandWritten {
    http: reqwest::Client,
    url: String,
    authorization: String,
}

#[derive(Serialize)]
struct Body<'a> {
    event_type: &'a str,
    session_id: &'a str,
    timestamp: String,
    agent: serde_json::Value,
    user: serde_json::Value,
    tool: serde_json::Value,
}

#[derive(Deserialize)]
struct Answer {
    response: Response,
}

#[derive(Deserialize)]
struct Response {
    action: String,
}

impl HandWritten {
    /// A baseline client for `server`.
    #[must_use]
    pub fn new(server: &RunningServer) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: format!("{}/v1/generic-webhook/hooks/events", server.url()),
            authorization: format!("Bearer {}", server.token()),
        }
    }

    /// Posts a `tool_invocation` for `order_lookup` and returns whether it was allowed.
    ///
    /// # Errors
    /// Returns the transport's error, or a description of an unusable answer.
    pub async fn check(&self, session_id: &str, order_id: u64) -> Result<bool, String> {
        let body = Body {
            event_type: "tool_invocation",
            session_id,
            timestamp: capsule::Timestamp::now().to_string(),
            agent: serde_json::json!({"id": "bench-agent", "name": "Benchmark Agent"}),
            user: serde_json::json!({"email": "bench@example.com"}),
            tool: serde_json::json!({"name": "guarded_lookup", "input": {"order_id": order_id}}),
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;

        let answer = self
            .http
            .post(&self.url)
            .header("authorization", &self.authorization)
            .header("content-type", "application/json")
            .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())?;
        let answer: Answer = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        Ok(answer.response.action == "allow")
    }
}

impl HandWritten {
    /// [`HandWritten::check`], then, as the contract asks after the tool ran, a
    /// `tool_result` posted in the background without waiting for it.
    ///
    /// # Errors
    /// Returns the check's error.
    pub async fn check_and_report(&self, session_id: &str, order_id: u64) -> Result<bool, String> {
        let allowed = self.check(session_id, order_id).await?;
        let body = serde_json::json!({
            "event_type": "tool_result",
            "session_id": session_id,
            "timestamp": capsule::Timestamp::now().to_string(),
            "agent": {"id": "bench-agent", "name": "Benchmark Agent"},
            "user": {"email": "bench@example.com"},
            "tool": {
                "name": "guarded_lookup",
                "input": {"order_id": order_id},
                "output": order_id.wrapping_mul(3),
            },
        });
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this
                .http
                .post(&this.url)
                .header("authorization", &this.authorization)
                .header("content-type", "application/json")
                .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
                .body(body.to_string())
                .send()
                .await;
        });
        Ok(allowed)
    }
}

/// Latencies of one side of a comparison.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    /// Times `future` and records how long it took.
    pub async fn time<F: Future>(&mut self, future: F) -> F::Output {
        let start = Instant::now();
        let output = future.await;
        self.record(start.elapsed());
        output
    }

    /// Records one latency.
    pub fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_nanos() / 1_000)
            .unwrap_or(u64::MAX)
            .max(1);
        let _ = self.0.record(micros.min(60_000_000));
    }

    /// Merges another set of latencies into this one.
    pub fn merge(&mut self, other: &Self) {
        let _ = self.0.add(&other.0);
    }

    /// The latency at `quantile` (0.5 for the median), in microseconds.
    #[must_use]
    pub fn micros_at(&self, quantile: f64) -> u64 {
        self.0.value_at_quantile(quantile)
    }

    /// How many latencies were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.0.len()
    }
}

/// Prints one comparison row: p50 and p99 of both sides and their ratios.
#[allow(clippy::cast_precision_loss)]
pub fn report(what: &str, guarded: &Latencies, baseline: &Latencies) {
    let ratio = |q: f64| guarded.micros_at(q) as f64 / baseline.micros_at(q).max(1) as f64;
    println!(
        "{what}: guarded p50 {} µs p99 {} µs | baseline p50 {} µs p99 {} µs | \
         ratio p50 {:.3} p99 {:.3} ({} calls each)",
        guarded.micros_at(0.5),
        guarded.micros_at(0.99),
        baseline.micros_at(0.5),
        baseline.micros_at(0.99),
        ratio(0.5),
        ratio(0.99),
        guarded.count(),
    );
}
