//! Fault knobs: make the server slow, failing or silent on purpose, to test how a client
//! copes (fail open, timeouts, retries).
//!
//! Shares are applied by counting, not by chance: a share of `0.5` faults exactly every
//! second matching request, so a test can rely on it. Counting starts again whenever the
//! faults are set.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::EventType;

/// The knobs for one kind of request. The default is no fault at all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultKnobs {
    /// Added before the decision, in milliseconds. Counts against the server timeout: a
    /// latency past it is answered `408`.
    pub latency_ms: u64,
    /// A status to answer instead of the real one, with a JSON error body.
    pub status: Option<u16>,
    /// The share of requests, from 0 to 1, that get `status`: 1 (every request) when left
    /// out, as with the command line's `--fault-status`, so `{"status": 503}` alone means
    /// "answer 503".
    pub status_share: f64,
    /// The share of requests, from 0 to 1, whose connection is closed without an answer.
    /// Checked before `status`.
    pub close_share: f64,
}

impl Default for FaultKnobs {
    fn default() -> Self {
        FaultKnobs {
            latency_ms: 0,
            status: None,
            status_share: 1.0,
            close_share: 0.0,
        }
    }
}

impl FaultKnobs {
    /// Adds `latency` to every request.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Answers `status` to `share` (0 to 1) of the requests.
    #[must_use]
    pub fn status(mut self, status: u16, share: f64) -> Self {
        self.status = Some(status);
        self.status_share = share;
        self
    }

    /// Closes the connection without an answer for `share` (0 to 1) of the requests.
    #[must_use]
    pub fn close_connection(mut self, share: f64) -> Self {
        self.close_share = share;
        self
    }

    fn check(&self, at: &str) -> Result<(), String> {
        for (name, share) in [
            ("status_share", self.status_share),
            ("close_share", self.close_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{at}{name} must be between 0 and 1, found {share}"));
            }
        }
        match self.status {
            Some(status) if !(200..=599).contains(&status) => Err(format!(
                "{at}status must be an HTTP status from 200 to 599, found {status}"
            )),
            _ => Ok(()),
        }
    }
}

/// Fault knobs for every request, with overrides per event type.
///
/// ```
/// use std::time::Duration;
/// use capsule_dev::{EventType, FaultKnobs, Faults};
///
/// // Every request waits 50 ms; half of the tool invocations get a 503.
/// let faults = Faults::all(FaultKnobs::default().latency(Duration::from_millis(50)))
///     .for_event_type(EventType::ToolInvocation, FaultKnobs::default().status(503, 0.5));
/// # let _ = faults;
/// ```
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The knobs for event types without an override.
    pub all: FaultKnobs,
    /// Knobs that replace `all` for one event type.
    pub by_event_type: BTreeMap<EventType, FaultKnobs>,
}

impl Faults {
    /// No faults: the server behaves normally.
    #[must_use]
    pub fn none() -> Faults {
        Faults::default()
    }

    /// The same knobs for every event type.
    #[must_use]
    pub fn all(knobs: FaultKnobs) -> Faults {
        Faults {
            all: knobs,
            by_event_type: BTreeMap::new(),
        }
    }

    /// Replaces the knobs for one event type.
    #[must_use]
    pub fn for_event_type(mut self, event_type: EventType, knobs: FaultKnobs) -> Faults {
        self.by_event_type.insert(event_type, knobs);
        self
    }

    /// The knobs that apply to an event type.
    #[must_use]
    pub fn knobs_for(&self, event_type: EventType) -> &FaultKnobs {
        self.by_event_type.get(&event_type).unwrap_or(&self.all)
    }

    /// Checks that shares are between 0 and 1 and statuses are HTTP statuses.
    ///
    /// # Errors
    ///
    /// The first knob out of range, named by its path (e.g. `by_event_type.tool_result.`).
    pub fn validate(&self) -> Result<(), String> {
        self.all.check("all.")?;
        for (event_type, knobs) in &self.by_event_type {
            knobs.check(&format!("by_event_type.{event_type}."))?;
        }
        Ok(())
    }
}

/// What the fault knobs do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injected {
    Nothing,
    Status(u16),
    Close,
}

/// Counts requests per event type, so shares are exact.
#[derive(Debug, Default)]
pub(crate) struct FaultCounters {
    status: [AtomicU64; 6],
    close: [AtomicU64; 6],
}

impl FaultCounters {
    pub(crate) fn reset(&self) {
        for counter in self.status.iter().chain(&self.close) {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Picks the fault for the next request of `event_type`.
    pub(crate) fn next(&self, event_type: EventType, knobs: &FaultKnobs) -> Injected {
        let slot = event_type.index();
        if take_share(&self.close[slot], knobs.close_share) {
            return Injected::Close;
        }
        match knobs.status {
            Some(status) if take_share(&self.status[slot], knobs.status_share) => {
                Injected::Status(status)
            }
            _ => Injected::Nothing,
        }
    }
}

/// Whether the request counted by `counter` falls in `share`: request `n` does when
/// `floor((n + 1) * share)` passes `floor(n * share)`, which spreads the hits evenly.
#[allow(clippy::cast_precision_loss)]
fn take_share(counter: &AtomicU64, share: f64) -> bool {
    if share <= 0.0 {
        return false;
    }
    if share >= 1.0 {
        return true;
    }
    let n = counter.fetch_add(1, Ordering::Relaxed) as f64;
    ((n + 1.0) * share).floor() > (n * share).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_exact() {
        let counters = FaultCounters::default();
        let knobs = FaultKnobs::default().status(503, 0.25);
        let hits = (0..100)
            .filter(|_| counters.next(EventType::ToolResult, &knobs) == Injected::Status(503))
            .count();
        assert_eq!(hits, 25);
    }

    #[test]
    fn overrides_replace_the_default() {
        let faults = Faults::all(FaultKnobs::default().close_connection(1.0))
            .for_event_type(EventType::SessionEnd, FaultKnobs::default());
        assert_eq!(
            faults.knobs_for(EventType::SessionEnd),
            &FaultKnobs::default()
        );
        assert!((faults.knobs_for(EventType::SessionStart).close_share - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_status_without_a_share_applies_to_every_request() {
        let knobs: FaultKnobs = serde_json::from_str(r#"{"status": 503}"#).unwrap();
        assert_eq!(knobs, FaultKnobs::default().status(503, 1.0));
        let counters = FaultCounters::default();
        assert!(
            (0..4).all(|_| counters.next(EventType::ToolResult, &knobs) == Injected::Status(503))
        );
    }

    #[test]
    fn rejects_out_of_range_knobs() {
        let faults = Faults::none().for_event_type(
            EventType::ToolResult,
            FaultKnobs::default().status(503, 2.0),
        );
        let err = faults.validate().unwrap_err();
        assert!(
            err.contains("by_event_type.tool_result.status_share"),
            "{err}"
        );
    }
}
