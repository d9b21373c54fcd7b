//! Rise/fall state machine and latency smoothing of one check.

use crate::health::outcome::ProbeOutcome;

/// A check changed between up and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Up,
    Down,
}

/// Weight of a new latency sample in the moving average: 1/4.
const EWMA_SHIFT: u32 = 2;

/// Counts consecutive results and decides up/down.
///
/// The first result decides the state at once, so a freshly started server
/// answers correctly after one probe instead of `rise` probes; afterwards
/// `rise` successes bring a down check up and `fall` failures bring an up
/// check down.
#[derive(Clone, Debug)]
pub struct CheckTracker {
    rise: u32,
    fall: u32,
    up: Option<bool>,
    consecutive_ok: u32,
    consecutive_failed: u32,
    last: Option<ProbeOutcome>,
    rtt_ewma_us: Option<u32>,
    probes: u64,
    transitions: u64,
}

impl CheckTracker {
    pub fn new(rise: u32, fall: u32) -> Self {
        CheckTracker {
            rise: rise.max(1),
            fall: fall.max(1),
            up: None,
            consecutive_ok: 0,
            consecutive_failed: 0,
            last: None,
            rtt_ewma_us: None,
            probes: 0,
            transitions: 0,
        }
    }

    /// Starts from a verdict an earlier run saved: fresh probes must then confirm a change as
    /// usual (`rise` successes or `fall` failures) before the check changes state.
    pub fn restore(&mut self, up: bool) {
        self.up = Some(up);
    }

    /// Feeds one probe result; returns the transition it caused, if any.
    pub fn record(&mut self, outcome: ProbeOutcome) -> Option<Transition> {
        self.probes += 1;
        if let ProbeOutcome::Ok { latency } = &outcome {
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
            self.consecutive_failed = 0;
            self.smooth(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        } else {
            self.consecutive_failed = self.consecutive_failed.saturating_add(1);
            self.consecutive_ok = 0;
        }
        let ok = outcome.is_ok();
        self.last = Some(outcome);
        let next = match self.up {
            None => ok,
            Some(false) => self.consecutive_ok >= self.rise,
            Some(true) => self.consecutive_failed < self.fall,
        };
        if self.up == Some(next) {
            return None;
        }
        self.up = Some(next);
        self.transitions += 1;
        Some(if next { Transition::Up } else { Transition::Down })
    }

    fn smooth(&mut self, sample_us: u32) {
        let next = match self.rtt_ewma_us {
            None => sample_us,
            Some(avg) => {
                let delta = (i64::from(sample_us) - i64::from(avg)) >> EWMA_SHIFT;
                (i64::from(avg) + delta).clamp(0, i64::from(u32::MAX)) as u32
            }
        };
        self.rtt_ewma_us = Some(next);
    }

    /// `None` until the first probe result.
    pub fn up(&self) -> Option<bool> {
        self.up
    }

    pub fn is_up(&self) -> bool {
        self.up == Some(true)
    }

    pub fn consecutive_ok(&self) -> u32 {
        self.consecutive_ok
    }

    pub fn consecutive_failed(&self) -> u32 {
        self.consecutive_failed
    }

    pub fn last(&self) -> Option<&ProbeOutcome> {
        self.last.as_ref()
    }

    pub fn rtt_ewma_us(&self) -> Option<u32> {
        self.rtt_ewma_us
    }

    pub fn probes(&self) -> u64 {
        self.probes
    }

    pub fn transitions(&self) -> u64 {
        self.transitions
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ok(ms: u64) -> ProbeOutcome {
        ProbeOutcome::Ok { latency: Duration::from_millis(ms) }
    }

    fn bad() -> ProbeOutcome {
        ProbeOutcome::failed("status 503")
    }

    #[test]
    fn first_result_decides_immediately() {
        let mut up = CheckTracker::new(2, 2);
        assert_eq!(up.up(), None);
        assert_eq!(up.record(ok(1)), Some(Transition::Up));
        let mut down = CheckTracker::new(2, 2);
        assert_eq!(down.record(bad()), Some(Transition::Down));
    }

    #[test]
    fn fall_failures_bring_it_down_and_a_success_resets_the_count() {
        let mut tracker = CheckTracker::new(2, 3);
        tracker.record(ok(1));
        assert_eq!(tracker.record(bad()), None);
        assert_eq!(tracker.record(bad()), None);
        assert_eq!(tracker.record(ok(1)), None);
        assert_eq!(tracker.record(bad()), None);
        assert_eq!(tracker.record(bad()), None);
        assert_eq!(tracker.record(bad()), Some(Transition::Down));
        assert_eq!(tracker.consecutive_failed(), 3);
        assert_eq!(tracker.record(bad()), None);
    }

    #[test]
    fn rise_successes_bring_it_up() {
        let mut tracker = CheckTracker::new(3, 1);
        tracker.record(bad());
        assert_eq!(tracker.record(ok(1)), None);
        assert_eq!(tracker.record(ok(1)), None);
        assert_eq!(tracker.record(bad()), None);
        assert_eq!(tracker.record(ok(1)), None);
        assert_eq!(tracker.record(ok(1)), None);
        assert_eq!(tracker.record(ok(1)), Some(Transition::Up));
        assert_eq!(tracker.record(bad()), Some(Transition::Down), "fall = 1");
        assert_eq!(tracker.transitions(), 3);
        assert_eq!(tracker.probes(), 8);
    }

    #[test]
    fn latency_is_smoothed_over_successes_only() {
        let mut tracker = CheckTracker::new(1, 1);
        tracker.record(ok(8));
        assert_eq!(tracker.rtt_ewma_us(), Some(8_000));
        tracker.record(ok(16));
        assert_eq!(tracker.rtt_ewma_us(), Some(10_000));
        tracker.record(bad());
        assert_eq!(tracker.rtt_ewma_us(), Some(10_000));
        tracker.record(ok(0));
        assert_eq!(tracker.rtt_ewma_us(), Some(7_500));
    }
}
