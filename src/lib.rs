//! Capsule for Rust: a runtime security check in front of every tool of an AI agent.
//!
//! Put `#[capsule::tool]` on an `async fn` and every call of it is first shown to the
//! Capsule service, which answers *allow* or *block*. A blocked call returns an error
//! and its body never runs. Sessions, user prompts, tool results and the agent's
//! replies are reported too, on a background queue that never slows the agent.
//!
//! ```no_run
//! #[capsule::tool]
//! async fn order_lookup(order_id: String) -> anyhow::Result<String> {
//!     Ok(format!("order {order_id} has shipped"))
//! }
//!
//! # async fn demo() -> anyhow::Result<()> {
//! // Reads CAPSULE_URL, CAPSULE_TOKEN, CAPSULE_AGENT_ID and CAPSULE_AGENT_NAME.
//! let _capsule = capsule::init(capsule::Config::from_env()?)?;
//!
//! let session = capsule::global().session("user@example.com");
//! let status = order_lookup("12345".to_owned()).await?;
//! session.agent_message(status);
//! # Ok(())
//! # }
//! ```
//!
//! When the service cannot be reached the action goes ahead (*fail open*) unless the
//! client was configured with [`FailurePolicy::Closed`]. With no endpoint configured,
//! guarded tools run unguarded and one log line says so.

pub use capsule_macros::tool;
pub use capsule_runtime::{
    Agent, BlockSource, Blocked, CauseCounts, CheckOptions, Client, Config, ConfigBuilder,
    ConfigError, Decision, DropCounts, Error, Event, EventKind, FailurePolicy, InitGuard, IntoText,
    Json, MAX_CHECK_DEPTH, Mode, NoDecision, Session, Stats, Timestamp, TimestampError, Token,
    ToolOutput, User, Verdict, global, init,
};

#[doc(hidden)]
pub use capsule_runtime::__private;
