//! The telemetry queue: bounded in events and in bytes, drained by a few concurrent
//! senders, one session always on the same sender so its events keep their order.
//!
//! Emitting reserves room in the queue's accounting and hands the event to its sender
//! without waiting; when there is no room the event is dropped and counted. Each
//! sender sends its events one after another, retrying transient failures with
//! exponential backoff and jitter, and pausing while the service asks it to
//! (`429` and `Retry-After`).

use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::decision::NoDecision;
use crate::event::Event;
use crate::stats::{Cause, DropCause};
use crate::transport::{Shared, event_id};

/// What a queued event costs besides its fields: the job itself and the request
/// envelope that will be built from it.
const JOB_OVERHEAD_BYTES: u64 = 256;

/// One telemetry event in the queue. Whatever happens to it, it is counted exactly
/// once: as sent or failed when its sender is done with it, or as dropped when it is
/// let go without that (the client shut down, or sending it panicked).
pub(crate) struct Job {
    event: Event,
    bytes: u64,
    delivered: Option<watch::Sender<bool>>,
    shared: Arc<Shared>,
    settled: bool,
}

impl Job {
    /// Tells a waiting check that the first attempt to send this event is over.
    fn first_attempt_done(&mut self) {
        if let Some(delivered) = self.delivered.take() {
            let _ = delivered.send(true);
        }
    }

    fn settle(&mut self, outcome: Result<(), NoDecision>) {
        let counters = &self.shared.counters;
        match outcome {
            Ok(()) => counters.sent(),
            Err(failure) => counters.failed(Cause::of(&failure)),
        }
        self.finish();
    }

    fn settle_dropped(&mut self, cause: DropCause) {
        self.shared.counters.dropped(cause);
        self.finish();
    }

    fn finish(&mut self) {
        self.settled = true;
        self.first_attempt_done();
        self.shared.counters.release(self.bytes);
        self.shared.progress.finish_one();
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.settled {
            let cause = if std::thread::panicking() {
                DropCause::Panicked
            } else {
                DropCause::ShutDown
            };
            self.settle_dropped(cause);
        }
    }
}

/// The senders, each fed by its own channel. The channels are unbounded on their
/// own; the queue's accounting bounds them.
pub(crate) struct Lanes {
    senders: Box<[mpsc::UnboundedSender<Job>]>,
}

impl Lanes {
    pub(crate) fn start(handle: &Handle, shared: &Arc<Shared>) -> Self {
        let senders = (0..shared.config.queue.concurrency)
            .map(|_| {
                let (sender, receiver) = mpsc::unbounded_channel();
                handle.spawn(drain(receiver, Arc::clone(shared)));
                sender
            })
            .collect();
        Self { senders }
    }

    /// Queues `event` on its session's sender, or says why it was dropped.
    pub(crate) fn push(
        &self,
        shared: &Arc<Shared>,
        event: Event,
        delivered: Option<watch::Sender<bool>>,
    ) -> Result<(), DropCause> {
        let limits = shared.config.queue;
        let bytes = JOB_OVERHEAD_BYTES + event.kind.heap_bytes() as u64;
        shared
            .counters
            .reserve(bytes, limits.max_events as u64, limits.max_bytes as u64)?;

        let lane = lane_of(&event.session_id, self.senders.len());
        let job = Job {
            event,
            bytes,
            delivered,
            shared: Arc::clone(shared),
            settled: false,
        };
        // A sender that is gone hands the job back; dropping it counts it.
        let _ = self.senders[lane].send(job);
        Ok(())
    }
}

fn lane_of(session_id: &str, lanes: usize) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    session_id.hash(&mut hasher);
    usize::try_from(hasher.finish() % lanes as u64).unwrap_or(0)
}

/// Sends one lane's events, one after another. A panic while handling one event is
/// caught, the event counted as dropped, and the lane goes on with the next.
async fn drain(mut receiver: mpsc::UnboundedReceiver<Job>, shared: Arc<Shared>) {
    while let Some(mut job) = receiver.recv().await {
        let handled = AssertUnwindSafe(handle(&shared, &mut job))
            .catch_unwind()
            .await;
        if handled.is_err() && !job.settled {
            job.settle_dropped(DropCause::Panicked);
        }
    }
}

async fn handle(shared: &Shared, job: &mut Job) {
    let kind = job.event.kind.name();
    let outcome = deliver(shared, job).await;
    let failure = outcome.as_ref().err().cloned();
    job.settle(outcome);

    match failure {
        None => shared.health.success(|| {
            tracing::info!("Capsule telemetry is getting through again");
        }),
        Some(failure) => warn_failed(shared, kind, &failure),
    }
}

/// Sends one event, retrying transient failures while attempts are left.
async fn deliver(shared: &Shared, job: &mut Job) -> Result<(), NoDecision> {
    let body = Bytes::from(
        serde_json::to_vec(&job.event)
            .map_err(|err| NoDecision::Unparseable(format!("the event did not encode: {err}")))?,
    );
    let id = event_id();
    let retry = shared.config.retry;
    let mut retries = 0;

    loop {
        shared.pause.wait().await;
        let deadline = Instant::now() + shared.config.telemetry_timeout;
        let answer = shared
            .exchange(body.clone(), &id, deadline, || shared.counters.retried())
            .await;
        job.first_attempt_done();

        let (failure, retry_after) = match answer {
            Ok(answer) if (200..300).contains(&answer.status) => return Ok(()),
            Ok(answer) => (
                NoDecision::Status {
                    status: answer.status,
                    message: None,
                },
                answer.retry_after,
            ),
            Err(failure) => (failure, None),
        };
        if !is_transient(&failure) || retries >= retry.max_retries {
            return Err(failure);
        }

        let backoff = jittered(retry.base, retry.max, retries);
        let rate_limited = failure.status() == Some(429);
        match retry_after {
            Some(wait) => shared.pause.extend(wait),
            None if rate_limited => shared.pause.extend(backoff),
            None => tokio::time::sleep(backoff).await,
        }
        retries += 1;
        shared.counters.retried();
    }
}

/// Failures worth another attempt: the service may answer a later one.
fn is_transient(failure: &NoDecision) -> bool {
    match failure {
        NoDecision::Timeout | NoDecision::Connect(_) => true,
        NoDecision::Status { status, .. } => matches!(status, 408 | 429 | 502 | 503 | 504),
        NoDecision::Unparseable(_)
        | NoDecision::Unavailable
        | NoDecision::InvalidInput(_)
        | NoDecision::TooLarge { .. }
        | NoDecision::TooDeep { .. } => false,
    }
}

/// The wait before retry number `retry` (from 0): `base` doubled each time up to
/// `max`, of which a random part of up to a half is taken off.
fn jittered(base: Duration, max: Duration, retry: u32) -> Duration {
    let full = base.saturating_mul(1 << retry.min(20)).min(max);
    let half = full / 2;
    let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(fastrand::u64(0..=nanos))
}

fn warn_failed(shared: &Shared, kind: &str, failure: &NoDecision) {
    shared.health.failure(|unlogged| {
        tracing::warn!(
            event_type = kind,
            unlogged_failures = unlogged,
            "Capsule telemetry is not getting through ({failure}); the agent keeps running, \
             and failed events are counted in Client::stats(). Check CAPSULE_URL, the token \
             and the endpoint's health. Logged at most every 30 s."
        );
    });
}

pub(crate) fn warn_dropped(shared: &Shared, cause: DropCause) {
    shared.health.failure(|unlogged| {
        let (why, fix) = match cause {
            DropCause::QueueFull | DropCause::QueueFullBytes => (
                "the telemetry queue is full",
                "the endpoint is slow or down: check its health, or raise queue_capacity \
                 or queue_max_bytes",
            ),
            DropCause::ShutDown => (
                "the client was shut down",
                "emit before Client::shutdown, or keep the client alive",
            ),
            DropCause::Panicked => ("sending an event panicked", "please report this SDK bug"),
        };
        tracing::warn!(
            unlogged_failures = unlogged,
            "Capsule is dropping telemetry events: {why}; {fix}. Dropped events are counted \
             in Client::stats(). Logged at most every 30 s."
        );
    });
}

/// A pause of all telemetry sending, set when the service asks the client to slow
/// down. Stored as an instant relative to a fixed start.
#[derive(Debug)]
pub(crate) struct Pause {
    start: Instant,
    until_millis: AtomicU64,
}

impl Default for Pause {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            until_millis: AtomicU64::new(0),
        }
    }
}

impl Pause {
    /// Pauses sending for at least `wait` from now.
    pub(crate) fn extend(&self, wait: Duration) {
        let until = self.start.elapsed().saturating_add(wait);
        let millis = u64::try_from(until.as_millis()).unwrap_or(u64::MAX);
        self.until_millis.fetch_max(millis, Ordering::Relaxed);
    }

    /// Waits until no pause is in force.
    pub(crate) async fn wait(&self) {
        loop {
            let until =
                self.start + Duration::from_millis(self.until_millis.load(Ordering::Relaxed));
            if Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// Counts finished telemetry events (sent, failed or dropped), so that a flush can
/// wait for them from a plain thread or from async code.
///
/// Waiters register the count they wait for; finishing an event wakes them only once
/// the lowest such count is reached, not on every event.
#[derive(Debug)]
pub(crate) struct Progress {
    finished: AtomicU64,
    /// The lowest count a waiter waits for; `u64::MAX` when nobody waits.
    wake_at: AtomicU64,
    lock: Mutex<()>,
    changed: Condvar,
    notify: Notify,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            finished: AtomicU64::new(0),
            wake_at: AtomicU64::new(u64::MAX),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            notify: Notify::new(),
        }
    }
}

impl Progress {
    pub(crate) fn finished(&self) -> u64 {
        self.finished.load(Ordering::SeqCst)
    }

    pub(crate) fn finish_one(&self) {
        let finished = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if finished >= self.wake_at.load(Ordering::SeqCst) {
            // Waiters register under the lock, so none can slip in between the reset
            // and the wake-up; those still short of their count register again.
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake_at.store(u64::MAX, Ordering::SeqCst);
            self.changed.notify_all();
            self.notify.notify_waiters();
        }
    }

    /// Waits until `target` events have finished or `timeout` passes.
    pub(crate) fn wait_blocking(&self, target: u64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);

        loop {
            self.wake_at.fetch_min(target, Ordering::SeqCst);
            if self.finished() >= target {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.changed.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits until `target` events have finished; the caller bounds it with a timeout.
    pub(crate) async fn wait(&self, target: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            {
                let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
                notified.as_mut().enable();
                self.wake_at.fetch_min(target, Ordering::SeqCst);
                if self.finished() >= target {
                    return;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_half_taken_off() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for (retry, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            let full = Duration::from_millis(full);
            let wait = jittered(base, max, retry);
            assert!(wait >= full / 2 && wait <= full, "retry {retry}: {wait:?}");
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |status| NoDecision::Status {
            status,
            message: None,
        };
        for retried in [408, 429, 502, 503, 504] {
            assert!(is_transient(&status(retried)), "{retried}");
        }
        for kept in [400, 401, 403, 404, 413, 500] {
            assert!(!is_transient(&status(kept)), "{kept}");
        }
        assert!(is_transient(&NoDecision::Timeout));
        assert!(is_transient(&NoDecision::Connect("refused".into())));
    }

    #[test]
    fn one_session_always_lands_on_one_lane() {
        let lanes: Vec<usize> = (0..10).map(|_| lane_of("sess-1", 4)).collect();
        assert!(lanes.iter().all(|lane| *lane == lanes[0]));
        let spread: std::collections::HashSet<usize> =
            (0..64).map(|i| lane_of(&format!("sess-{i}"), 4)).collect();
        assert!(spread.len() > 1);
    }
}
