//! The XDP program's clock, kept in its per-CPU scratch memory: read once per kernel tick.

/// One clock read per kernel tick and CPU: the tick counter is read on every packet and costs
/// almost nothing, the clock is read again only when the tick has moved on.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TickClock {
    /// The tick counter (jiffies) when `ns` was read; 0 before the first read.
    pub tick: u64,
    /// CLOCK_MONOTONIC in nanoseconds, read during tick `tick`.
    pub ns: u64,
}

impl TickClock {
    /// The time in tick `tick`: the stored one while the tick is the same, else `read()`'s,
    /// stored. So the time lags by up to a tick (4 ms at HZ=250), or a few when the tick
    /// counter itself falls behind (it catches up within a few ticks).
    #[inline(always)]
    pub fn now_ns(&mut self, tick: u64, read: impl FnOnce() -> u64) -> u64 {
        if tick != 0 && tick == self.tick {
            return self.ns;
        }
        let ns = read();
        *self = TickClock { tick, ns };
        ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_read_once_per_tick() {
        let mut clock = TickClock::default();
        let reads = core::cell::Cell::new(0u64);
        let read = |ns: u64| {
            let reads = &reads;
            move || {
                reads.set(reads.get() + 1);
                ns
            }
        };
        assert_eq!(clock.now_ns(7, read(100)), 100);
        assert_eq!(clock.now_ns(7, read(150)), 100, "the same tick keeps the time read in it");
        assert_eq!(clock.now_ns(8, read(4_000_100)), 4_000_100, "a new tick reads the clock");
        assert_eq!(clock.now_ns(8, read(4_000_200)), 4_000_100);
        assert_eq!(reads.get(), 2);
    }

    #[test]
    fn a_tick_counter_of_zero_never_matches_the_empty_clock() {
        let mut clock = TickClock::default();
        assert_eq!(clock.now_ns(0, || 5), 5);
        assert_eq!(clock.now_ns(0, || 9), 9, "tick 0 is what an unread clock holds: always read");
    }
}
