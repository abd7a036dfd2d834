//! Sessions: the RAII guard that frames an agent's conversation with one user.
//!
//! Making a [`Session`] queues `session_start`; dropping it queues `session_end`, or, when
//! calls made in its [`Session::scope`] are still running, as soon as the last of them
//! is done, so that no event of the session comes after its end.
//! Guarded tools find the session they belong to in this order:
//!
//! 1. the session whose [`Session::scope`] the call runs in (a task-local), then
//! 2. the most recently started session that is still alive, then
//! 3. for calls made outside any session, the default session of the global client, or,
//!    when that has no endpoint, of the most recently made client that has one: its
//!    `session_start` is queued on first use, its `session_end` when the guard from
//!    `init` is dropped, the client shuts down, or its last handle is dropped.
//!
//! The second rule makes the simple case work with no ceremony: one agent, one session
//! at a time. An agent that serves several users at once should run each
//! conversation inside `session.scope(...)`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::watch;

use crate::client::Client;
use crate::decision::{CheckOptions, Verdict};
use crate::event::{Event, EventKind, IntoText, User};
use crate::health::LogGate;

tokio::task_local! {
    static CURRENT: Scope;
}

/// Sessions of enabled clients that are alive, newest last.
static AMBIENT: Mutex<Vec<(u64, Scope)>> = Mutex::new(Vec::new());

/// How many sessions of enabled clients are alive; zero lets a guarded call skip the
/// lock on the list of live sessions.
static LIVE: AtomicUsize = AtomicUsize::new(0);

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// What every event of a session shares.
#[derive(Debug)]
pub(crate) struct SessionState {
    pub(crate) id: Arc<str>,
    pub(crate) user: User,
    /// Becomes `true` (or closes) once `session_start` was sent or given up on.
    started: Option<watch::Receiver<bool>>,
}

impl SessionState {
    pub(crate) fn new(
        id: Option<String>,
        user: User,
        started: Option<watch::Receiver<bool>>,
    ) -> Self {
        let fresh = || format!("sess-{}", uuid::Uuid::new_v4());
        let id = match id {
            Some(id) if id.trim().is_empty() => {
                let fresh = fresh();
                tracing::warn!(
                    session_id = %fresh,
                    "a session was given an empty id, which the service refuses; it runs \
                     under a fresh id instead. Pass a non-empty id to session_with_id."
                );
                fresh
            }
            Some(id) => id,
            None => fresh(),
        };
        Self {
            id: id.into(),
            user,
            started,
        }
    }
}

/// A session together with the client its events go to.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    pub(crate) client: Client,
    pub(crate) state: Arc<SessionState>,
    /// Shared by every scope of a [`Session`]; none for the default session.
    #[expect(dead_code, reason = "held only for its Drop, which ends the session")]
    pub(crate) ending: Option<Arc<Ending>>,
}

/// Queues a session's `session_end` when dropped. The guard and every scope taken from
/// it share one, so the end goes out once the guard is dropped and every call still
/// running in the session is done: no event of the session comes after its end.
#[derive(Debug)]
pub(crate) struct Ending(Scope);

impl Drop for Ending {
    fn drop(&mut self) {
        self.0.client.emit(self.0.event(EventKind::SessionEnd));
    }
}

impl Scope {
    /// An event of this session, stamped now.
    pub(crate) fn event(&self, kind: EventKind) -> Event {
        self.client.session_event(&self.state, kind)
    }

    /// Asks for a decision on a blocking event of this session, once the first attempt
    /// to send its `session_start` is over, so that the service sees the session begin
    /// before it is asked about it. That wait takes a quarter of the deadline at most.
    pub(crate) async fn check(&self, kind: EventKind, options: CheckOptions) -> Verdict {
        let event = self.event(kind);
        self.client
            .check_after(&event, self.state.started.clone(), options)
            .await
    }

    /// The session that a guarded call made now belongs to, if any client is enabled.
    pub(crate) fn current() -> Option<Self> {
        if let Ok(scope) = CURRENT.try_with(Clone::clone) {
            return scope.client.is_enabled().then_some(scope);
        }

        if LIVE.load(Ordering::Acquire) > 0 {
            let ambient = AMBIENT.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, scope)) = ambient.last() {
                if ambient.len() > 1 {
                    warn_ambiguous(ambient.len(), &scope.state.id);
                }
                return Some(scope.clone());
            }
        }

        let global = crate::global::client();
        let client = if global.is_enabled() {
            global.clone()
        } else {
            Client::latest_enabled()?
        };
        Some(Self {
            state: Arc::clone(client.fallback_session()),
            client,
            ending: None,
        })
    }

    /// Whether no guarded call can find an enabled client; a relaxed check, cheap
    /// enough for every call. A live session holds its client, so no enabled client
    /// means no live session either.
    #[inline]
    pub(crate) fn none_possible() -> bool {
        Client::none_enabled() && crate::global::known_disabled()
    }
}

/// Says, at most every 30 s, that a guarded call outside any scope was filed under the
/// newest of several live sessions, which may not be the one it belongs to.
fn warn_ambiguous(live: usize, chosen: &str) {
    static GATE: OnceLock<LogGate> = OnceLock::new();
    if GATE.get_or_init(LogGate::new).allow() {
        tracing::warn!(
            live_sessions = live,
            session_id = chosen,
            "a guarded call ran outside any session scope while several sessions are live; \
             it is filed under the newest one. Run each conversation inside \
             session.scope(...), and note that tokio::spawn starts a task outside it."
        );
    }
}

/// A live agent session with one user. Dropping it ends the session (after any call
/// still running in its scope).
///
/// ```no_run
/// # use capsule_runtime as capsule;
/// # async fn demo() {
/// let client = capsule::Client::from_env().expect("CAPSULE_* variables are valid");
/// let session = client.session("user@example.com");
///
/// if session.check_prompt("Look up order #12345").await.is_allowed() {
///     // ... run the agent; guarded tools carry this session's id ...
///     session.agent_message("Order #12345 has shipped.");
/// }
/// drop(session); // queues session_end
/// # }
/// ```
#[derive(Debug)]
pub struct Session {
    scope: Scope,
    key: Option<u64>,
}

impl Session {
    pub(crate) fn start(client: Client, user: User, id: Option<String>) -> Self {
        let enabled = client.is_enabled();
        let (delivered, started) = if enabled {
            let (sender, receiver) = watch::channel(false);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };

        let bare = Scope {
            client,
            state: Arc::new(SessionState::new(id, user, started)),
            ending: None,
        };
        bare.client
            .emit_with(bare.event(EventKind::SessionStart), delivered);
        let scope = Scope {
            ending: Some(Arc::new(Ending(bare.clone()))),
            ..bare
        };

        let key = enabled.then(|| {
            let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
            AMBIENT
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((key, scope.clone()));
            LIVE.fetch_add(1, Ordering::Release);
            key
        });
        Self { scope, key }
    }

    /// The session id sent with every event, `sess-<uuid>` unless you gave one.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.scope.state.id
    }

    /// The user this session acts for.
    #[must_use]
    pub fn user(&self) -> &User {
        &self.scope.state.user
    }

    /// The client the session's events go to.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.scope.client
    }

    /// Checks a user prompt before the agent processes it (`user_message`, blocking).
    ///
    /// On [`Verdict::Block`] the agent must not act on the prompt. When the service
    /// gives no decision, the client's failure policy decides.
    pub async fn check_prompt(&self, content: impl IntoText) -> Verdict {
        self.check_prompt_with(content, CheckOptions::new()).await
    }

    /// [`Session::check_prompt`] with settings of its own, such as a deadline.
    pub async fn check_prompt_with(
        &self,
        content: impl IntoText,
        options: CheckOptions,
    ) -> Verdict {
        let kind = EventKind::UserMessage {
            content: content.into_text(),
        };
        self.scope.check(kind, options).await
    }

    /// Reports a reply of the agent (`agent_message`, telemetry). Never waits.
    pub fn agent_message(&self, content: impl IntoText) {
        let event = self.scope.event(EventKind::AgentMessage {
            content: content.into_text(),
        });
        self.scope.client.emit(event);
    }

    /// Runs `future` with this session as the current one, so guarded tools called
    /// inside it carry this session's id even when other sessions are alive.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        CURRENT.scope(self.scope.clone(), future)
    }
}

impl Drop for Session {
    /// Takes the session off the live list. Its `session_end` is queued by the
    /// [`Ending`] it shares with its scopes, once the last of them is gone too.
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let removed = {
                let mut ambient = AMBIENT.lock().unwrap_or_else(PoisonError::into_inner);
                let at = ambient.iter().position(|(k, _)| *k == key);
                at.map(|at| ambient.remove(at))
            };
            drop(removed);
            LIVE.fetch_sub(1, Ordering::Release);
        }
    }
}
