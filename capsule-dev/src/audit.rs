//! The audit log: every accepted event with its decision, kept in memory for inspection and,
//! when a file is configured, appended to it as one JSON line per event.
//!
//! Each line is written with one `write` call before the answer is sent, so it is in the
//! operating system's hands when the caller sees the decision: a crash or kill of the
//! server loses at most the event being written. (A power cut can lose more: lines are not
//! synced to disk one by one; they are synced at shutdown.) On start an existing file is read
//! back, so inspection shows what earlier runs received; a torn last line from an unclean
//! stop is skipped with a warning.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// One accepted event, as the server received and decided it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Recorded {
    /// The event body as received, extra fields included.
    pub body: Value,
    /// `event_type` of the body.
    pub event_type: String,
    /// `session_id` of the body.
    pub session_id: String,
    /// `agent.id` of the body.
    pub agent_id: String,
    /// `agent.name` of the body.
    pub agent_name: String,
    /// The tenant of the token the event came with.
    pub tenant: String,
    /// The `x-correlation-id` header, if the caller sent one.
    pub correlation_id: Option<String>,
    /// `"allow"` or `"block"` for blocking events; `None` for telemetry.
    pub action: Option<String>,
    /// The reason of the rule that matched, if any.
    pub reason: Option<String>,
    /// The name of the rule that matched, if any. On telemetry a match changes nothing in
    /// the answer; it is recorded so the audit shows it.
    pub rule: Option<String>,
    /// When the server received the event.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// The events a server has accepted, in arrival order, and the file they go to.
#[derive(Debug)]
pub(crate) struct AuditLog {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    events: Vec<Recorded>,
    file: Option<File>,
}

impl AuditLog {
    /// A log kept in memory only.
    pub(crate) fn in_memory() -> AuditLog {
        AuditLog {
            inner: Mutex::new(Inner {
                events: Vec::new(),
                file: None,
            }),
        }
    }

    /// A log appended to `path`, created if missing, with the events already in it.
    pub(crate) fn open(path: &Path) -> io::Result<AuditLog> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let events = read_records(&mut file, path)?;

        // A torn last line has no newline; start the next record on a line of its own.
        if file.metadata()?.len() > 0 {
            let mut last = [0u8; 1];
            file.seek(SeekFrom::End(-1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(AuditLog {
            inner: Mutex::new(Inner {
                events,
                file: Some(file),
            }),
        })
    }

    /// Writes `record` to the file (if any), then keeps it in memory.
    pub(crate) fn append(&self, record: Recorded) -> io::Result<()> {
        let mut inner = self.lock();
        if let Some(file) = &mut inner.file {
            let mut line = serde_json::to_vec(&record)?;
            line.push(b'\n');
            file.write_all(&line)?;
        }
        inner.events.push(record);
        Ok(())
    }

    /// Runs `f` on the events, in arrival order, without copying them.
    pub(crate) fn with_events<R>(&self, f: impl FnOnce(&[Recorded]) -> R) -> R {
        f(&self.lock().events)
    }

    /// Forgets the events in memory; the file keeps them.
    pub(crate) fn clear(&self) {
        self.lock().events.clear();
    }

    /// Syncs the file to disk.
    pub(crate) fn sync(&self) -> io::Result<()> {
        match &self.lock().file {
            Some(file) => file.sync_all(),
            None => Ok(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads an audit log file written by a server, skipping lines that are not records.
///
/// # Errors
///
/// The file cannot be opened or read.
pub fn read_audit_log(path: impl AsRef<Path>) -> io::Result<Vec<Recorded>> {
    let path = path.as_ref();
    read_records(&mut File::open(path)?, path)
}

fn read_records(file: &mut File, path: &Path) -> io::Result<Vec<Recorded>> {
    file.seek(SeekFrom::Start(0))?;
    let mut events = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(record) => events.push(record),
            Err(err) => tracing::warn!(
                "skipping line {} of the audit log {}: not a record ({err}); a torn last line \
                 comes from an unclean stop and is harmless",
                index + 1,
                PathBuf::from(path).display()
            ),
        }
    }
    Ok(events)
}
