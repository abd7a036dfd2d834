//! Client configuration, from the environment or from a builder.
//!
//! | variable               | meaning                                          |
//! |------------------------|--------------------------------------------------|
//! | `CAPSULE_URL`          | the tenant's Capsule host, e.g. `https://acme.capsule.example` |
//! | `CAPSULE_TOKEN`        | the bearer token (a JWT scoped to the tenant)    |
//! | `CAPSULE_AGENT_ID`     | the agent's stable id                            |
//! | `CAPSULE_AGENT_NAME`   | the agent's display name                         |
//! | `CAPSULE_USER_EMAIL`   | the user for events sent outside any session     |
//! | `CAPSULE_FAIL_CLOSED`  | `1` or `true` to block actions when no decision can be had |
//! | `CAPSULE_MODE`         | `enforce` (default), or `monitor`: report blocks, do not enforce |
//! | `CAPSULE_DEADLINE_MS`  | how long a check may take, in milliseconds (default 10 000) |
//!
//! With neither `CAPSULE_URL` nor a builder URL, the client is *disabled*: guarded
//! tools run unguarded and nothing is sent.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;

use crate::decision::{FailurePolicy, Mode};
use crate::event::{Agent, User};

/// The path of the events endpoint below the tenant's host.
pub(crate) const EVENTS_PATH: &str = "/v1/generic-webhook/hooks/events";

/// The scheme of the `Authorization` header, with the space that ends it.
const SCHEME: &str = "Bearer ";

/// A bearer token. Its `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token taken from a secrets manager or the environment. Surrounding
    /// whitespace and a leading `Bearer ` (a token copied with its header scheme) are
    /// taken off, so that the header never reads `Bearer Bearer ...`.
    pub fn new(secret: impl Into<String>) -> Self {
        let secret = secret.into();
        let trimmed = secret.trim();
        let bare = match trimmed.get(..SCHEME.len()) {
            Some(scheme) if scheme.eq_ignore_ascii_case(SCHEME) => trimmed[SCHEME.len()..].trim(),
            _ => trimmed,
        };
        Self(bare.to_owned())
    }

    /// The secret itself, for the `Authorization` header.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value, marked sensitive so that HTTP logging leaves
    /// it out.
    pub(crate) fn header(&self) -> Result<HeaderValue, ConfigError> {
        let mut value = HeaderValue::from_str(&format!("{SCHEME}{}", self.0))
            .map_err(|_| ConfigError::InvalidToken)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint URL could not be parsed.
    InvalidUrl(String),
    /// The endpoint is plain `http://` on a host that is not loopback.
    InsecureUrl(String),
    /// The URL holds a user name or password, which Capsule does not use.
    CredentialsInUrl(String),
    /// A URL was given without a token.
    MissingToken,
    /// The token holds characters that cannot go in an HTTP header.
    InvalidToken,
    /// A deadline of zero, which would fail every check without asking the service.
    ZeroTimeout(&'static str),
    /// An environment variable holds a value that cannot be used.
    InvalidVar {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl(detail) => write!(f, "the Capsule URL is not valid: {detail}"),
            Self::InsecureUrl(url) => write!(
                f,
                "refusing plain http for `{url}`: Capsule endpoints require https; \
                 use an https URL, or allow_insecure_http(true) for a trusted local endpoint"
            ),
            Self::CredentialsInUrl(url) => write!(
                f,
                "the Capsule URL holds a user name or password, which Capsule does not use and \
                 which would take the bearer token's place: use `{url}`, and put the token in \
                 CAPSULE_TOKEN or token()"
            ),
            Self::MissingToken => f.write_str(
                "a Capsule URL is set but no token: set CAPSULE_TOKEN, or call token() on the \
                 builder",
            ),
            Self::InvalidToken => f.write_str(
                "the Capsule token holds characters that cannot go in an HTTP header \
                 (a line break or a control character?): copy it again from the portal",
            ),
            Self::ZeroTimeout(setting) => write!(
                f,
                "{setting} is zero, which would fail every check without asking Capsule: \
                 give it a deadline above zero (the default is 10 s for decisions)"
            ),
            Self::InvalidVar { name, problem } => write!(f, "{name} is not usable: {problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where to send events and how to authenticate.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) events_url: Url,
    pub(crate) token: Token,
}

/// Everything a [`Client`](crate::Client) needs. Build it with [`Config::builder`] or
/// read it with [`Config::from_env`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) agent: Agent,
    pub(crate) default_user: User,
    pub(crate) blocking_timeout: Duration,
    pub(crate) telemetry_timeout: Duration,
    pub(crate) failure_policy: FailurePolicy,
    pub(crate) mode: Mode,
    pub(crate) queue: QueueLimits,
    pub(crate) max_field_bytes: usize,
    pub(crate) max_check_bytes: usize,
    pub(crate) retry: RetryPolicy,
}

/// How much telemetry may wait to be sent, and how many requests send it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueLimits {
    pub(crate) max_events: usize,
    pub(crate) max_bytes: usize,
    pub(crate) concurrency: usize,
}

/// How telemetry requests are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

impl Config {
    /// A builder with the defaults: no endpoint, 10 s for decisions, 5 s for telemetry,
    /// fail open, enforce blocks, a queue of 10 000 events and 16 MiB sent by 4
    /// concurrent requests, fields cut at 64 KiB, and 4 retries from 200 ms to 10 s.
    #[must_use]
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads the `CAPSULE_*` variables (see the module docs).
    ///
    /// # Errors
    /// Returns a [`ConfigError`] when a variable is set to something unusable.
    pub fn from_env() -> Result<Self, ConfigError> {
        ConfigBuilder::from_env()?.build()
    }

    /// Whether events are sent anywhere.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.endpoint.is_some()
    }

    /// The agent named on every event.
    #[must_use]
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

/// Builds a [`Config`].
///
/// ```
/// # use capsule_runtime as capsule;
/// use std::time::Duration;
/// use capsule::{Config, FailurePolicy};
///
/// let config = Config::builder()
///     .url("https://acme.capsule.example")
///     .token("a-jwt-from-your-secrets-manager")
///     .agent("support-agent", "Customer Support Agent")
///     .blocking_timeout(Duration::from_secs(3))
///     .failure_policy(FailurePolicy::Closed)
///     .build()?;
/// assert!(config.is_enabled());
/// # Ok::<(), capsule::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    url: Option<String>,
    token: Option<Token>,
    agent_id: String,
    agent_name: Option<String>,
    default_user: String,
    blocking_timeout: Duration,
    telemetry_timeout: Duration,
    failure_policy: FailurePolicy,
    mode: Mode,
    queue: QueueLimits,
    max_field_bytes: usize,
    max_check_bytes: usize,
    retry: RetryPolicy,
    allow_insecure_http: bool,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self {
            url: None,
            token: None,
            agent_id: "rust-agent".to_owned(),
            agent_name: None,
            default_user: "unknown@localhost".to_owned(),
            blocking_timeout: Duration::from_secs(10),
            telemetry_timeout: Duration::from_secs(5),
            failure_policy: FailurePolicy::Open,
            mode: Mode::Enforce,
            queue: QueueLimits {
                max_events: 10_000,
                max_bytes: 16 * 1024 * 1024,
                concurrency: 4,
            },
            max_field_bytes: 64 * 1024,
            max_check_bytes: 1024 * 1024,
            retry: RetryPolicy {
                max_retries: 4,
                base: Duration::from_millis(200),
                max: Duration::from_secs(10),
            },
            allow_insecure_http: false,
        }
    }
}

impl ConfigBuilder {
    /// A builder that starts from the `CAPSULE_*` environment variables; later calls
    /// override them.
    ///
    /// # Errors
    /// Returns a [`ConfigError`] when a variable is set to something unusable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut builder = Self::default();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());

        if let Some(url) = var("CAPSULE_URL") {
            builder.url = Some(url);
        }
        if let Some(token) = var("CAPSULE_TOKEN") {
            builder.token = Some(Token::new(token.trim()));
        }
        if let Some(id) = var("CAPSULE_AGENT_ID") {
            builder.agent_id = id;
        }
        if let Some(name) = var("CAPSULE_AGENT_NAME") {
            builder.agent_name = Some(name);
        }
        if let Some(email) = var("CAPSULE_USER_EMAIL") {
            builder.default_user = email;
        }
        if let Some(flag) = var("CAPSULE_FAIL_CLOSED") {
            builder.failure_policy = match flag.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => FailurePolicy::Closed,
                "0" | "false" | "no" => FailurePolicy::Open,
                other => {
                    return Err(ConfigError::InvalidVar {
                        name: "CAPSULE_FAIL_CLOSED",
                        problem: format!("expected true or false, found `{other}`"),
                    });
                }
            };
        }
        if let Some(mode) = var("CAPSULE_MODE") {
            builder.mode = match mode.trim().to_ascii_lowercase().as_str() {
                "enforce" => Mode::Enforce,
                "monitor" => Mode::Monitor,
                other => {
                    return Err(ConfigError::InvalidVar {
                        name: "CAPSULE_MODE",
                        problem: format!("expected enforce or monitor, found `{other}`"),
                    });
                }
            };
        }
        if let Some(millis) = var("CAPSULE_DEADLINE_MS") {
            let millis = millis
                .trim()
                .parse::<u64>()
                .map_err(|err| ConfigError::InvalidVar {
                    name: "CAPSULE_DEADLINE_MS",
                    problem: format!("expected a number of milliseconds: {err}"),
                })?;
            builder.blocking_timeout = Duration::from_millis(millis);
        }
        Ok(builder)
    }

    /// The tenant's Capsule host (`https://...`); events go to its events path. A URL that
    /// already ends with the events path is taken as it is.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The bearer token. Read it from a secrets manager or the environment.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Token::new(token));
        self
    }

    /// The agent's stable id and display name, named on every event.
    #[must_use]
    pub fn agent(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.agent_id = id.into();
        self.agent_name = Some(name.into());
        self
    }

    /// The user named on events sent outside any session.
    #[must_use]
    pub fn default_user(mut self, email: impl Into<String>) -> Self {
        self.default_user = email.into();
        self
    }

    /// How long a blocking check may take in all before the failure policy decides
    /// (default 10 s). [`CheckOptions::deadline`](crate::CheckOptions::deadline)
    /// overrides it for one kind of check.
    #[must_use]
    pub fn blocking_timeout(mut self, timeout: Duration) -> Self {
        self.blocking_timeout = timeout;
        self
    }

    /// How long one telemetry request may take.
    #[must_use]
    pub fn telemetry_timeout(mut self, timeout: Duration) -> Self {
        self.telemetry_timeout = timeout;
        self
    }

    /// What happens to an action when no decision can be had (default: fail open).
    #[must_use]
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    /// Whether blocks are enforced (default) or only reported ([`Mode::Monitor`]).
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How many telemetry events may wait to be sent (default 10 000); further events
    /// are dropped and counted rather than block the agent.
    #[must_use]
    pub fn queue_capacity(mut self, events: usize) -> Self {
        self.queue.max_events = events.max(1);
        self
    }

    /// How much memory waiting telemetry events may hold, estimated from the size of
    /// their fields (default 16 MiB); further events are dropped and counted.
    #[must_use]
    pub fn queue_max_bytes(mut self, bytes: usize) -> Self {
        self.queue.max_bytes = bytes.max(1);
        self
    }

    /// How many telemetry requests may be in flight at once (default 4). Events of one
    /// session always go out one after another, in order.
    #[must_use]
    pub fn telemetry_concurrency(mut self, requests: usize) -> Self {
        self.queue.concurrency = requests.clamp(1, 64);
        self
    }

    /// The longest a telemetry message (in bytes of text) or a tool's input or output
    /// in `tool_result` (in bytes of JSON) may be (default 64 KiB). A longer field is
    /// cut and marked as truncated, so that one huge value cannot fill the queue or be
    /// refused by the service. Blocking checks are never cut: the policy must see the
    /// whole call.
    #[must_use]
    pub fn max_field_bytes(mut self, bytes: usize) -> Self {
        self.max_field_bytes = bytes.max(256);
        self
    }

    /// The largest blocking check the client sends, in bytes of JSON (default 1 MiB).
    ///
    /// A larger call is not sent, and it is blocked under either failure policy, as is a
    /// call the service refuses as too large (`413`). Failing open protects the agent
    /// from an outage; here the service is up, and the size of the call is set by
    /// whoever wrote its arguments, so letting it through would let anyone skip the
    /// policy by padding an argument. Leave an argument that is legitimately large out
    /// of the check with `skip(...)`; monitor mode still lets the call run.
    #[must_use]
    pub fn max_check_bytes(mut self, bytes: usize) -> Self {
        self.max_check_bytes = bytes.max(1024);
        self
    }

    /// How many times a telemetry event is retried after a connection error, `408`,
    /// `429`, `502`, `503` or `504` (default 4). Other answers are not retried.
    #[must_use]
    pub fn telemetry_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// The wait before the first retry, doubling up to `max` (defaults 200 ms and 10 s).
    /// Each wait is shortened by a random part of up to a half, so that many agents do
    /// not retry in step; a `Retry-After` from the service is honoured instead.
    #[must_use]
    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.retry.base = base;
        self.retry.max = max.max(base);
        self
    }

    /// Allows a plain `http://` URL on a host that is not loopback. Tokens then cross
    /// the network unencrypted: use it only for a trusted local endpoint.
    #[must_use]
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Checks the settings and builds the configuration.
    ///
    /// # Errors
    /// Returns a [`ConfigError`] for an unparsable or insecure URL, a URL without a
    /// token, or a timeout of zero.
    pub fn build(self) -> Result<Config, ConfigError> {
        if self.blocking_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout(
                "the blocking timeout (CAPSULE_DEADLINE_MS)",
            ));
        }
        if self.telemetry_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("the telemetry timeout"));
        }

        let endpoint = match self.url {
            None => None,
            Some(url) => {
                let events_url = events_url(&url, self.allow_insecure_http)?;
                let token = self.token.ok_or(ConfigError::MissingToken)?;
                token.header()?;
                Some(Endpoint { events_url, token })
            }
        };

        let name = self.agent_name.unwrap_or_else(|| self.agent_id.clone());
        Ok(Config {
            endpoint,
            agent: Agent::new(self.agent_id, name),
            default_user: User::new(self.default_user),
            blocking_timeout: self.blocking_timeout,
            telemetry_timeout: self.telemetry_timeout,
            failure_policy: self.failure_policy,
            mode: self.mode,
            queue: self.queue,
            max_field_bytes: self.max_field_bytes,
            max_check_bytes: self.max_check_bytes,
            retry: self.retry,
        })
    }
}

/// `url` as text with any user name and password taken out, for error messages.
fn without_credentials(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

fn events_url(base: &str, allow_insecure_http: bool) -> Result<Url, ConfigError> {
    let parsed = Url::parse(base.trim()).map_err(|err| match err {
        url::ParseError::RelativeUrlWithoutBase => ConfigError::InvalidUrl(
            "it has no scheme: write it as https://host (or http:// for a local endpoint)"
                .to_owned(),
        ),
        other => ConfigError::InvalidUrl(other.to_string()),
    })?;

    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::CredentialsInUrl(without_credentials(&parsed)));
    }

    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&parsed) => {}
        "http" => return Err(ConfigError::InsecureUrl(parsed.to_string())),
        other => {
            return Err(ConfigError::InvalidUrl(format!(
                "unsupported scheme `{other}`: write it as https://host (or http:// for a \
                 local endpoint)"
            )));
        }
    }

    // The whole events URL, copied from the portal, is as good as the host alone.
    let mut url = parsed;
    let base_path = url.path().trim_end_matches('/');
    let path = if base_path.ends_with(EVENTS_PATH) {
        base_path.to_owned()
    } else {
        format!("{base_path}{EVENTS_PATH}")
    };
    url.set_path(&path);
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_that_ends_with_the_events_path_is_kept() {
        for given in [
            "https://acme.example/v1/generic-webhook/hooks/events",
            "https://acme.example/v1/generic-webhook/hooks/events/",
        ] {
            let url = events_url(given, false).unwrap();
            assert_eq!(
                url.as_str(),
                "https://acme.example/v1/generic-webhook/hooks/events",
                "{given}"
            );
        }
    }

    #[test]
    fn a_url_without_a_scheme_is_refused_with_the_fix() {
        let err = events_url("127.0.0.1:8787", false).unwrap_err();
        assert!(err.to_string().contains("https://host"), "{err}");
    }

    #[test]
    fn events_path_is_appended_to_the_host() {
        let url = events_url("https://acme.example/", false).unwrap();
        assert_eq!(
            url.as_str(),
            "https://acme.example/v1/generic-webhook/hooks/events"
        );
    }

    #[test]
    fn plain_http_only_for_loopback_unless_allowed() {
        assert!(events_url("http://127.0.0.1:8787", false).is_ok());
        assert!(events_url("http://localhost:8787", false).is_ok());
        assert!(matches!(
            events_url("http://acme.example", false),
            Err(ConfigError::InsecureUrl(_))
        ));
        assert!(events_url("http://acme.example", true).is_ok());
    }

    #[test]
    fn a_zero_deadline_is_refused() {
        let err = Config::builder()
            .blocking_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(err, ConfigError::ZeroTimeout(_)));
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused_without_showing_it() {
        let err = Config::builder()
            .url("https://acme.example")
            .token("s3cret\nx")
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::InvalidToken);
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn a_token_copied_with_its_scheme_is_the_same_token() {
        for copied in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            " Bearer  abc.def.ghi\n",
        ] {
            assert_eq!(Token::new(copied).expose(), "abc.def.ghi", "{copied:?}");
        }
        assert_eq!(Token::new("Bearerish.jwt").expose(), "Bearerish.jwt");
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_showing_them() {
        for (given, shown) in [
            ("https://user:s3cret@acme.example/", "https://acme.example/"),
            ("http://agent:s3cret@10.0.0.5/", "http://10.0.0.5/"),
        ] {
            let err = events_url(given, false).unwrap_err();
            assert_eq!(err, ConfigError::CredentialsInUrl(shown.to_owned()));
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn token_is_redacted() {
        let token = Token::new("s3cret");
        assert!(!format!("{token:?} {token}").contains("s3cret"));
    }
}
