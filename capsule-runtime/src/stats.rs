//! Counters that account for every event and decision, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters; cheap to bump from any thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    emitted: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    failed_open: AtomicU64,
    failed_closed: AtomicU64,
}

impl Counters {
    pub(crate) fn emitted(&self) -> u64 {
        self.emitted.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed_open(&self) {
        self.failed_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed_closed(&self) {
        self.failed_closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            emitted: self.emitted.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            decisions_failed_open: self.failed_open.load(Ordering::Relaxed),
            decisions_failed_closed: self.failed_closed.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a client's counters.
///
/// Every telemetry event that was emitted is, once the queue is drained, exactly one of
/// `sent`, `failed` or `dropped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Telemetry events handed to the client.
    pub emitted: u64,
    /// Telemetry events the endpoint accepted.
    pub sent: u64,
    /// Telemetry events the endpoint refused or never answered.
    pub failed: u64,
    /// Telemetry events dropped before sending because the queue was full.
    pub dropped: u64,
    /// Blocking checks that got no decision and were allowed (fail open).
    pub decisions_failed_open: u64,
    /// Blocking checks that got no decision and were blocked (fail closed).
    pub decisions_failed_closed: u64,
}
