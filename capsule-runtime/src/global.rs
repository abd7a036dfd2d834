//! The process-wide client that guarded tools use outside an explicit session.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::client::{Client, Error};
use crate::config::Config;

static GLOBAL: OnceLock<Client> = OnceLock::new();

const UNKNOWN: u8 = 0;
const DISABLED: u8 = 1;
const ENABLED: u8 = 2;

/// Whether the global client exists and is enabled, readable without a lock.
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Makes the global client from `config`. Call it once, early in `main`, and keep the
/// returned guard alive: dropping it flushes queued telemetry (for at most 5 s).
///
/// Without `init`, the global client is made from the `CAPSULE_*` environment
/// variables on first use.
///
/// ```no_run
/// # use capsule_runtime as capsule;
/// let config = capsule::Config::from_env()?;
/// let _capsule = capsule::init(config)?;
/// // ... run the agent ...
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Returns [`Error::AlreadyInitialized`] when the global client exists already (from an
/// earlier `init` or a guarded call made before it), or [`Error::Start`] when the
/// client's background runtime cannot start.
pub fn init(config: Config) -> Result<InitGuard, Error> {
    let client = Client::new(config)?;
    GLOBAL
        .set(client.clone())
        .map_err(|_| Error::AlreadyInitialized)?;
    record_state(&client);
    if !client.is_enabled() {
        warn_unconfigured();
    }
    Ok(InitGuard {
        client,
        flush_timeout: Duration::from_secs(5),
    })
}

/// The global client, made from the environment on first use.
///
/// When the environment names no endpoint, the client is disabled and one line is
/// logged saying so; guarded tools then run unguarded. A client made here has no
/// [`InitGuard`] to flush it, so telemetry still queued when `main` returns is lost;
/// one line says so, and how to keep it.
pub fn client() -> &'static Client {
    let client = GLOBAL.get_or_init(|| match Client::from_env() {
        Ok(client) => {
            if client.is_enabled() {
                tracing::warn!(
                    "Capsule's client was made from the environment on first use, with no \
                     guard to flush it: telemetry still queued when the program exits is \
                     lost. Call capsule::init(Config::from_env()?) early in main and keep \
                     the guard it returns until the agent ends."
                );
            } else {
                warn_unconfigured();
            }
            client
        }
        Err(err) => {
            tracing::error!(
                "Capsule is disabled because its configuration is not usable: {err}. \
                 Guarded tools run without checks until it is fixed."
            );
            Client::disabled()
        }
    });
    record_state(client);
    client
}

/// The one line that says guarded tools run without checks.
fn warn_unconfigured() {
    tracing::warn!(
        "Capsule is not configured (no CAPSULE_URL): guarded tools run without checks. \
         Set CAPSULE_URL and CAPSULE_TOKEN, or give the builder a url and a token."
    );
}

/// Whether the global client is known to be disabled, without making it.
#[inline]
pub(crate) fn known_disabled() -> bool {
    STATE.load(Ordering::Relaxed) == DISABLED
}

fn record_state(client: &Client) {
    let state = if client.is_enabled() {
        ENABLED
    } else {
        DISABLED
    };
    STATE.store(state, Ordering::Relaxed);
}

/// Keeps the global client's telemetry flowing until dropped; dropping it waits (at
/// most the flush timeout) for queued events to be sent.
///
/// That wait blocks the thread that drops the guard. Inside an async runtime, where
/// blocking stalls the runtime's other tasks, call
/// `guard.client().shutdown(deadline).await` before the guard goes out of scope: the
/// drop then has nothing left to wait for.
#[derive(Debug)]
#[must_use = "dropping the guard at once flushes at once; keep it alive until the agent ends"]
pub struct InitGuard {
    client: Client,
    flush_timeout: Duration,
}

impl InitGuard {
    /// How long dropping the guard may wait for queued telemetry (default 5 s).
    pub fn set_flush_timeout(&mut self, timeout: Duration) {
        self.flush_timeout = timeout;
    }

    /// The global client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        self.client.end_fallback_session();
        if !self.client.flush_blocking(self.flush_timeout) {
            tracing::warn!(
                "Capsule could not send all queued telemetry within {:?}; the rest is lost. \
                 The endpoint is slow or down.",
                self.flush_timeout
            );
        }
    }
}
