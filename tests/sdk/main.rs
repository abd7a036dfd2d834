//! The SDK end to end: guarded tools, sessions and the contract, against a local
//! `capsule-dev` endpoint over loopback.
//!
//! One binary holds these suites so that the workspace links (and stores) one test
//! program instead of nine. The suites that need a process to themselves live beside
//! it: `unconfigured` (no client may exist), `ui` and `lints` (they run cargo).

mod common;

mod contract;
mod fail_open;
mod guarded_tools;
mod outside_sessions;
mod tool_frameworks;
mod tool_input;
mod tool_options;
mod tool_output;
mod whole_call;
