//! The HTTP side of the client: a small runtime of its own, a keep-alive connection
//! pool, and the requests that carry decisions and telemetry.
//!
//! All requests run on the transport's own tokio runtime, never on the agent's. That
//! keeps connections alive when the agent's runtime is dropped or when the agent uses
//! several runtimes, and lets a `current_thread` agent wait on a decision without
//! starving the request. Callers only await a join handle, which works from any
//! executor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Config, ConfigError, Token};
use crate::decision::{Decision, NoDecision};
use crate::event::Event;
use crate::health::Health;
use crate::queue::{self, Lanes, Progress};
use crate::stats::{Counters, DropCause};

/// The most of a response body the client reads; a decision is a few dozen bytes.
pub(crate) const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The longest a `Retry-After` from the service is honoured.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The token and the header made from it, swapped together when the token rotates.
struct Credentials {
    token: Token,
    header: HeaderValue,
}

/// What the request tasks share.
pub(crate) struct Shared {
    events_url: Url,
    credentials: ArcSwap<Credentials>,
    /// The pooled client, for every first attempt.
    http: reqwest::Client,
    /// A client that keeps no idle connections, so a retry after a stale keep-alive
    /// connection always opens a fresh one.
    fresh_http: reqwest::Client,
    pub(crate) config: Config,
    pub(crate) counters: Arc<Counters>,
    pub(crate) progress: Progress,
    pub(crate) pause: queue::Pause,
    pub(crate) health: Health,
}

/// An HTTP answer, its body read up to [`MAX_RESPONSE_BYTES`].
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<Duration>,
}

/// Why one attempt got no answer.
enum AttemptError {
    /// The request went out on a pooled connection that the server had closed: it
    /// never reached the service, and may be sent again at once.
    Stale(String),
    Failed(NoDecision),
}

impl Shared {
    /// Posts one event and reads the answer, within `deadline`. A request that meets a
    /// stale keep-alive connection is sent once more, on a fresh connection, when time
    /// is left; `retried` is told when that happens.
    pub(crate) async fn exchange(
        &self,
        body: Bytes,
        id: &HeaderValue,
        deadline: Instant,
        retried: impl FnOnce(),
    ) -> Result<Answer, NoDecision> {
        let first = self.attempt(&self.http, body.clone(), id, deadline).await;
        let outcome = match first {
            Err(AttemptError::Stale(detail)) if Instant::now() < deadline => {
                tracing::debug!(
                    "the server closed the pooled connection ({detail}); retrying on a fresh one"
                );
                retried();
                self.attempt(&self.fresh_http, body, id, deadline).await
            }
            other => other,
        };

        outcome.map_err(|err| {
            let failure = match err {
                AttemptError::Stale(detail) => NoDecision::Connect(detail),
                AttemptError::Failed(failure) => failure,
            };
            self.redact(failure)
        })
    }

    /// `failure` with any copy of the token in its text replaced.
    pub(crate) fn redact(&self, failure: NoDecision) -> NoDecision {
        failure.redact(self.credentials.load().token.expose())
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        body: Bytes,
        id: &HeaderValue,
        deadline: Instant,
    ) -> Result<Answer, AttemptError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(AttemptError::Failed(NoDecision::Timeout));
        }

        let authorization = self.credentials.load().header.clone();
        let request = http
            .post(self.events_url.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("x-correlation-id", id.clone())
            .timeout(left)
            .body(body);

        let mut response = request.send().await.map_err(|err| classify(&err))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| parse_retry_after(value.to_str().ok()?));

        let mut body = Vec::new();
        loop {
            let chunk = response.chunk().await.map_err(|err| {
                let failure = if err.is_timeout() {
                    NoDecision::Timeout
                } else {
                    NoDecision::Connect(format!(
                        "the connection broke while reading the answer: {}",
                        error_chain(&err)
                    ))
                };
                AttemptError::Failed(failure)
            })?;
            let Some(chunk) = chunk else { break };
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                if (200..300).contains(&status) {
                    return Err(AttemptError::Failed(NoDecision::Unparseable(format!(
                        "the answer is over {} KiB",
                        MAX_RESPONSE_BYTES / 1024
                    ))));
                }
                // An error status is known already; its oversized body is not needed.
                body.clear();
                break;
            }
            body.extend_from_slice(&chunk);
        }

        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }
}

fn classify(err: &reqwest::Error) -> AttemptError {
    if err.is_timeout() {
        return AttemptError::Failed(NoDecision::Timeout);
    }
    // The error's own text never holds the token: headers are not part of it. Its URL
    // is taken out too, since the cause travels inside a fail-closed block, which may
    // be shown to the model; the user knows the URL from their configuration.
    let mut detail = error_chain(err);
    if let Some(url) = err.url() {
        detail = detail.replace(&format!(" for url ({url})"), "");
        detail = detail.replace(url.as_str(), "the Capsule URL");
    }
    if !err.is_connect() && wrote_on_a_closed_connection(err) {
        AttemptError::Stale(detail)
    } else {
        AttemptError::Failed(NoDecision::Connect(detail))
    }
}

/// Whether the error says the connection was closed under the request, before any
/// answer: what happens when a pooled connection was closed by the server while idle.
fn wrote_on_a_closed_connection(err: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind;

    let mut source = Some(err);
    while let Some(cause) = source {
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return true;
            }
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            ) {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Reads `Retry-After`: a number of seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER`].
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A fresh event id for `x-correlation-id`, the same on every retry of one event so
/// that the service can recognise a duplicate.
pub(crate) fn event_id() -> HeaderValue {
    let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let mut text = [0u8; 4 + uuid::fmt::Hyphenated::LENGTH];
    text[..4].copy_from_slice(b"evt-");
    uuid.hyphenated().encode_lower(&mut text[4..]);
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("evt-unknown"))
}

/// The transport: its runtime, its HTTP clients and the telemetry queue.
pub(crate) struct Transport {
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
    shared: Arc<Shared>,
    lanes: Lanes,
    closed: AtomicBool,
}

impl Transport {
    /// Starts the transport's runtime and its telemetry workers.
    pub(crate) fn start(
        config: &Config,
        counters: Arc<Counters>,
    ) -> Result<Option<Self>, std::io::Error> {
        let Some(endpoint) = config.endpoint.clone() else {
            return Ok(None);
        };
        let header = endpoint.token.header().map_err(std::io::Error::other)?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("capsule-transport")
            .enable_all()
            .build()?;

        let pooled = http_client(usize::MAX)?;
        let fresh = http_client(0)?;

        let shared = Arc::new(Shared {
            events_url: endpoint.events_url,
            credentials: ArcSwap::from_pointee(Credentials {
                token: endpoint.token,
                header,
            }),
            http: pooled,
            fresh_http: fresh,
            config: config.clone(),
            counters,
            progress: Progress::default(),
            pause: queue::Pause::default(),
            health: Health::new(),
        });

        let handle = runtime.handle().clone();
        let lanes = Lanes::start(&handle, &shared);

        Ok(Some(Self {
            runtime: Mutex::new(Some(runtime)),
            handle,
            shared,
            lanes,
            closed: AtomicBool::new(false),
        }))
    }

    /// Replaces the bearer token for every later request.
    pub(crate) fn set_token(&self, token: Token) -> Result<(), ConfigError> {
        let header = token.header()?;
        self.shared
            .credentials
            .store(Arc::new(Credentials { token, header }));
        Ok(())
    }

    /// Puts a telemetry event on the queue without waiting. `delivered` is told once
    /// the first attempt to send it is over.
    pub(crate) fn enqueue(
        &self,
        event: Event,
        delivered: Option<watch::Sender<bool>>,
    ) -> Result<(), DropCause> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(DropCause::ShutDown);
        }
        self.lanes.push(&self.shared, event, delivered)
    }

    /// Counts a telemetry event that never reached the queue as finished.
    pub(crate) fn forget_one(&self) {
        self.shared.progress.finish_one();
    }

    /// Logs that telemetry is being dropped, rate-limited.
    pub(crate) fn warn_dropped(&self, cause: DropCause) {
        queue::warn_dropped(&self.shared, cause);
    }

    /// Asks the service for a decision on `body`, waiting at most `deadline` in all.
    /// When `after` is given, the request first waits for the first attempt to send
    /// that earlier telemetry event, so the service sees events in order; it waits a
    /// quarter of the deadline at most, then asks anyway.
    pub(crate) async fn decide(
        &self,
        body: Bytes,
        deadline: Duration,
        after: Option<watch::Receiver<bool>>,
    ) -> Result<Decision, NoDecision> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(NoDecision::Unavailable);
        }
        let shared = Arc::clone(&self.shared);

        let mut task = AbortOnDrop(self.handle.spawn(async move {
            let until = Instant::now() + deadline;
            let request = async {
                if let Some(mut sent) = after {
                    // Order is worth a part of the deadline, not the decision itself: a
                    // backed-up queue must not turn a healthy check into a timeout.
                    let _ = tokio::time::timeout(deadline / 4, sent.wait_for(|done| *done)).await;
                }
                let answer = shared.exchange(body, &event_id(), until, || {}).await?;
                Decision::from_answer(answer.status, &answer.body)
                    .map_err(|failure| shared.redact(failure))
            };
            tokio::time::timeout_at(until, request)
                .await
                .unwrap_or(Err(NoDecision::Timeout))
        }));
        (&mut task.0).await.unwrap_or(Err(NoDecision::Unavailable))
    }

    /// Waits until `target` telemetry events have been sent or given up on, or until
    /// `timeout` passes. Returns whether they all were. Blocks the thread.
    pub(crate) fn flush_blocking(&self, target: u64, timeout: Duration) -> bool {
        self.shared.progress.wait_blocking(target, timeout)
    }

    /// The async form of [`Transport::flush_blocking`]: the wait runs on the
    /// transport's runtime, so the caller's executor is neither blocked nor needs a
    /// timer of its own.
    pub(crate) async fn flush(&self, target: u64, timeout: Duration) -> bool {
        if self.shared.progress.finished() >= target {
            return true;
        }
        let shared = Arc::clone(&self.shared);
        let wait = self.handle.spawn(async move {
            tokio::time::timeout(timeout, shared.progress.wait(target))
                .await
                .is_ok()
        });
        match wait.await {
            Ok(done) => done,
            Err(_) => self.shared.progress.finished() >= target,
        }
    }

    /// Stops the workers: events still queued are dropped and counted, later events
    /// are dropped, and checks get [`NoDecision::Unavailable`]. The workers get at most
    /// `grace` to stop, so that the counters are final when the returned signal fires.
    ///
    /// The runtime is stopped on a thread of its own: waiting for a runtime to stop is
    /// not allowed inside async code, where the caller may well be.
    pub(crate) fn stop(&self, grace: Duration) -> Stopping {
        let runtime = self.close();

        let (done, stopped) = std::sync::mpsc::sync_channel(1);
        let (async_done, async_stopped) = tokio::sync::oneshot::channel();
        if let Some(runtime) = runtime {
            stop_on_own_thread(runtime, "capsule-shutdown", move |runtime| {
                runtime.shutdown_timeout(grace);
                let _ = done.send(());
                let _ = async_done.send(());
            });
        }
        Stopping {
            grace,
            stopped,
            async_stopped,
        }
    }
}

impl Transport {
    /// Refuses further work and hands over the runtime, if it still runs.
    fn close(&self) -> Option<Runtime> {
        self.closed.store(true, Ordering::Relaxed);
        self.runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The signal that the transport's workers have stopped.
pub(crate) struct Stopping {
    grace: Duration,
    stopped: std::sync::mpsc::Receiver<()>,
    async_stopped: tokio::sync::oneshot::Receiver<()>,
}

impl Stopping {
    /// Blocks until the workers stopped, a little past the grace period at most.
    pub(crate) fn wait_blocking(self) {
        let _ = self
            .stopped
            .recv_timeout(self.grace + Duration::from_millis(100));
    }

    /// Waits until the workers stopped; they take the grace period at most.
    pub(crate) async fn wait(self) {
        let _ = self.async_stopped.await;
    }
}

impl Drop for Transport {
    /// The last handle of the client is gone. Telemetry still queued is delivered in
    /// the background, for the telemetry timeout at most, on a thread of its own: the
    /// handle may be dropped inside async code, which must not wait for it.
    fn drop(&mut self) {
        let Some(runtime) = self.close() else {
            return;
        };
        let target = self.shared.counters.emitted_so_far();
        if self.shared.progress.finished() >= target {
            // Dropping a runtime waits for its tasks, and panics inside async code;
            // letting it go in the background does neither.
            runtime.shutdown_background();
            return;
        }

        let shared = Arc::clone(&self.shared);
        stop_on_own_thread(runtime, "capsule-drain", move |runtime| {
            let timeout = shared.config.telemetry_timeout;
            if !shared.progress.wait_blocking(target, timeout) {
                tracing::warn!(
                    "a Capsule client was dropped with telemetry still queued, and not all of \
                     it went out within {timeout:?}; call shutdown(..) before dropping the \
                     last handle of a client to know what was lost"
                );
            }
            runtime.shutdown_background();
        });
    }
}

/// Hands `runtime` to a new thread that runs `stop` on it: waiting for a runtime to stop
/// is not allowed inside async code, where the caller may well be. When no thread can
/// be started, the runtime is let go at once without waiting for its tasks.
fn stop_on_own_thread(runtime: Runtime, name: &str, stop: impl FnOnce(Runtime) + Send + 'static) {
    let (hand, take) = std::sync::mpsc::sync_channel::<Runtime>(1);
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if let Ok(runtime) = take.recv() {
                stop(runtime);
            }
        });
    let refused = match thread {
        Ok(_) => hand.send(runtime).err().map(|returned| returned.0),
        Err(err) => {
            tracing::warn!("Capsule could not start a thread to stop its worker: {err}");
            Some(runtime)
        }
    };
    if let Some(runtime) = refused {
        runtime.shutdown_background();
    }
}

/// A client that never follows redirects (a redirect could carry the token elsewhere)
/// and keeps at most `idle` connections per host.
fn http_client(idle: usize) -> Result<reqwest::Client, std::io::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(idle)
        .no_proxy()
        .build()
        .map_err(std::io::Error::other)
}

/// Aborts a check's request when the check is dropped before its answer, because the
/// caller stopped waiting (a timeout, a `select!`, a dropped tool call): the request
/// must not go on to reach the service later, after the events that followed it.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn event_ids_are_distinct_uuids() {
        let a = event_id();
        let b = event_id();
        assert_ne!(a, b);
        let text = a.to_str().unwrap();
        assert!(text.starts_with("evt-"));
        assert!(uuid::Uuid::parse_str(&text[4..]).is_ok(), "{text}");
    }
}
