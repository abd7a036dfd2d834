//! Decisions on blocking events, and what happens when no decision can be had.
//!
//! The service answers a blocking event with `allow` or `block`. When it cannot answer
//! (down, slow, erroring), the client's [`FailurePolicy`] decides instead: by default
//! the action goes ahead (fail open). A [`Blocked`] value says which of the two it was,
//! so a policy block is never mistaken for an outage.

use std::fmt;

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
    /// Returns [`NoDecision::Malformed`] when the body is not JSON of that shape or names
    /// an action other than `allow` and `block`.
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

        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|err| NoDecision::Malformed(format!("decision body is not valid: {err}")))?;

        match envelope.response.action.as_str() {
            "allow" => Ok(Self::Allow),
            "block" => Ok(Self::Block {
                reason: envelope
                    .response
                    .reason
                    .unwrap_or_else(|| "blocked by policy (no reason given)".to_owned()),
            }),
            other => Err(NoDecision::Malformed(format!(
                "unknown action `{other}` in decision"
            ))),
        }
    }
}

/// Why a blocking event got no decision from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoDecision {
    /// No answer within the deadline.
    Timeout,
    /// The connection could not be made or broke before an answer.
    Connect(String),
    /// The service answered with this HTTP status instead of a decision.
    Status(u16),
    /// The answer was not a decision the client understands.
    Malformed(String),
    /// The client's background worker is gone (for example after shutdown).
    Unavailable,
}

impl fmt::Display for NoDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("the Capsule endpoint did not answer in time"),
            Self::Connect(detail) => write!(f, "could not reach the Capsule endpoint: {detail}"),
            Self::Status(401) => f.write_str(
                "the Capsule endpoint refused the token (401); regenerate it in the portal",
            ),
            Self::Status(400) => f.write_str(
                "the Capsule endpoint rejected the event as malformed (400); \
                 please report this SDK bug",
            ),
            Self::Status(status) => write!(f, "the Capsule endpoint answered HTTP {status}"),
            Self::Malformed(detail) => {
                write!(f, "the Capsule endpoint's answer is unusable: {detail}")
            }
            Self::Unavailable => f.write_str("the Capsule client has been shut down"),
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

/// Where a block came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockSource {
    /// The service decided `block`.
    Service,
    /// The service gave no decision and the failure policy is fail-closed.
    FailClosed(NoDecision),
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
            (Err(cause), FailurePolicy::Open) => Self::Allow {
                failed: Some(cause),
            },
            (Err(cause), FailurePolicy::Closed) => {
                let reason = format!("no decision, and the client fails closed: {cause}");
                Self::Block(Blocked::new(action, reason, BlockSource::FailClosed(cause)))
            }
        }
    }

    /// Whether the action may go ahead.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
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
            Err(NoDecision::Malformed(_))
        ));
    }

    #[test]
    fn fail_closed_block_is_not_a_service_block() {
        let verdict =
            Verdict::from_outcome("t", Err(NoDecision::Status(503)), FailurePolicy::Closed);
        let Verdict::Block(blocked) = verdict else {
            panic!("expected a block")
        };
        assert_eq!(
            blocked.source(),
            &BlockSource::FailClosed(NoDecision::Status(503))
        );
    }
}
