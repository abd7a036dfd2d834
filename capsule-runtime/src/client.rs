//! The client: asks for decisions on blocking events and queues telemetry.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::config::{Config, ConfigError, Token};
use crate::decision::{CheckOptions, FailurePolicy, MAX_CHECK_DEPTH, NoDecision, Verdict};
use crate::event::{Event, EventKind, Timestamp, User};
use crate::health::Health;
use crate::session::{Session, SessionState};
use crate::stats::{Cause, Counters, Stats};
use crate::transport::Transport;

/// Why a client could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused.
    Config(ConfigError),
    /// The client's background runtime could not start.
    Start(std::io::Error),
    /// [`init`](crate::init) was called after the global client already existed.
    AlreadyInitialized,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(err) => err.fmt(f),
            Self::Start(err) => write!(f, "the Capsule client could not start its worker: {err}"),
            Self::AlreadyInitialized => f.write_str(
                "the global Capsule client already exists: call capsule::init once, \
                 before the first guarded call",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(err) => Some(err),
            Self::Start(err) => Some(err),
            Self::AlreadyInitialized => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Self::Config(err)
    }
}

/// A handle to a Capsule endpoint. Cheap to clone; clones share one connection pool,
/// one telemetry queue and one set of counters.
///
/// A client made from a configuration without an endpoint is *disabled*: checks allow
/// at once and telemetry goes nowhere.
///
/// Nothing a client does can stall or crash the agent: a check ends within its
/// deadline whatever the endpoint does, telemetry never waits for the network, and
/// every failure is counted in [`Client::stats`] and logged at most every 30 s.
///
/// When the last handle is dropped, telemetry still queued goes out in the background
/// for up to the telemetry timeout (5 s by default); call [`Client::shutdown`] first to
/// wait for it and learn what was lost.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    transport: Option<Transport>,
    counters: Arc<Counters>,
    decisions: Health,
    fallback_session: OnceLock<Arc<SessionState>>,
    fallback_ended: AtomicBool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("enabled", &self.is_enabled())
            .field("agent", self.inner.config.agent())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`; it starts a small background runtime when the
    /// configuration names an endpoint.
    ///
    /// # Errors
    /// Returns [`Error::Start`] when the background runtime cannot start.
    pub fn new(config: Config) -> Result<Self, Error> {
        let counters = Arc::new(Counters::default());
        let transport = Transport::start(&config, Arc::clone(&counters)).map_err(Error::Start)?;
        let inner = Arc::new(Inner {
            config,
            transport,
            counters,
            decisions: Health::new(),
            fallback_session: OnceLock::new(),
            fallback_ended: AtomicBool::new(false),
        });
        if inner.transport.is_some() {
            ENABLED_COUNT.fetch_add(1, Ordering::Release);
            lock_enabled().push(Arc::downgrade(&inner));
        }
        Ok(Self { inner })
    }

    /// Whether no client with an endpoint is alive; one relaxed load.
    #[inline]
    pub(crate) fn none_enabled() -> bool {
        ENABLED_COUNT.load(Ordering::Relaxed) == 0
    }

    /// The most recently made client with an endpoint that is still alive.
    pub(crate) fn latest_enabled() -> Option<Self> {
        lock_enabled()
            .iter()
            .rev()
            .find_map(Weak::upgrade)
            .map(|inner| Self { inner })
    }

    /// A client configured from the `CAPSULE_*` environment variables.
    ///
    /// # Errors
    /// Returns an [`Error`] for unusable variables or when the runtime cannot start.
    pub fn from_env() -> Result<Self, Error> {
        Self::new(Config::from_env()?)
    }

    /// A client that sends nothing and allows everything.
    #[must_use]
    pub fn disabled() -> Self {
        let config = Config::builder().build().unwrap_or_else(|_| unreachable!());
        Self::new(config).unwrap_or_else(|_| unreachable!())
    }

    /// Whether this client talks to an endpoint.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.inner.transport.is_some()
    }

    /// The configuration the client was made with.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Starts a session for `user`: `session_start` is queued now, `session_end` when
    /// the returned guard is dropped.
    pub fn session(&self, user: impl Into<User>) -> Session {
        Session::start(self.clone(), user.into(), None)
    }

    /// Starts a session with an id of your own (for example one your agent framework
    /// already has).
    pub fn session_with_id(&self, id: impl Into<String>, user: impl Into<User>) -> Session {
        Session::start(self.clone(), user.into(), Some(id.into()))
    }

    /// Replaces the bearer token of a running client; requests from now on use it,
    /// with no restart.
    ///
    /// # Errors
    /// Returns [`ConfigError::InvalidToken`] when the token cannot go in an HTTP
    /// header; the client keeps the token it had.
    pub fn set_token(&self, token: impl Into<String>) -> Result<(), ConfigError> {
        match &self.inner.transport {
            Some(transport) => transport.set_token(Token::new(token)),
            None => Ok(()),
        }
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Asks the service for a decision on a blocking event and applies the failure
    /// policy and the mode. Waits at most the configured deadline
    /// ([`ConfigBuilder::blocking_timeout`](crate::ConfigBuilder::blocking_timeout)).
    pub async fn check(&self, event: &Event) -> Verdict {
        self.check_after(event, None, CheckOptions::new()).await
    }

    /// [`Client::check`] with settings of its own, for example a shorter deadline or
    /// fail-closed for one sensitive tool.
    pub async fn check_with(&self, event: &Event, options: CheckOptions) -> Verdict {
        self.check_after(event, None, options).await
    }

    /// Queues a telemetry event. Never waits and never fails: when the queue is full the
    /// event is dropped and counted in [`Stats::dropped_by`]. Fields longer than
    /// [`ConfigBuilder::max_field_bytes`](crate::ConfigBuilder::max_field_bytes) are cut
    /// and marked.
    pub fn emit(&self, event: Event) {
        self.emit_with(event, None);
    }

    /// Waits until the telemetry events emitted before this call have been sent or
    /// given up on, or until `timeout` passes, whichever is first; it returns within
    /// `timeout` even when the endpoint never answers. Returns whether they were all
    /// handled.
    ///
    /// It counts events, not particular ones: while other tasks keep emitting, it can
    /// return once as many events as were waiting have finished.
    pub async fn flush(&self, timeout: Duration) -> bool {
        match &self.inner.transport {
            Some(transport) => transport.flush(self.emitted(), timeout).await,
            None => true,
        }
    }

    /// The blocking form of [`Client::flush`], for `Drop` and plain `main` functions.
    /// It blocks the calling thread for at most `timeout`.
    #[must_use = "false means some events were still in flight"]
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        match &self.inner.transport {
            Some(transport) => transport.flush_blocking(self.emitted(), timeout),
            None => true,
        }
    }

    /// Flushes, then stops the client's workers, all within `timeout`. Events still
    /// queued then are dropped and counted (`dropped_by.shut_down`); later events are
    /// dropped the same way, and later checks get [`NoDecision::Unavailable`], which the
    /// failure policy turns into allow or block. Every clone of the client is stopped.
    /// Returns whether the queue was drained.
    pub async fn shutdown(&self, timeout: Duration) -> bool {
        let Some(transport) = &self.inner.transport else {
            return true;
        };
        self.end_fallback_session();
        let started = Instant::now();
        let drained = transport.flush(self.emitted(), flush_share(timeout)).await;
        transport
            .stop(timeout.saturating_sub(started.elapsed()))
            .wait()
            .await;
        drained
    }

    /// The blocking form of [`Client::shutdown`].
    #[must_use = "false means some events were dropped at shutdown"]
    pub fn shutdown_blocking(&self, timeout: Duration) -> bool {
        let Some(transport) = &self.inner.transport else {
            return true;
        };
        self.end_fallback_session();
        let started = Instant::now();
        let drained = transport.flush_blocking(self.emitted(), flush_share(timeout));
        transport
            .stop(timeout.saturating_sub(started.elapsed()))
            .wait_blocking();
        drained
    }

    fn emitted(&self) -> u64 {
        self.inner.counters.emitted_so_far()
    }

    pub(crate) fn emit_with(&self, event: Event, delivered: Option<watch::Sender<bool>>) {
        self.inner.emit_with(event, delivered);
    }

    pub(crate) async fn check_after(
        &self,
        event: &Event,
        after: Option<watch::Receiver<bool>>,
        options: CheckOptions,
    ) -> Verdict {
        let Some(transport) = &self.inner.transport else {
            return Verdict::Allow { failed: None };
        };
        let config = &self.inner.config;
        let deadline = options.deadline.unwrap_or(config.blocking_timeout);
        let policy = options.failure_policy.unwrap_or(config.failure_policy);
        let mode = options.mode.unwrap_or(config.mode);

        let outcome = match encode(event, config.max_check_bytes) {
            Ok(body) => transport.decide(body, deadline, after).await,
            Err(failure) => Err(failure),
        };

        let action = action_name(event);
        match &outcome {
            Ok(_) => self.inner.decisions.success(|| {
                tracing::info!("Capsule decisions are getting through again");
            }),
            Err(cause) => self.no_decision(action, cause, policy),
        }

        let verdict = Verdict::from_outcome(action, outcome, policy).under(mode);
        if let Verdict::Unenforced(blocked) = &verdict {
            self.inner.counters.unenforced();
            tracing::info!(
                action,
                "Capsule would have blocked this action, but monitor mode lets it run: {}",
                blocked.reason()
            );
        }
        verdict
    }

    /// The verdict for a check that cannot count as decided, whatever the service said:
    /// the failure policy decides, and the failure is counted and logged.
    pub(crate) fn undecided(
        &self,
        action: &str,
        cause: NoDecision,
        options: CheckOptions,
    ) -> Verdict {
        let config = &self.inner.config;
        let policy = options.failure_policy.unwrap_or(config.failure_policy);
        let mode = options.mode.unwrap_or(config.mode);
        self.no_decision(action, &cause, policy);
        Verdict::from_outcome(action, Err(cause), policy).under(mode)
    }

    fn no_decision(&self, action: &str, cause: &NoDecision, policy: FailurePolicy) {
        let counters = &self.inner.counters;
        if cause.is_uncheckable() {
            // Not a sign of the endpoint's health, and each one matters: no rate limit.
            counters.failed_closed(Cause::of(cause));
            tracing::warn!(
                action,
                "Capsule cannot check this call ({cause}); blocking it"
            );
            return;
        }
        let outcome = match policy {
            FailurePolicy::Open => {
                counters.failed_open(Cause::of(cause));
                "allowing it (fail open)"
            }
            FailurePolicy::Closed => {
                counters.failed_closed(Cause::of(cause));
                "blocking it (fail closed)"
            }
        };
        self.inner.decisions.failure(|unlogged| {
            tracing::warn!(
                action,
                unlogged_failures = unlogged,
                "Capsule gave no decision ({cause}); {outcome}. Check CAPSULE_URL, the token \
                 and the endpoint's health. Further failures are counted in Client::stats() \
                 and logged at most every 30 s."
            );
        });
    }

    /// The session used for guarded calls made outside any session. It starts, with its
    /// `session_start`, on first use; it ends, with its `session_end`, when the client
    /// shuts down, its last handle is dropped, or the guard from `init` is dropped.
    pub(crate) fn fallback_session(&self) -> &Arc<SessionState> {
        let inner = &self.inner;
        inner.fallback_session.get_or_init(|| {
            let user = inner.config.default_user.clone();
            let (delivered, started) = watch::channel(false);
            let state = Arc::new(SessionState::new(None, user, Some(started)));
            let start = inner.session_event(&state, EventKind::SessionStart);
            inner.emit_with(start, Some(delivered));
            state
        })
    }

    /// Queues the `session_end` of the session for calls made outside any session, once,
    /// if that session was ever used.
    pub(crate) fn end_fallback_session(&self) {
        self.inner.end_fallback_session();
    }

    /// An event of the session `state`, from this client's agent, stamped now.
    pub(crate) fn session_event(&self, state: &SessionState, kind: EventKind) -> Event {
        self.inner.session_event(state, kind)
    }
}

impl Inner {
    fn emit_with(&self, mut event: Event, delivered: Option<watch::Sender<bool>>) {
        let Some(transport) = &self.transport else {
            return;
        };

        self.counters.emitted();
        let limit = self.config.max_field_bytes;
        if event.kind.exceeds(limit) {
            event.kind.truncate(limit);
        }

        if let Err(cause) = transport.enqueue(event, delivered) {
            self.counters.dropped(cause);
            transport.forget_one();
            transport.warn_dropped(cause);
        }
    }

    fn end_fallback_session(&self) {
        let Some(state) = self.fallback_session.get() else {
            return;
        };
        if !self.fallback_ended.swap(true, Ordering::Relaxed) {
            self.emit_with(self.session_event(state, EventKind::SessionEnd), None);
        }
    }

    fn session_event(&self, state: &SessionState, kind: EventKind) -> Event {
        Event {
            session_id: Arc::clone(&state.id),
            timestamp: Timestamp::now(),
            agent: self.config.agent().clone(),
            user: state.user.clone(),
            kind,
        }
    }
}

impl Drop for Inner {
    /// The last handle is gone: the default session ends, and the client leaves the
    /// list that calls outside any session pick from. Queued telemetry is then
    /// delivered in the background as the transport goes.
    fn drop(&mut self) {
        if self.transport.is_none() {
            return;
        }
        self.end_fallback_session();
        lock_enabled().retain(|client| client.strong_count() > 0);
        ENABLED_COUNT.fetch_sub(1, Ordering::Release);
    }
}

/// Clients with an endpoint, oldest first: a guarded call made outside any session,
/// while the global client is disabled, goes to the newest of them.
static ENABLED: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

/// How many clients with an endpoint are alive; zero lets guarded tools skip every
/// lookup while the global client is disabled too.
static ENABLED_COUNT: AtomicUsize = AtomicUsize::new(0);

fn lock_enabled() -> MutexGuard<'static, Vec<Weak<Inner>>> {
    ENABLED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The part of a shutdown's time given to flushing; the rest lets the workers stop.
fn flush_share(timeout: Duration) -> Duration {
    timeout.saturating_sub((timeout / 10).min(Duration::from_millis(200)))
}

/// The request body of a blocking event, whole: a field cut short would hide from the
/// policy exactly what it must judge. A body over `limit` bytes, or nested deeper than
/// [`MAX_CHECK_DEPTH`], is not sent at all.
fn encode(event: &Event, limit: usize) -> Result<Bytes, NoDecision> {
    let body = serde_json::to_vec(event)
        .map_err(|err| NoDecision::Unparseable(format!("the event did not encode: {err}")))?;
    if body.len() > limit {
        return Err(NoDecision::TooLarge {
            bytes: body.len(),
            limit,
        });
    }
    let depth = nesting_depth(&body);
    if depth > MAX_CHECK_DEPTH {
        return Err(NoDecision::TooDeep {
            depth,
            limit: MAX_CHECK_DEPTH,
        });
    }
    Ok(Bytes::from(body))
}

/// How deep objects and arrays nest in `json`, which `serde_json` wrote (so it is valid).
fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0_usize, 0_usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn action_name(event: &Event) -> &str {
    match &event.kind {
        crate::EventKind::ToolInvocation { name, .. }
        | crate::EventKind::ToolResult { name, .. } => name,
        other => other.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_depth_counts_objects_and_arrays_but_not_brackets_in_strings() {
        assert_eq!(nesting_depth(b"1"), 0);
        assert_eq!(nesting_depth(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(nesting_depth(br#"{"a":"[[[{{{"}"#), 1);
        assert_eq!(nesting_depth(br#"{"a":"quote \" [[[ \\","b":[[]]}"#), 3);
    }
}
