//! Liveness from the last N period slots of the receiver's own clock.
//!
//! Each peer has a bitmap of recent slots of this server's [`PeriodClock`]
//! (slot = which period of *our* clock a heartbeat arrived in). The rule
//! looks at the last N *completed* slots; the slot in progress counts only
//! in the peer's favour, because it is not over yet:
//!
//! * [`LivenessRule::EveryPeriod`] (default): alive while at least one
//!   heartbeat arrived in each of the last N periods. A completed period with
//!   no heartbeat marks the peer dead; heartbeats in N consecutive periods
//!   (the last may be the one in progress) mark it alive again.
//! * [`LivenessRule::AnyPeriod`]: alive while at least one heartbeat arrived
//!   in any of the last N completed periods or the current one; N empty
//!   completed periods mark it dead, one heartbeat revives it.
//!
//! This is deliberately not "last heartbeat younger than N x period": the
//! verdict changes only at our slot boundaries (where a timer re-evaluates
//! it) or when a heartbeat arrives, so a dead peer is noticed at the first
//! slot boundary after the rule fails: within N + 1 periods of its last
//! heartbeat under either rule (within 2 under `EveryPeriod`).
//!
//! [`PeriodClock`]: super::PeriodClock

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often a server sends its heartbeats: twice per period. The receiver cuts time into
/// slots of its own clock, whose boundaries the sender cannot see; sent once per period, the
/// heartbeats of a sender whose phase puts them just before a boundary would, one arriving a
/// little late, leave a slot empty, and under `EveryPeriod` the peer would be dead for N
/// periods. Twice per period, every slot holds one as long as delays vary by less than half a
/// period.
pub fn send_interval(period: Duration) -> Duration {
    period / 2
}

/// How the last N period slots decide liveness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessRule {
    /// Alive while at least one heartbeat arrived in each of the last N
    /// periods: one empty period marks the peer dead, N full ones revive it.
    #[default]
    EveryPeriod,
    /// Alive while at least one heartbeat arrived in any of the last N
    /// periods: N empty periods mark the peer dead, one heartbeat revives it.
    AnyPeriod,
}

/// The bitmap holds the current slot plus N completed ones.
pub const MAX_LIVE_PERIODS: u32 = 32;

#[derive(Clone, Debug)]
pub struct LivenessWindow {
    live_periods: u32,
    /// Newest slot with a heartbeat; bit `i` of `seen` is slot `newest - i`.
    newest: Option<u64>,
    seen: u64,
}

impl LivenessWindow {
    pub fn new(live_periods: u32) -> Self {
        assert!((1..=MAX_LIVE_PERIODS).contains(&live_periods), "live_periods out of range");
        Self { live_periods, newest: None, seen: 0 }
    }

    pub fn live_periods(&self) -> u32 {
        self.live_periods
    }

    /// A heartbeat arrived during `slot`.
    pub fn record(&mut self, slot: u64) {
        match self.newest {
            None => {
                self.newest = Some(slot);
                self.seen = 1;
            }
            Some(newest) if slot > newest => {
                let shift = slot - newest;
                self.seen = if shift >= 64 { 0 } else { self.seen << shift };
                self.seen |= 1;
                self.newest = Some(slot);
            }
            Some(newest) => {
                let age = newest - slot;
                if age < 64 {
                    self.seen |= 1 << age;
                }
            }
        }
    }

    pub fn heard_in(&self, slot: u64) -> bool {
        match self.newest {
            Some(newest) if slot <= newest && newest - slot < 64 => self.seen >> (newest - slot) & 1 == 1,
            _ => false,
        }
    }

    pub fn is_alive(&self, rule: LivenessRule, current_slot: u64) -> bool {
        let n = u64::from(self.live_periods);
        match rule {
            LivenessRule::EveryPeriod => {
                let completed = current_slot.checked_sub(1).is_some_and(|last| self.heard_in_each(last, n));
                completed || self.heard_in_each(current_slot, n)
            }
            LivenessRule::AnyPeriod => {
                self.newest.is_some_and(|newest| newest <= current_slot && current_slot - newest <= n)
            }
        }
    }

    /// Completed slots among the last N with no heartbeat.
    pub fn missed_in_window(&self, current_slot: u64) -> u32 {
        let n = u64::from(self.live_periods);
        (1..=n).filter_map(|back| current_slot.checked_sub(back)).filter(|&slot| !self.heard_in(slot)).count() as u32
    }

    /// Completed slots since the newest heartbeat; `None` if never heard.
    pub fn periods_since_heartbeat(&self, current_slot: u64) -> Option<u64> {
        self.newest.map(|newest| current_slot.saturating_sub(newest).saturating_sub(1))
    }

    /// Why the peer is now dead, for the log line.
    pub fn death_cause(&self, rule: LivenessRule, current_slot: u64) -> String {
        let n = self.live_periods;
        match rule {
            LivenessRule::EveryPeriod => {
                format!("missed {} of the last {n} periods", self.missed_in_window(current_slot))
            }
            LivenessRule::AnyPeriod => format!("missed {n} periods"),
        }
    }

    /// Why the peer is now alive, for the log line.
    pub fn revival_cause(&self, rule: LivenessRule) -> String {
        match (rule, self.newest) {
            (_, None) => "no heartbeat".to_owned(),
            (LivenessRule::EveryPeriod, Some(_)) => {
                format!("heartbeat resumed in each of the last {} periods", self.live_periods)
            }
            (LivenessRule::AnyPeriod, Some(_)) => "heartbeat resumed".to_owned(),
        }
    }

    /// Slots `last - n + 1 ..= last` each saw a heartbeat.
    fn heard_in_each(&self, last: u64, n: u64) -> bool {
        last + 1 >= n && (0..n).all(|back| self.heard_in(last - back))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::PeriodClock;
    use super::*;

    const PERIOD: Duration = Duration::from_millis(100);

    /// A fake clock: time only moves when the test says so.
    struct FakeTime {
        clock: PeriodClock,
        now: Instant,
    }

    impl FakeTime {
        fn new() -> Self {
            let start = Instant::now();
            Self { clock: PeriodClock::new(start, PERIOD), now: start }
        }
        fn advance_ms(&mut self, ms: u64) {
            self.now += Duration::from_millis(ms);
        }
        fn slot(&self) -> u64 {
            self.clock.slot(self.now)
        }
    }

    #[test]
    fn every_period_needs_n_full_periods_and_dies_on_one_gap() {
        let rule = LivenessRule::EveryPeriod;
        let mut time = FakeTime::new();
        let mut window = LivenessWindow::new(3);
        assert!(!window.is_alive(rule, time.slot()));
        // Heartbeats at 30 ms into each period.
        time.advance_ms(30);
        window.record(time.slot()); // slot 0
        assert!(!window.is_alive(rule, time.slot()));
        time.advance_ms(100);
        window.record(time.slot()); // slot 1
        assert!(!window.is_alive(rule, time.slot()));
        time.advance_ms(100);
        window.record(time.slot()); // slot 2: three in a row, one in progress
        assert!(window.is_alive(rule, time.slot()));
        // Slot 3 starts: in progress and empty, but 0..=2 are full.
        time.advance_ms(80); // 310 ms
        assert!(window.is_alive(rule, time.slot()));
        // Slot 4 starts with slot 3 empty: dead.
        time.advance_ms(100); // 410 ms
        assert!(!window.is_alive(rule, time.slot()));
        assert_eq!(window.missed_in_window(time.slot()), 1);
        assert_eq!(window.death_cause(rule, time.slot()), "missed 1 of the last 3 periods");
        // Resuming needs three consecutive periods again.
        window.record(time.slot()); // slot 4
        assert!(!window.is_alive(rule, time.slot()));
        time.advance_ms(100);
        window.record(time.slot()); // slot 5
        time.advance_ms(100);
        assert!(!window.is_alive(rule, time.slot()));
        window.record(time.slot()); // slot 6
        assert!(window.is_alive(rule, time.slot()));
    }

    /// A sender at `send_interval`, whatever its phase against the receiver's slots and with
    /// delays that vary by up to just under half a period, is never seen dead once it has been
    /// heard for N periods. (Once per period, a phase just before a slot boundary and one late
    /// heartbeat leave a slot empty.)
    #[test]
    fn heartbeats_at_the_send_interval_keep_a_peer_alive_whatever_the_phase() {
        let rule = LivenessRule::EveryPeriod;
        let period_ms = PERIOD.as_millis() as u64;
        let interval_ms = send_interval(PERIOD).as_millis() as u64;
        for phase in 0..period_ms {
            let mut window = LivenessWindow::new(3);
            // Delays alternate between none and just under half a period, the worst spread.
            let arrivals: Vec<u64> = (0..60).map(|k| phase + k * interval_ms + (k % 2) * (period_ms / 2 - 1)).collect();
            let mut next = 0;
            for slot in 1..(arrivals.len() as u64 * interval_ms / period_ms) {
                // Everything that arrived before this slot began.
                while next < arrivals.len() && arrivals[next] < slot * period_ms {
                    window.record(arrivals[next] / period_ms);
                    next += 1;
                }
                if slot > 4 {
                    assert!(window.is_alive(rule, slot), "phase {phase} ms: dead at slot {slot}");
                }
            }
        }
    }

    #[test]
    fn two_heartbeats_in_one_period_do_not_cover_the_next() {
        let rule = LivenessRule::EveryPeriod;
        let mut window = LivenessWindow::new(2);
        for slot in [0, 1, 2, 2] {
            window.record(slot);
        }
        assert!(window.is_alive(rule, 3));
        assert!(!window.is_alive(rule, 4));
    }

    #[test]
    fn any_period_dies_after_n_empty_periods() {
        let rule = LivenessRule::AnyPeriod;
        let mut time = FakeTime::new();
        let mut window = LivenessWindow::new(3);
        time.advance_ms(950); // slot 9
        window.record(time.slot());
        assert!(window.is_alive(rule, time.slot()));
        for expected_slot in 10..=12 {
            time.advance_ms(100);
            assert_eq!(time.slot(), expected_slot);
            assert!(window.is_alive(rule, time.slot()), "slot {expected_slot}");
        }
        time.advance_ms(100); // slot 13: slots 10, 11, 12 all empty
        assert!(!window.is_alive(rule, time.slot()));
        assert_eq!(window.periods_since_heartbeat(time.slot()), Some(3));
        assert_eq!(window.death_cause(rule, time.slot()), "missed 3 periods");
        window.record(time.slot());
        assert!(window.is_alive(rule, time.slot()));
    }

    #[test]
    fn death_is_seen_within_n_plus_one_periods_of_last_heartbeat() {
        for rule in [LivenessRule::EveryPeriod, LivenessRule::AnyPeriod] {
            for n in 1..=5u32 {
                let mut window = LivenessWindow::new(n);
                for slot in 0..20 {
                    window.record(slot);
                }
                let last_heard = 19;
                let dead_at = (last_heard..).find(|&slot| !window.is_alive(rule, slot)).unwrap();
                // Death is noticed at the start of slot `dead_at`; the last
                // heartbeat was at best at the start of slot 19.
                assert!(dead_at - last_heard <= u64::from(n) + 1, "{rule:?} n={n} dead_at={dead_at}");
            }
        }
    }

    #[test]
    fn long_silence_clears_the_bitmap() {
        let mut window = LivenessWindow::new(3);
        for slot in 0..5 {
            window.record(slot);
        }
        window.record(1_000);
        assert!(!window.heard_in(4));
        assert!(window.heard_in(1_000));
        assert!(!window.is_alive(LivenessRule::EveryPeriod, 1_000));
        assert!(window.is_alive(LivenessRule::AnyPeriod, 1_000));
    }
}
