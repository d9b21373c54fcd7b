//! The receiver's period clock: monotonic time cut into numbered slots.

use std::time::{Duration, Instant};

/// Slot `k` covers `[epoch + k*period, epoch + (k+1)*period)`.
#[derive(Clone, Copy, Debug)]
pub struct PeriodClock {
    epoch: Instant,
    period: Duration,
}

impl PeriodClock {
    pub fn new(epoch: Instant, period: Duration) -> Self {
        assert!(!period.is_zero(), "period must be positive");
        Self { epoch, period }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn slot(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        (elapsed / self.period.as_nanos()) as u64
    }

    pub fn slot_start(&self, slot: u64) -> Instant {
        self.epoch + self.period * u32::try_from(slot).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_half_open() {
        let epoch = Instant::now();
        let clock = PeriodClock::new(epoch, Duration::from_millis(50));
        assert_eq!(clock.slot(epoch), 0);
        assert_eq!(clock.slot(epoch + Duration::from_millis(49)), 0);
        assert_eq!(clock.slot(epoch + Duration::from_millis(50)), 1);
        assert_eq!(clock.slot(epoch + Duration::from_millis(1234)), 24);
        assert_eq!(clock.slot_start(24), epoch + Duration::from_millis(1200));
    }
}
