//! Logging that helps the operator without flooding: one warning when a part of the
//! client starts failing, at most one more per interval while it keeps failing, and one
//! info line when it recovers. The last line logged is never older news than a failure:
//! a failure after a logged recovery is warned about at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lets one warning through per interval, so that a dead endpoint cannot flood logs.
#[derive(Debug)]
pub(crate) struct LogGate {
    started: Instant,
    last_millis: AtomicU64,
}

impl LogGate {
    pub(crate) const INTERVAL: Duration = Duration::from_secs(30);

    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            last_millis: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether a warning may be logged now.
    pub(crate) fn allow(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.last_millis.load(Ordering::Relaxed);
        let interval = u64::try_from(Self::INTERVAL.as_millis()).unwrap_or(u64::MAX);
        let due = last == u64::MAX || now.saturating_sub(last) >= interval;
        due && self
            .last_millis
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Lets the next warning through whenever it comes.
    pub(crate) fn reset(&self) {
        self.last_millis.store(u64::MAX, Ordering::Relaxed);
    }
}

/// Whether one part of the client (decisions, or telemetry) is getting through, and
/// what has been logged about it.
#[derive(Debug)]
pub(crate) struct Health {
    degraded: AtomicBool,
    warned: AtomicBool,
    unlogged: AtomicU64,
    gate: LogGate,
    recovery_gate: LogGate,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            degraded: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            unlogged: AtomicU64::new(0),
            gate: LogGate::new(),
            recovery_gate: LogGate::new(),
        }
    }

    /// Records a failure; `warn` logs it when the gate lets it through, and is given
    /// how many failures went unlogged since the last warning.
    pub(crate) fn failure(&self, warn: impl FnOnce(u64)) {
        self.degraded.store(true, Ordering::Relaxed);
        if self.gate.allow() {
            self.warned.store(true, Ordering::Relaxed);
            warn(self.unlogged.swap(0, Ordering::Relaxed));
        } else {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a success; `recovered` logs the recovery, once, after a failure that
    /// was warned about. Costs one relaxed load while all is well.
    ///
    /// Recoveries are logged at most once per interval, so that a flapping endpoint
    /// cannot flood the logs either. Until a recovery is logged the part counts as
    /// failing, and later failures stay under the warning's rate limit; once it is
    /// logged, the next failure is warned about at once.
    #[inline]
    pub(crate) fn success(&self, recovered: impl FnOnce()) {
        if !self.degraded.load(Ordering::Relaxed) {
            return;
        }
        if !self.warned.load(Ordering::Relaxed) {
            if self.degraded.swap(false, Ordering::Relaxed) {
                self.unlogged.store(0, Ordering::Relaxed);
            }
            return;
        }
        if self.recovery_gate.allow() && self.degraded.swap(false, Ordering::Relaxed) {
            self.unlogged.store(0, Ordering::Relaxed);
            self.warned.store(false, Ordering::Relaxed);
            self.gate.reset();
            recovered();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_then_one_recovery_line() {
        let health = Health::new();
        let mut warnings = Vec::new();
        let mut recoveries = 0;

        for _ in 0..5 {
            health.failure(|unlogged| warnings.push(unlogged));
        }
        health.success(|| recoveries += 1);
        health.success(|| recoveries += 1);

        assert_eq!(warnings, [0], "only the first failure is logged");
        assert_eq!(recoveries, 1);
    }

    #[test]
    fn a_failure_after_a_logged_recovery_is_warned_about_at_once() {
        let health = Health::new();
        let mut lines = Vec::new();

        health.failure(|_| lines.push("warn"));
        health.success(|| lines.push("recovered"));
        health.failure(|_| lines.push("warn"));

        assert_eq!(lines, ["warn", "recovered", "warn"]);
    }

    #[test]
    fn a_flapping_part_logs_a_few_lines_and_ends_on_a_warning() {
        let health = Health::new();
        let mut lines = Vec::new();

        for _ in 0..100 {
            health.failure(|_| lines.push("warn"));
            health.success(|| lines.push("recovered"));
        }
        health.failure(|_| lines.push("warn"));

        assert_eq!(lines, ["warn", "recovered", "warn"]);
    }
}
