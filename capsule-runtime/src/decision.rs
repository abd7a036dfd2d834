//! Decisions on blocking events, and what happens when no decision can be had.
//!
//! The service answers a blocking event with `allow` or `block`. When it cannot answer
//! (down, slow, erroring), the client's [`FailurePolicy`] decides instead: by default
//! the action goes ahead (fail open). A [`Blocked`] value says which of the two it was,
//! so a policy block is never mistaken for an outage.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// The service's answer to a blocking event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The action may go ahead.
    Allow,
    /// The action must not be performed.
    Block {
        /// Why, in words meant for people; it may be shown to the model.
        reason: String,
    },
}

impl Decision {
    /// Parses a decision body such as `{"apiVersion": "1", "response": {"action": "allow"}}`.
    ///
    /// # Errors
    /// Returns [`NoDecision::Unparseable`] when the body is empty, is not JSON of that
    /// shape, or names an action other than `allow` and `block`.
    pub fn from_body(body: &[u8]) -> Result<Self, NoDecision> {
        #[derive(Deserialize)]
        struct Envelope {
            response: Response,
        }

        #[derive(Deserialize)]
        struct Response {
            action: String,
            #[serde(default)]
            reason: Option<String>,
        }

        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(NoDecision::Unparseable("the answer is empty".to_owned()));
        }
        let envelope: Envelope = serde_json::from_slice(body).map_err(|err| {
            NoDecision::Unparseable(format!("the answer is not a decision: {err}"))
        })?;

        match envelope.response.action.as_str() {
            "allow" => Ok(Self::Allow),
            "block" => Ok(Self::Block {
                reason: envelope
                    .response
                    .reason
                    .unwrap_or_else(|| "blocked by policy (no reason given)".to_owned()),
            }),
            other => Err(NoDecision::Unparseable(format!(
                "unknown action `{}` in the decision",
                printable(other, MAX_MESSAGE_CHARS)
            ))),
        }
    }

    /// Reads an HTTP answer to a blocking event: a decision on a success status, the
    /// status and the service's message otherwise.
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> Result<Self, NoDecision> {
        if (200..300).contains(&status) {
            Self::from_body(body)
        } else {
            Err(NoDecision::Status {
                status,
                message: error_message(body),
            })
        }
    }
}

/// The most characters of a service's message that are kept.
const MAX_MESSAGE_CHARS: usize = 200;

/// The message in an error body: the `error`, `message` or `detail` field of a JSON
/// object, or a short plain-text body. HTML pages and other noise give `None`.
fn error_message(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.starts_with('<') {
        return None;
    }

    let message = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(fields)) => ["error", "message", "detail"]
            .iter()
            .find_map(|key| fields.get(*key).and_then(serde_json::Value::as_str))
            .map(str::to_owned)?,
        Ok(_) => return None,
        Err(_) if text.contains(['{', '}']) => return None,
        Err(_) => text.to_owned(),
    };
    Some(printable(&message, MAX_MESSAGE_CHARS))
}

/// `text` cut to `max` characters, with control characters replaced so that a
/// hostile answer cannot forge log lines.
fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Why a blocking event got no decision from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoDecision {
    /// No answer within the deadline.
    Timeout,
    /// The connection could not be made, or broke before a full answer.
    Connect(String),
    /// The service answered this HTTP status instead of a decision.
    Status {
        /// The HTTP status.
        status: u16,
        /// What the service said, when its body held a short message.
        message: Option<String>,
    },
    /// A success status whose body was not a decision the client understands (not
    /// JSON, empty, over the size cap, or an unknown action).
    Unparseable(String),
    /// The client's background worker is gone (for example after shutdown).
    Unavailable,
    /// An argument of the call could not be serialised, so whatever the service
    /// answered, it did not see the whole call.
    InvalidInput(String),
    /// The call is larger than
    /// [`ConfigBuilder::max_check_bytes`](crate::ConfigBuilder::max_check_bytes), so it
    /// was not sent. Such a call is blocked under either failure policy
    /// ([`BlockSource::Uncheckable`]).
    TooLarge {
        /// The size of the check, in bytes of JSON.
        bytes: usize,
        /// The limit it is over.
        limit: usize,
    },
    /// The call's JSON nests deeper than [`MAX_CHECK_DEPTH`], more than JSON parsers
    /// are made to take, so it was not sent. Such a call is blocked under either
    /// failure policy ([`BlockSource::Uncheckable`]).
    TooDeep {
        /// How deep the check's JSON nests, counting the event's own levels.
        depth: usize,
        /// The limit it is over.
        limit: usize,
    },
}

/// How deep the JSON of a blocking check may nest, counting the event's own levels (the
/// event, `tool`, `input`): well under the 128 levels that common JSON parsers refuse
/// beyond, so that no service turns the check away as malformed.
pub const MAX_CHECK_DEPTH: usize = 64;

impl NoDecision {
    /// The HTTP status, when the service answered one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the call itself cannot be checked as it is: over the client's size limit,
    /// refused by the service as too large (`413`), or nested too deep. Such a call is
    /// blocked under either failure policy, since its size and shape are in the hands
    /// of whoever wrote its arguments: failing open would let them skip the policy.
    #[must_use]
    pub fn is_uncheckable(&self) -> bool {
        matches!(
            self,
            Self::TooLarge { .. } | Self::TooDeep { .. } | Self::Status { status: 413, .. }
        )
    }

    /// The cause in a few words, with no addresses, error chains or service messages:
    /// the text of a fail-closed block, which may be shown to the model. The full
    /// cause stays in [`BlockSource::FailClosed`] and in the logs.
    #[must_use]
    pub fn summary(&self) -> String {
        match self {
            Self::Timeout => "the Capsule endpoint did not answer in time".to_owned(),
            Self::Connect(_) => "the Capsule endpoint could not be reached".to_owned(),
            Self::Status {
                status: 401 | 403, ..
            } => "the Capsule endpoint refused the client's token".to_owned(),
            Self::Status { status: 429, .. } => {
                "the Capsule endpoint is rate-limiting this client".to_owned()
            }
            Self::Status { status: 413, .. } => {
                "the call is too large for Capsule to check".to_owned()
            }
            Self::Status { status, .. } => format!("the Capsule endpoint answered HTTP {status}"),
            Self::Unparseable(_) => "the Capsule endpoint's answer was not a decision".to_owned(),
            Self::Unavailable => "the Capsule client is shut down".to_owned(),
            Self::InvalidInput(_) => "an argument of the call could not be serialised".to_owned(),
            Self::TooLarge { .. } => "the call is too large for Capsule to check".to_owned(),
            Self::TooDeep { .. } => "the call nests too deep for Capsule to check".to_owned(),
        }
    }

    /// The same cause with its own text replaced where it repeats `secret`, so that a
    /// service echoing the token cannot put it in a log line.
    pub(crate) fn redact(self, secret: &str) -> Self {
        // Shorter strings are not real tokens, and would mangle ordinary words.
        const SHORTEST_SECRET: usize = 8;

        let scrub = |text: String| {
            if secret.len() < SHORTEST_SECRET || !text.contains(secret) {
                text
            } else {
                text.replace(secret, "<redacted>")
            }
        };
        match self {
            Self::Connect(detail) => Self::Connect(scrub(detail)),
            Self::Status { status, message } => Self::Status {
                status,
                message: message.map(scrub),
            },
            Self::Unparseable(detail) => Self::Unparseable(scrub(detail)),
            other => other,
        }
    }
}

impl fmt::Display for NoDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("the Capsule endpoint did not answer in time"),
            Self::Connect(detail) => write!(f, "could not reach the Capsule endpoint: {detail}"),
            Self::Status { status, message } => {
                match status {
                    401 | 403 => write!(
                        f,
                        "the Capsule endpoint refused the token ({status}); regenerate it in \
                         the portal and set it with Client::set_token or CAPSULE_TOKEN"
                    )?,
                    400 => f.write_str(
                        "the Capsule endpoint rejected the event as malformed (400); \
                         please report this SDK bug",
                    )?,
                    429 => {
                        f.write_str("the Capsule endpoint is rate-limiting this client (429)")?;
                    }
                    413 => f.write_str(
                        "the Capsule endpoint refused the call as too large to check (413); \
                         leave large arguments out with skip(...)",
                    )?,
                    404 | 405 => write!(
                        f,
                        "the server at the Capsule URL has no events endpoint ({status}); set \
                         CAPSULE_URL (or Config::builder().url) to the tenant's Capsule host"
                    )?,
                    _ => write!(f, "the Capsule endpoint answered HTTP {status}")?,
                }
                match message {
                    Some(message) => write!(f, ": {message}"),
                    None => Ok(()),
                }
            }
            Self::Unparseable(detail) => {
                write!(f, "the Capsule endpoint's answer is unusable: {detail}")
            }
            Self::Unavailable => {
                f.write_str("the Capsule client's worker is not running (the client was shut down)")
            }
            Self::InvalidInput(detail) => write!(
                f,
                "the call could not be shown to Capsule in full ({detail}); make the argument \
                 serialisable, or leave it out with skip(...)"
            ),
            Self::TooDeep { depth, limit } => write!(
                f,
                "the call's JSON nests {depth} levels deep, over the {limit} Capsule checks; \
                 flatten the argument, or leave it out with skip(...)"
            ),
            Self::TooLarge { bytes, limit } => write!(
                f,
                "the call is {bytes} bytes, over the {limit} bytes Capsule checks; leave large \
                 arguments out with skip(...), or raise ConfigBuilder::max_check_bytes if the \
                 service takes more"
            ),
        }
    }
}

/// What to do with an action when the service gives no decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Let the action go ahead (the contract's default).
    #[default]
    Open,
    /// Block the action.
    Closed,
}

/// Whether blocks are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A block stops the action (the default).
    #[default]
    Enforce,
    /// Decisions are requested and reported, but a block only logs a line and counts in
    /// [`Stats::decisions_unenforced`](crate::Stats::decisions_unenforced): the action
    /// goes ahead with [`Verdict::Unenforced`]. Use it to roll the guard out and see
    /// what it would block before it blocks anything.
    Monitor,
}

/// Settings for one kind of check that override the client's: a tool whose calls need
/// a shorter deadline, or must fail closed while the rest of the agent fails open.
///
/// Every setting left `None` takes the client's value. The builder functions are
/// `const`, so the options can be a constant:
///
/// ```
/// # use capsule_runtime as capsule;
/// use std::time::Duration;
/// use capsule::{CheckOptions, FailurePolicy};
///
/// const PAYMENTS: CheckOptions = CheckOptions::new()
///     .deadline(Duration::from_secs(2))
///     .failure_policy(FailurePolicy::Closed);
/// assert_eq!(PAYMENTS.failure_policy, Some(FailurePolicy::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CheckOptions {
    /// How long the check may take in all before the failure policy decides.
    pub deadline: Option<Duration>,
    /// What happens when no decision can be had.
    pub failure_policy: Option<FailurePolicy>,
    /// Whether a block is enforced.
    pub mode: Option<Mode>,
}

impl CheckOptions {
    /// No overrides: the client's settings apply.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            deadline: None,
            failure_policy: None,
            mode: None,
        }
    }

    /// Overrides the deadline of the check.
    #[must_use]
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Overrides the failure policy.
    #[must_use]
    pub const fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = Some(policy);
        self
    }

    /// Overrides the mode.
    #[must_use]
    pub const fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }
}

/// Where a block came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockSource {
    /// The service decided `block`.
    Service,
    /// The service gave no decision and the failure policy is fail-closed.
    FailClosed(NoDecision),
    /// The call could not be checked as it is, being too large or nested too deep (see
    /// [`NoDecision::is_uncheckable`]); it is blocked under either failure policy.
    Uncheckable(NoDecision),
}

/// The error a guarded action returns when it was not allowed to run.
///
/// Convert it into your own error type with `From` (it implements
/// [`std::error::Error`], so `anyhow::Error` and `Box<dyn Error + Send + Sync>`
/// take it as they are). Its text names the action and the reason, and can be
/// shown to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    action: String,
    reason: String,
    source: BlockSource,
}

impl Blocked {
    /// A block of `action` (a tool name, or `user_message`) for `reason`.
    #[must_use]
    pub fn new(action: impl Into<String>, reason: impl Into<String>, source: BlockSource) -> Self {
        Self {
            action: action.into(),
            reason: reason.into(),
            source,
        }
    }

    /// The reason, as given by the service or by the failure policy.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The blocked action: the tool's name, or `user_message` for a prompt.
    #[must_use]
    pub fn action(&self) -> &str {
        &self.action
    }

    /// Whether the service decided this block, or the fail-closed policy did.
    #[must_use]
    pub fn source(&self) -> &BlockSource {
        &self.source
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` was blocked by Capsule: {}",
            self.action, self.reason
        )
    }
}

impl std::error::Error for Blocked {}

impl From<Blocked> for std::io::Error {
    fn from(blocked: Blocked) -> Self {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, blocked)
    }
}

/// The outcome of a check once the failure policy is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead. `failed` holds the cause when the service gave no decision and the
    /// action goes ahead only because the client fails open.
    Allow {
        /// Why there was no decision, when the client failed open.
        failed: Option<NoDecision>,
    },
    /// Do not perform the action.
    Block(Blocked),
    /// Go ahead although the check ended in this block: the client is in
    /// [`Mode::Monitor`], which reports blocks without enforcing them.
    Unenforced(Blocked),
}

impl Verdict {
    /// Applies `policy` to the service's answer for `action`.
    #[must_use]
    pub fn from_outcome(
        action: &str,
        outcome: Result<Decision, NoDecision>,
        policy: FailurePolicy,
    ) -> Self {
        match (outcome, policy) {
            (Ok(Decision::Allow), _) => Self::Allow { failed: None },
            (Ok(Decision::Block { reason }), _) => {
                Self::Block(Blocked::new(action, reason, BlockSource::Service))
            }
            (Err(cause), _) if cause.is_uncheckable() => {
                let reason = format!("{}, so it may not run", cause.summary());
                Self::Block(Blocked::new(
                    action,
                    reason,
                    BlockSource::Uncheckable(cause),
                ))
            }
            (Err(cause), FailurePolicy::Open) => Self::Allow {
                failed: Some(cause),
            },
            (Err(cause), FailurePolicy::Closed) => {
                let reason = format!(
                    "no decision from Capsule ({}), and this action fails closed",
                    cause.summary()
                );
                Self::Block(Blocked::new(action, reason, BlockSource::FailClosed(cause)))
            }
        }
    }

    /// Whether the action may go ahead.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Self::Block(_))
    }

    /// The block that stops the action, if any; `None` for every verdict that lets it
    /// go ahead.
    #[must_use]
    pub fn into_block(self) -> Option<Blocked> {
        match self {
            Self::Block(blocked) => Some(blocked),
            Self::Allow { .. } | Self::Unenforced(_) => None,
        }
    }

    /// The verdict under `mode`: in monitor mode a block becomes [`Verdict::Unenforced`].
    pub(crate) fn under(self, mode: Mode) -> Self {
        match (self, mode) {
            (Self::Block(blocked), Mode::Monitor) => Self::Unenforced(blocked),
            (verdict, _) => verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_action_is_no_decision() {
        let body = br#"{"apiVersion":"1","response":{"action":"maybe"}}"#;
        assert!(matches!(
            Decision::from_body(body),
            Err(NoDecision::Unparseable(_))
        ));
    }

    #[test]
    fn an_error_message_is_taken_from_json_or_short_text_only() {
        assert_eq!(
            error_message(br#"{"error": "field `user` is missing"}"#).as_deref(),
            Some("field `user` is missing")
        );
        assert_eq!(
            error_message(b"bad gateway\r\nx-forged: 1").as_deref(),
            Some("bad gateway  x-forged: 1")
        );
        assert_eq!(
            error_message(b"<html><body>502 Bad Gateway</body></html>"),
            None
        );
        assert_eq!(error_message(b"{\"truncated"), None);
        assert_eq!(error_message(b""), None);
    }

    #[test]
    fn a_long_message_is_cut() {
        let long = format!("{{\"message\": \"{}\"}}", "x".repeat(1000));
        let message = error_message(long.as_bytes()).unwrap();
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn monitor_mode_lets_a_block_through_and_keeps_it() {
        let blocked = Blocked::new("t", "no", BlockSource::Service);
        let verdict = Verdict::Block(blocked.clone()).under(Mode::Monitor);
        assert_eq!(verdict, Verdict::Unenforced(blocked));
        assert!(verdict.is_allowed());
        assert!(verdict.into_block().is_none());
    }

    #[test]
    fn fail_closed_block_is_not_a_service_block() {
        let verdict = Verdict::from_outcome("t", Err(status(503)), FailurePolicy::Closed);
        let Verdict::Block(blocked) = verdict else {
            panic!("expected a block")
        };
        assert_eq!(blocked.source(), &BlockSource::FailClosed(status(503)));
    }

    fn status(status: u16) -> NoDecision {
        NoDecision::Status {
            status,
            message: None,
        }
    }
}
