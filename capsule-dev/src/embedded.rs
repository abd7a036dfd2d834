//! Starting a server from Rust: on its own thread with its own tokio runtime, so it works
//! from sync code and from any kind of async test alike.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::audit::{AuditLog, Recorded};
use crate::auth::TokenKeys;
use crate::error::DevError;
use crate::faults::Faults;
use crate::policy::{Policy, PolicyError};
use crate::reload;
use crate::server::{self, Shared};

/// How long [`RunningServer`] waits, when stopped, for open requests and then for its thread.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The lifetime of the token [`RunningServer::token`] returns.
const TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A local Capsule endpoint. Start one with [`DevServer::builder`].
#[derive(Debug)]
pub struct DevServer;

impl DevServer {
    /// A builder with the defaults: `127.0.0.1:0` (a free port), the sample policy, no
    /// faults, a secret generated at start, the audit log in memory only, and a 10 s
    /// decision timeout.
    #[must_use]
    pub fn builder() -> DevServerBuilder {
        DevServerBuilder::default()
    }
}

/// Settings of a server before it starts. Its `Debug` output never shows the secret.
#[derive(Debug)]
pub struct DevServerBuilder {
    addr: SocketAddr,
    policy: Option<Policy>,
    policy_file: Option<PathBuf>,
    reload_every: Duration,
    faults: Faults,
    secret: Option<Vec<u8>>,
    audit_file: Option<PathBuf>,
    timeout: Duration,
    max_body_bytes: usize,
    worker_threads: usize,
}

impl Default for DevServerBuilder {
    fn default() -> Self {
        DevServerBuilder {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            policy: None,
            policy_file: None,
            reload_every: Duration::from_millis(500),
            faults: Faults::none(),
            secret: None,
            audit_file: None,
            timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            worker_threads: 2,
        }
    }
}

impl DevServerBuilder {
    /// The address to listen on; port 0 picks a free port.
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The policy to decide by. A later [`policy_file`](Self::policy_file) wins.
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// A policy file to decide by, read at start (an invalid file stops the start) and
    /// reloaded whenever it changes.
    #[must_use]
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.policy_file = Some(path.into());
        self
    }

    /// How often the policy file is checked for changes; 500 ms by default.
    #[must_use]
    pub fn reload_every(mut self, every: Duration) -> Self {
        self.reload_every = every;
        self
    }

    /// Fault knobs in force from the first request.
    #[must_use]
    pub fn faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The HS256 secret for tokens, so tokens minted elsewhere with it are accepted. By
    /// default a random secret is generated at start. An empty secret is refused at start.
    #[must_use]
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(secret.as_ref().to_vec());
        self
    }

    /// A JSONL file that every accepted event is appended to, and that is read back at
    /// start. By default events are kept in memory only.
    #[must_use]
    pub fn audit_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_file = Some(path.into());
        self
    }

    /// How long a decision may take before the answer is `408`; 10 s by default.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest body accepted; larger ones get `413`. 1 MiB by default.
    #[must_use]
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Threads of the server's runtime; 2 by default.
    #[must_use]
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// Binds the address and starts serving on a background thread.
    ///
    /// # Errors
    ///
    /// The secret is empty, the address cannot be bound, the policy file is missing or
    /// invalid, the audit file cannot be opened, or the runtime cannot start.
    pub fn start(self) -> Result<RunningServer, DevError> {
        let keys = match &self.secret {
            Some(secret) if secret.is_empty() => return Err(DevError::EmptySecret),
            Some(secret) => TokenKeys::from_secret(secret),
            None => TokenKeys::generate(),
        };
        let (policy, watched_file) = match &self.policy_file {
            Some(path) => {
                let (policy, text) = Policy::read_file(path)?;
                if policy.rule_names().is_empty() {
                    tracing::warn!(
                        "policy {} has no rules: every event is allowed; add [[rule]] tables \
                         to block anything",
                        path.display()
                    );
                }
                (policy, Some((path.clone(), text)))
            }
            None => (self.policy.unwrap_or_else(Policy::sample), None),
        };
        let audit = match &self.audit_file {
            Some(path) => AuditLog::open(path).map_err(|source| DevError::Audit {
                path: path.clone(),
                source,
            })?,
            None => AuditLog::in_memory(),
        };
        let token = keys.mint("dev", TOKEN_TTL);

        let listener = std::net::TcpListener::bind(self.addr).map_err(|source| DevError::Bind {
            addr: self.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(DevError::Runtime)?;
        listener.set_nonblocking(true).map_err(DevError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name("capsule-dev-worker")
            .enable_all()
            .build()
            .map_err(DevError::Runtime)?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(DevError::Runtime)?
        };

        let shared = Arc::new(Shared::new(
            keys,
            audit,
            policy,
            self.faults,
            self.timeout,
            self.max_body_bytes,
        ));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let thread_shared = Arc::clone(&shared);
        let reload_every = self.reload_every;
        let thread = std::thread::Builder::new()
            .name("capsule-dev-server".into())
            .spawn(move || {
                runtime.block_on(async {
                    let watcher = watched_file.map(|(path, text)| {
                        let shared = Arc::clone(&thread_shared);
                        tokio::spawn(reload::watch_policy(path, text, shared, reload_every))
                    });
                    let router = server::router(Arc::clone(&thread_shared));
                    let stop = async {
                        let _ = stop_rx.await;
                    };
                    server::serve(listener, router, stop, STOP_GRACE).await;
                    if let Some(watcher) = watcher {
                        watcher.abort();
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(200));
                if let Err(err) = thread_shared.audit.sync() {
                    tracing::warn!("cannot sync the audit log at shutdown: {err}");
                }
                let _ = done_tx.send(());
            })
            .map_err(DevError::Runtime)?;

        Ok(RunningServer {
            shared,
            addr,
            token,
            stop: Some(stop_tx),
            done: done_rx,
            thread: Some(thread),
        })
    }
}

/// A server that is running. Dropping it stops it: open requests get a few seconds to
/// finish, the audit log is synced, and the thread is joined. The drop returns within
/// about six seconds even if a request hangs.
///
/// ```
/// use capsule_dev::DevServer;
///
/// let server = DevServer::builder().start()?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// assert!(server.events().is_empty());
/// server.shutdown();
/// # Ok::<(), capsule_dev::DevError>(())
/// ```
pub struct RunningServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    token: String,
    stop: Option<oneshot::Sender<()>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// The base URL, e.g. `http://127.0.0.1:41234`, without a path or trailing slash.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The full URL of the events endpoint.
    #[must_use]
    pub fn events_url(&self) -> String {
        format!("{}{}", self.url(), server::EVENTS_PATH)
    }

    /// The address the server listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A valid bearer token for this server, for the tenant `dev`, valid for 24 hours.
    #[must_use]
    pub fn token(&self) -> String {
        self.token.clone()
    }

    /// Mints another token for `tenant`, valid for `ttl`.
    #[must_use]
    pub fn mint_token(&self, tenant: &str, ttl: Duration) -> String {
        self.shared.keys.mint(tenant, ttl)
    }

    /// The keys of this server, to mint tokens with any expiry (an expired one included).
    #[must_use]
    pub fn token_keys(&self) -> &TokenKeys {
        &self.shared.keys
    }

    /// Every accepted event, in arrival order (with an audit file, those of earlier runs
    /// first).
    #[must_use]
    pub fn events(&self) -> Vec<Recorded> {
        self.shared.audit.with_events(<[Recorded]>::to_vec)
    }

    /// Forgets the events in memory; an audit file keeps them.
    pub fn clear_events(&self) {
        self.shared.audit.clear();
    }

    /// Replaces the fault knobs; the next request sees them.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// The fault knobs in force.
    #[must_use]
    pub fn faults(&self) -> Faults {
        (*self.shared.faults()).clone()
    }

    /// Replaces the policy; the next request sees it. A watched policy file that changes
    /// afterwards replaces it again.
    pub fn set_policy(&self, policy: Policy) {
        self.shared.set_policy(policy);
    }

    /// Why the latest change of the watched policy file was refused (the rules in force
    /// stayed), or `None` when it was taken or there was none.
    #[must_use]
    pub fn policy_reload_error(&self) -> Option<PolicyError> {
        self.shared.reload_error()
    }

    /// The names of the rules in force, in order.
    #[must_use]
    pub fn policy_rule_names(&self) -> Vec<String> {
        self.shared
            .policy()
            .rule_names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Stops the server; the same as dropping it.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl fmt::Debug for RunningServer {
    /// The address only: the token stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The thread says it is done, or hangs up by ending early; either way it can be
        // joined without waiting long.
        if let Err(mpsc::RecvTimeoutError::Timeout) = self.done.recv_timeout(STOP_GRACE * 2) {
            tracing::warn!(
                "capsule-dev server on {} did not stop within {:?}; leaving its thread behind",
                self.addr,
                STOP_GRACE * 2
            );
        } else if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
