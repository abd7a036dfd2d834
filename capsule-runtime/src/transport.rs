//! The HTTP side of the client: a small runtime of its own, a keep-alive connection
//! pool, and the background queue that carries telemetry.
//!
//! All requests run on the transport's own tokio runtime, never on the agent's. That
//! keeps connections alive when the agent's runtime is dropped or when the agent uses
//! several runtimes, and lets a `current_thread` agent wait on a decision without
//! starving the request. Callers only await a join handle, which works from any
//! executor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{StatusCode, Url};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, Token};
use crate::decision::{Decision, NoDecision};
use crate::event::Event;
use crate::stats::Counters;

/// The most of a response body the client reads; a decision is a few dozen bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// One telemetry event waiting to be sent.
pub(crate) struct Job {
    pub(crate) event: Event,
    /// Told when the event has been sent or given up on (dropped with the job).
    pub(crate) delivered: Option<watch::Sender<bool>>,
}

/// What the request tasks share.
struct Shared {
    events_url: Url,
    token: ArcSwap<Token>,
    http: reqwest::Client,
    telemetry_timeout: Duration,
    counters: Arc<Counters>,
    progress: Progress,
    warn_gate: LogGate,
}

/// Counts finished telemetry events so that a flush can wait for them.
struct Progress {
    finished: Mutex<u64>,
    changed: Condvar,
}

impl Progress {
    fn finish_one(&self) {
        let mut finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *finished += 1;
        self.changed.notify_all();
    }

    /// Waits until `target` events have finished or `timeout` passes.
    fn wait_for(&self, target: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut finished = self
            .finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);

        while *finished < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            finished = match self.changed.wait_timeout(finished, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

/// Lets one warning through per interval, so that a dead endpoint cannot flood logs.
pub(crate) struct LogGate {
    started: Instant,
    last_millis: AtomicU64,
}

impl LogGate {
    const INTERVAL: Duration = Duration::from_secs(30);

    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            last_millis: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether a warning may be logged now.
    pub(crate) fn allow(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.last_millis.load(Ordering::Relaxed);
        let interval = u64::try_from(Self::INTERVAL.as_millis()).unwrap_or(u64::MAX);
        let due = last == u64::MAX || now.saturating_sub(last) >= interval;
        due && self
            .last_millis
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// The transport: its runtime, its HTTP client and the telemetry queue.
pub(crate) struct Transport {
    runtime: Option<Runtime>,
    handle: Handle,
    shared: Arc<Shared>,
    queue: mpsc::Sender<Job>,
}

impl Transport {
    /// Starts the transport's runtime and its telemetry worker.
    pub(crate) fn start(
        config: &Config,
        counters: Arc<Counters>,
    ) -> Result<Option<Self>, std::io::Error> {
        let Some(endpoint) = config.endpoint.clone() else {
            return Ok(None);
        };

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("capsule-transport")
            .enable_all()
            .build()?;

        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(std::io::Error::other)?;

        let shared = Arc::new(Shared {
            events_url: endpoint.events_url,
            token: ArcSwap::from_pointee(endpoint.token),
            http,
            telemetry_timeout: config.telemetry_timeout,
            counters,
            progress: Progress {
                finished: Mutex::new(0),
                changed: Condvar::new(),
            },
            warn_gate: LogGate::new(),
        });

        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let handle = runtime.handle().clone();
        handle.spawn(drain(receiver, Arc::clone(&shared)));

        Ok(Some(Self {
            runtime: Some(runtime),
            handle,
            shared,
            queue,
        }))
    }

    /// Replaces the bearer token for every later request.
    pub(crate) fn set_token(&self, token: Token) {
        self.shared.token.store(Arc::new(token));
    }

    /// Puts a telemetry event on the queue without waiting. Returns `false` when the
    /// queue is full or the worker is gone; the event is then dropped.
    pub(crate) fn enqueue(&self, job: Job) -> bool {
        self.queue.try_send(job).is_ok()
    }

    /// Asks the service for a decision, waiting at most `deadline` in all. When
    /// `after` is given, the request waits first (within the same deadline) until that
    /// earlier telemetry event has been sent, so the service sees events in order.
    pub(crate) async fn decide(
        &self,
        event: &Event,
        deadline: Duration,
        after: Option<watch::Receiver<bool>>,
    ) -> Result<Decision, NoDecision> {
        let body = serde_json::to_vec(event)
            .map_err(|err| NoDecision::Malformed(format!("event could not be encoded: {err}")))?;
        let shared = Arc::clone(&self.shared);

        let request = async move {
            if let Some(mut sent) = after {
                let _ = sent.wait_for(|done| *done).await;
            }
            let (status, answer) = post(&shared, body, deadline).await?;
            match status {
                StatusCode::OK => Decision::from_body(&answer),
                other => Err(NoDecision::Status(other.as_u16())),
            }
        };

        let task = self.handle.spawn(async move {
            tokio::time::timeout(deadline, request)
                .await
                .unwrap_or(Err(NoDecision::Timeout))
        });
        task.await.unwrap_or(Err(NoDecision::Unavailable))
    }

    /// Waits until every event queued so far has been sent or given up on, or until
    /// `timeout` passes. Returns whether everything was handled. Blocks the thread.
    pub(crate) fn flush_blocking(&self, queued: u64, timeout: Duration) -> bool {
        self.shared.progress.wait_for(queued, timeout)
    }

    /// The async form of [`Transport::flush_blocking`]: the wait happens on the
    /// transport's runtime, so the caller's executor is not blocked.
    pub(crate) async fn flush(&self, queued: u64, timeout: Duration) -> bool {
        let shared = Arc::clone(&self.shared);
        let wait = self
            .handle
            .spawn_blocking(move || shared.progress.wait_for(queued, timeout));
        wait.await.unwrap_or(false)
    }

    /// Counts a telemetry event that never reached the queue as finished.
    pub(crate) fn forget_one(&self) {
        self.shared.progress.finish_one();
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, and panics inside async code;
        // letting it go in the background does neither.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Sends queued telemetry, one event after another, so the service sees each
/// session's events in the order they happened.
async fn drain(mut receiver: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    while let Some(job) = receiver.recv().await {
        let Job { event, delivered } = job;
        let kind = event.kind.name();

        let outcome = match serde_json::to_vec(&event) {
            Ok(body) => post(&shared, body, shared.telemetry_timeout).await,
            Err(err) => Err(NoDecision::Malformed(format!(
                "event could not be encoded: {err}"
            ))),
        };

        match outcome {
            Ok((status, _)) if status.is_success() => shared.counters.sent(),
            Ok((status, _)) => {
                shared.counters.failed();
                warn_telemetry(&shared, kind, &NoDecision::Status(status.as_u16()));
            }
            Err(cause) => {
                shared.counters.failed();
                warn_telemetry(&shared, kind, &cause);
            }
        }

        if let Some(delivered) = delivered {
            let _ = delivered.send(true);
        }
        shared.progress.finish_one();
    }
}

fn warn_telemetry(shared: &Shared, kind: &str, cause: &NoDecision) {
    if shared.warn_gate.allow() {
        tracing::warn!(
            event_type = kind,
            "Capsule telemetry is not getting through ({cause}); the agent keeps running, \
             and failed events are counted in Client::stats(). Check CAPSULE_URL and the \
             endpoint's health."
        );
    }
}

/// Posts one event and reads the answer, up to [`MAX_RESPONSE_BYTES`].
async fn post(
    shared: &Shared,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(StatusCode, Vec<u8>), NoDecision> {
    let token = shared.token.load();
    let mut authorization =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            NoDecision::Malformed("the token has characters not allowed in a header".into())
        })?;
    authorization.set_sensitive(true);

    let correlation_id = format!("evt-{}", uuid::Uuid::new_v4());
    let request = shared
        .http
        .post(shared.events_url.clone())
        .header(AUTHORIZATION, authorization)
        .header(CONTENT_TYPE, "application/json")
        .header("x-correlation-id", correlation_id)
        .timeout(timeout)
        .body(body);

    let mut response = request.send().await.map_err(|err| classify(&err))?;
    let status = response.status();

    let mut answer = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| classify(&err))? {
        if answer.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(NoDecision::Malformed(format!(
                "answer is over {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        answer.extend_from_slice(&chunk);
    }
    Ok((status, answer))
}

fn classify(err: &reqwest::Error) -> NoDecision {
    if err.is_timeout() {
        NoDecision::Timeout
    } else {
        // The error's own text never holds the token: headers are not part of it.
        NoDecision::Connect(error_chain(err))
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
