//! A local endpoint that speaks the Capsule webhook contract, so guarded agents can be run
//! and tested on one machine, with no account and no network.
//!
//! It answers `POST /v1/generic-webhook/hooks/events` as the real service does: it checks
//! the bearer token (an HS256 JWT), checks the body against the event envelope, decides
//! blocking events (`tool_invocation`, `user_message`) by a [`Policy`] of ordered rules, and
//! answers telemetry with `202`. It records every accepted event with its decision, in
//! memory and optionally in a JSONL audit file, and can be told to misbehave on purpose
//! ([`Faults`]) to test how a client copes.
//!
//! Start one in-process, on a free loopback port, from sync or async code alike:
//!
//! ```
//! use capsule_dev::{DevServer, Policy};
//!
//! let server = DevServer::builder().policy(Policy::sample()).start()?;
//!
//! // Point the agent's client at `server.url()` with `server.token()`; here, a raw request.
//! let body = r#"{"event_type": "session_start", "session_id": "sess-1",
//!     "timestamp": "2026-03-03T10:29:55Z",
//!     "agent": {"id": "support-agent", "name": "Customer Support Agent"},
//!     "user": {"email": "user@example.com"}}"#;
//! let request = format!(
//!     "POST /v1/generic-webhook/hooks/events HTTP/1.1\r\nHost: {}\r\n\
//!      Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
//!      Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
//!     server.addr(), server.token(), body.len(),
//! );
//! let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
//! std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
//! let mut answer = String::new();
//! std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 202"));
//!
//! // The server shows what it received.
//! let events = server.events();
//! assert_eq!(events[0].event_type, "session_start");
//! assert_eq!(events[0].session_id, "sess-1");
//! # Ok::<(), capsule_dev::DevError>(())
//! ```
//!
//! The `capsule-dev` binary runs the same server on `127.0.0.1:8787`; `capsule-dev --help`
//! lists its options.

mod audit;
mod auth;
mod embedded;
mod error;
mod event;
mod faults;
pub mod inspect;
mod policy;
mod reload;
mod server;

pub use audit::{Recorded, read_audit_log};
pub use auth::{AuthError, Claims, TokenKeys};
pub use embedded::{DevServer, DevServerBuilder, RunningServer};
pub use error::DevError;
pub use event::{Event, EventType, InvalidEvent, Tool, UnknownEventType};
pub use faults::{FaultKnobs, Faults};
pub use policy::{Action, Policy, PolicyError, Verdict};
pub use server::EVENTS_PATH;
