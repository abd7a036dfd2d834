//! The client: asks for decisions on blocking events and queues telemetry.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, ConfigError, Token};
use crate::decision::{NoDecision, Verdict};
use crate::event::{Event, User};
use crate::session::{Session, SessionState};
use crate::stats::{Counters, Stats};
use crate::transport::{Job, LogGate, Transport};

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
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    transport: Option<Transport>,
    counters: Arc<Counters>,
    fail_gate: LogGate,
    fallback_session: OnceLock<Arc<SessionState>>,
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
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                counters,
                fail_gate: LogGate::new(),
                fallback_session: OnceLock::new(),
            }),
        })
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

    /// Replaces the bearer token of a running client; requests from now on use it.
    pub fn set_token(&self, token: impl Into<String>) {
        if let Some(transport) = &self.inner.transport {
            transport.set_token(Token::new(token));
        }
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Asks the service for a decision on a blocking event and applies the failure
    /// policy. Waits at most the configured blocking timeout.
    pub async fn check(&self, event: &Event) -> Verdict {
        self.check_after(event, None).await
    }

    /// Queues a telemetry event. Never waits and never fails: when the queue is full the
    /// event is dropped and counted in [`Stats::dropped`].
    pub fn emit(&self, event: Event) {
        self.emit_with(event, None);
    }

    /// Waits until every telemetry event emitted so far has been sent or given up on,
    /// or until `timeout` passes. Returns whether the queue was drained in time.
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

    fn emitted(&self) -> u64 {
        self.inner.counters.snapshot().emitted
    }

    pub(crate) fn emit_with(&self, event: Event, delivered: Option<watch::Sender<bool>>) {
        let Some(transport) = &self.inner.transport else {
            return;
        };

        self.inner.counters.emitted();
        if !transport.enqueue(Job { event, delivered }) {
            self.inner.counters.dropped();
            transport.forget_one();
            if self.inner.fail_gate.allow() {
                tracing::warn!(
                    "Capsule telemetry queue is full; events are being dropped and counted in \
                     Client::stats(). The endpoint is slow or down: check its health, or raise \
                     queue_capacity."
                );
            }
        }
    }

    pub(crate) async fn check_after(
        &self,
        event: &Event,
        after: Option<watch::Receiver<bool>>,
    ) -> Verdict {
        let Some(transport) = &self.inner.transport else {
            return Verdict::Allow { failed: None };
        };

        let outcome = transport
            .decide(event, self.inner.config.blocking_timeout, after)
            .await;
        let action = action_name(event);
        let verdict = Verdict::from_outcome(action, outcome, self.inner.config.failure_policy);

        match &verdict {
            Verdict::Allow {
                failed: Some(cause),
            } => {
                self.inner.counters.failed_open();
                self.warn_no_decision(action, cause, "allowing it (fail open)");
            }
            Verdict::Block(blocked) => {
                if let crate::BlockSource::FailClosed(cause) = blocked.source() {
                    self.inner.counters.failed_closed();
                    self.warn_no_decision(action, cause, "blocking it (fail closed)");
                }
            }
            Verdict::Allow { failed: None } => {}
        }
        verdict
    }

    fn warn_no_decision(&self, action: &str, cause: &NoDecision, outcome: &str) {
        if self.inner.fail_gate.allow() {
            tracing::warn!(
                action,
                "Capsule gave no decision ({cause}); {outcome}. Further failures are counted \
                 in Client::stats() and logged at most every 30 s."
            );
        }
    }

    /// The session used for guarded calls made outside any session.
    pub(crate) fn fallback_session(&self) -> &Arc<SessionState> {
        self.inner.fallback_session.get_or_init(|| {
            let user = self.inner.config.default_user.clone();
            Arc::new(SessionState::new(None, user, None))
        })
    }
}

fn action_name(event: &Event) -> &str {
    match &event.kind {
        crate::EventKind::ToolInvocation { name, .. }
        | crate::EventKind::ToolResult { name, .. } => name,
        other => other.name(),
    }
}
