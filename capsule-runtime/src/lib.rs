//! The runtime of the Capsule agent SDK.
//!
//! Capsule checks an agent's actions before they happen: a tool call or a user prompt
//! is sent to the Capsule service, which answers *allow* or *block*; a blocked action
//! never runs. Sessions, tool results and the agent's replies are reported as telemetry
//! on a background queue that never slows the agent down.
//!
//! Most users reach this crate through the `capsule` facade and its
//! `#[capsule::tool]` attribute. The pieces, by module:
//!
//! - [`Config`] and [`ConfigBuilder`]: where to send events, read from `CAPSULE_*`
//!   environment variables or set in code.
//! - [`Client`]: asks for decisions and queues telemetry; [`init`] makes the global one.
//! - [`Session`]: the RAII guard that sends `session_start` and `session_end`.
//! - [`Event`]: the six events of the wire contract.
//! - [`Verdict`], [`Blocked`], [`FailurePolicy`], [`Mode`], [`CheckOptions`]: what a
//!   check ends in, what happens when the service cannot answer (by default the action
//!   goes ahead: *fail open*), and whether blocks are enforced.
//! - [`Stats`]: counters that account for every event and decision.

mod client;
mod config;
mod decision;
mod event;
mod global;
mod health;
mod queue;
mod session;
mod stats;
mod tool;
mod transport;

pub use client::{Client, Error};
pub use config::{Config, ConfigBuilder, ConfigError, Token};
pub use decision::{
    BlockSource, Blocked, CheckOptions, Decision, FailurePolicy, MAX_CHECK_DEPTH, Mode, NoDecision,
    Verdict,
};
pub use event::{Agent, Event, EventKind, IntoText, Json, Timestamp, TimestampError, User};
pub use global::{InitGuard, client as global, init};
pub use session::Session;
pub use stats::{CauseCounts, DropCounts, Stats};
pub use tool::ToolOutput;

/// Items that `#[capsule::tool]` expands to. Not a public API: it may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::decision::{CheckOptions, FailurePolicy, Mode};
    pub use crate::tool::{
        BlockError, FromBlocked, Input, Report, ToolArgument, ToolCall, ToolRun, ToolValue,
        blocked, on_block,
    };
}
