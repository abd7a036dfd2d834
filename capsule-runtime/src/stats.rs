//! Counters that account for every event and decision, readable at any time.
//!
//! Every telemetry event handed to the client ends as exactly one of *sent*, *failed*
//! (the endpoint refused it or never answered, after retries) or *dropped* (never
//! sent: the queue was full, the client shut down, or sending it panicked). Every
//! blocking check that got no decision is counted as failed open or failed closed, by
//! its cause.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::decision::NoDecision;

/// Why a request got no usable answer; the key of [`CauseCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Timeout,
    Connect,
    BadRequest,
    Unauthorized,
    RequestTimeout,
    RateLimited,
    ServerError,
    OtherStatus,
    Unparseable,
    Unavailable,
    InvalidInput,
    Uncheckable,
}

impl Cause {
    const COUNT: usize = 12;

    pub(crate) fn of(failure: &NoDecision) -> Self {
        match failure {
            NoDecision::Timeout => Self::Timeout,
            NoDecision::Connect(_) => Self::Connect,
            NoDecision::Status { status, .. } => match status {
                400 => Self::BadRequest,
                413 => Self::Uncheckable,
                401 | 403 => Self::Unauthorized,
                408 => Self::RequestTimeout,
                429 => Self::RateLimited,
                500..=599 => Self::ServerError,
                _ => Self::OtherStatus,
            },
            NoDecision::Unparseable(_) => Self::Unparseable,
            NoDecision::Unavailable => Self::Unavailable,
            NoDecision::InvalidInput(_) => Self::InvalidInput,
            NoDecision::TooLarge { .. } | NoDecision::TooDeep { .. } => Self::Uncheckable,
        }
    }
}

/// Failures counted by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CauseCounts {
    /// No answer within the deadline.
    pub timeout: u64,
    /// The connection could not be made, or broke before a full answer.
    pub connect: u64,
    /// `400`: the service found the event malformed.
    pub bad_request: u64,
    /// `401` or `403`: the token was refused.
    pub unauthorized: u64,
    /// `408`: the service timed out.
    pub request_timeout: u64,
    /// `429`: the service asked the client to slow down.
    pub rate_limited: u64,
    /// `5xx`: a server error.
    pub server_error: u64,
    /// Any other status that is not a success.
    pub other_status: u64,
    /// A success status whose body was not a decision the client understands.
    pub unparseable: u64,
    /// The client's background worker was gone (for example after shutdown).
    pub unavailable: u64,
    /// An argument could not be serialised, so the service never saw the whole call.
    pub invalid_input: u64,
    /// The call could not be checked as it is: over the client's size limit, refused as
    /// too large (`413`), or nested too deep.
    pub uncheckable: u64,
}

impl CauseCounts {
    /// The sum over all causes.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.timeout
            + self.connect
            + self.bad_request
            + self.unauthorized
            + self.request_timeout
            + self.rate_limited
            + self.server_error
            + self.other_status
            + self.unparseable
            + self.unavailable
            + self.invalid_input
            + self.uncheckable
    }
}

/// Why a telemetry event was never sent; the key of [`DropCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropCause {
    QueueFull,
    QueueFullBytes,
    ShutDown,
    Panicked,
}

impl DropCause {
    const COUNT: usize = 4;
}

/// Dropped telemetry events, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DropCounts {
    /// The queue held its maximum number of events.
    pub queue_full: u64,
    /// The queue held its maximum number of bytes.
    pub queue_full_bytes: u64,
    /// The client was shut down (or dropped) before the event could be sent.
    pub shut_down: u64,
    /// Sending the event panicked; later events were sent as usual.
    pub panicked: u64,
}

impl DropCounts {
    /// The sum over all causes.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.queue_full + self.queue_full_bytes + self.shut_down + self.panicked
    }
}

/// Counters of one kind, indexed by a cause.
#[derive(Debug)]
struct ByCause<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for ByCause<N> {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> ByCause<N> {
    fn bump(&self, index: usize) {
        self.0[index].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, index: usize) -> u64 {
        self.0[index].load(Ordering::Relaxed)
    }
}

impl ByCause<{ Cause::COUNT }> {
    fn snapshot(&self) -> CauseCounts {
        let get = |cause: Cause| self.get(cause as usize);
        CauseCounts {
            timeout: get(Cause::Timeout),
            connect: get(Cause::Connect),
            bad_request: get(Cause::BadRequest),
            unauthorized: get(Cause::Unauthorized),
            request_timeout: get(Cause::RequestTimeout),
            rate_limited: get(Cause::RateLimited),
            server_error: get(Cause::ServerError),
            other_status: get(Cause::OtherStatus),
            unparseable: get(Cause::Unparseable),
            unavailable: get(Cause::Unavailable),
            invalid_input: get(Cause::InvalidInput),
            uncheckable: get(Cause::Uncheckable),
        }
    }
}

/// The live counters; cheap to bump from any thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    emitted: AtomicU64,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: ByCause<{ Cause::COUNT }>,
    dropped: ByCause<{ DropCause::COUNT }>,
    failed_open: ByCause<{ Cause::COUNT }>,
    failed_closed: ByCause<{ Cause::COUNT }>,
    unenforced: AtomicU64,
    queue_depth: AtomicU64,
    queue_bytes: AtomicU64,
    queue_peak_depth: AtomicU64,
    queue_peak_bytes: AtomicU64,
}

impl Counters {
    /// Counts an emitted event and returns how many there were before it.
    pub(crate) fn emitted(&self) -> u64 {
        self.emitted.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn emitted_so_far(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, cause: Cause) {
        self.failed.bump(cause as usize);
    }

    pub(crate) fn dropped(&self, cause: DropCause) {
        self.dropped.bump(cause as usize);
    }

    pub(crate) fn failed_open(&self, cause: Cause) {
        self.failed_open.bump(cause as usize);
    }

    pub(crate) fn failed_closed(&self, cause: Cause) {
        self.failed_closed.bump(cause as usize);
    }

    pub(crate) fn unenforced(&self) {
        self.unenforced.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes room for one event of `bytes` in the queue, unless that would pass
    /// `max_events` or `max_bytes`.
    pub(crate) fn reserve(
        &self,
        bytes: u64,
        max_events: u64,
        max_bytes: u64,
    ) -> Result<(), DropCause> {
        let depth = take_room(&self.queue_depth, 1, max_events).ok_or(DropCause::QueueFull)?;
        let Some(held) = take_room(&self.queue_bytes, bytes, max_bytes) else {
            self.queue_depth.fetch_sub(1, Ordering::Relaxed);
            return Err(DropCause::QueueFullBytes);
        };

        raise_peak(&self.queue_peak_depth, depth);
        raise_peak(&self.queue_peak_bytes, held);
        Ok(())
    }

    /// Gives back the room one event took.
    pub(crate) fn release(&self, bytes: u64) {
        self.queue_depth.fetch_sub(1, Ordering::Relaxed);
        self.queue_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let failed = self.failed.snapshot();
        let failed_open = self.failed_open.snapshot();
        let failed_closed = self.failed_closed.snapshot();
        let dropped = DropCounts {
            queue_full: self.dropped.get(DropCause::QueueFull as usize),
            queue_full_bytes: self.dropped.get(DropCause::QueueFullBytes as usize),
            shut_down: self.dropped.get(DropCause::ShutDown as usize),
            panicked: self.dropped.get(DropCause::Panicked as usize),
        };
        Stats {
            emitted: self.emitted.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: failed.total(),
            failed_by: failed,
            dropped: dropped.total(),
            dropped_by: dropped,
            decisions_failed_open: failed_open.total(),
            failed_open_by: failed_open,
            decisions_failed_closed: failed_closed.total(),
            failed_closed_by: failed_closed,
            decisions_unenforced: self.unenforced.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            queue_bytes: self.queue_bytes.load(Ordering::Relaxed),
            queue_peak_depth: self.queue_peak_depth.load(Ordering::Relaxed),
            queue_peak_bytes: self.queue_peak_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Adds `amount` to `gauge` unless the sum would pass `limit`; returns the new value.
fn take_room(gauge: &AtomicU64, amount: u64, limit: u64) -> Option<u64> {
    gauge
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
            held.checked_add(amount).filter(|sum| *sum <= limit)
        })
        .ok()
        .map(|before| before + amount)
}

fn raise_peak(peak: &AtomicU64, value: u64) {
    if peak.load(Ordering::Relaxed) < value {
        peak.fetch_max(value, Ordering::Relaxed);
    }
}

/// A snapshot of a client's counters.
///
/// Once the queue is drained (see [`Client::flush`](crate::Client::flush)),
/// `emitted == sent + failed + dropped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Telemetry events handed to the client.
    pub emitted: u64,
    /// Telemetry events the endpoint accepted.
    pub sent: u64,
    /// Extra attempts made to send telemetry events (a retried event counts once per
    /// retry; it is still one event in `sent`, `failed` or `dropped`).
    pub retried: u64,
    /// Telemetry events the endpoint refused or never answered, after any retries.
    pub failed: u64,
    /// `failed`, by the cause of the last attempt.
    pub failed_by: CauseCounts,
    /// Telemetry events never sent.
    pub dropped: u64,
    /// `dropped`, by cause.
    pub dropped_by: DropCounts,
    /// Blocking checks that got no decision and were allowed (fail open).
    pub decisions_failed_open: u64,
    /// `decisions_failed_open`, by cause.
    pub failed_open_by: CauseCounts,
    /// Blocking checks that got no decision and were blocked (fail closed).
    pub decisions_failed_closed: u64,
    /// `decisions_failed_closed`, by cause.
    pub failed_closed_by: CauseCounts,
    /// Blocks that monitor mode let through instead of enforcing.
    pub decisions_unenforced: u64,
    /// Telemetry events waiting or being sent now.
    pub queue_depth: u64,
    /// The estimated memory those events hold, in bytes.
    pub queue_bytes: u64,
    /// The most events the queue has held at once.
    pub queue_peak_depth: u64,
    /// The most bytes the queue has held at once.
    pub queue_peak_bytes: u64,
}
