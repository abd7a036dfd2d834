//! The client against real and scripted endpoints: decisions under failure, the
//! telemetry queue, runtimes, security and the init guard.
//!
//! One binary holds these suites so that the crate links one test program instead of
//! six. `logs` and `panic_isolation` stay separate: each installs a process-wide
//! tracing subscriber or panic hook of its own.

#[path = "../common/mod.rs"]
mod common;

mod check_options;
mod faults;
mod init_guard;
mod runtimes;
mod security;
mod telemetry_queue;
