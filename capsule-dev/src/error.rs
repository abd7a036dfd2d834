//! Why a server could not start.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::policy::PolicyError;

/// A server that could not start, and what to do about it.
#[derive(Debug)]
#[non_exhaustive]
pub enum DevError {
    /// The address could not be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The policy file is missing or invalid.
    Policy(PolicyError),
    /// The audit log file could not be opened or read.
    Audit {
        /// The file asked for.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The server's thread or runtime could not be started.
    Runtime(io::Error),
    /// The token secret is empty, so anyone could mint tokens the server accepts.
    EmptySecret,
}

impl fmt::Display for DevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DevError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source}; is another capsule-dev running? pick \
                 another address with --bind (port 0 picks a free one)"
            ),
            DevError::Policy(err) => write!(f, "invalid policy, not starting: {err}"),
            DevError::Audit { path, source } => write!(
                f,
                "cannot open the audit log {}: {source}; pick a writable path with --audit",
                path.display()
            ),
            DevError::Runtime(source) => write!(f, "cannot start the server's runtime: {source}"),
            DevError::EmptySecret => f.write_str(
                "the token secret is empty, and anyone could mint tokens for it; pass a long \
                 random string, or leave the secret unset to have one generated",
            ),
        }
    }
}

impl std::error::Error for DevError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DevError::Bind { source, .. }
            | DevError::Audit { source, .. }
            | DevError::Runtime(source) => Some(source),
            DevError::Policy(err) => Some(err),
            DevError::EmptySecret => None,
        }
    }
}

impl From<PolicyError> for DevError {
    fn from(err: PolicyError) -> Self {
        DevError::Policy(err)
    }
}
