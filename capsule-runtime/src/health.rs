//! Logging that helps the operator without flooding: one warning when a part of the
//! client starts failing, at most one more per interval while it keeps failing, and one
//! info line when it recovers.

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
}

/// Whether one part of the client (decisions, or telemetry) is getting through, and
/// what has been logged about it.
#[derive(Debug)]
pub(crate) struct Health {
    degraded: AtomicBool,
    warned: AtomicBool,
    unlogged: AtomicU64,
    gate: LogGate,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            degraded: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            unlogged: AtomicU64::new(0),
            gate: LogGate::new(),
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
    #[inline]
    pub(crate) fn success(&self, recovered: impl FnOnce()) {
        if self.degraded.load(Ordering::Relaxed) && self.degraded.swap(false, Ordering::Relaxed) {
            self.unlogged.store(0, Ordering::Relaxed);
            if self.warned.swap(false, Ordering::Relaxed) {
                recovered();
            }
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
}
