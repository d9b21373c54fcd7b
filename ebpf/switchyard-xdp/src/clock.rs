//! The program's clock: CLOCK_MONOTONIC, the daemon's clock, read at most once per kernel tick
//! on each CPU.
//!
//! Every helper call costs tens of nanoseconds on machines whose kernel guards each return
//! against speculation, and the clock's was about a sixth of a cached A hit's time in the
//! program on the developers' VM (CLOCK_MONOTONIC_COARSE measured little cheaper). The tick
//! counter (`bpf_jiffies64`) is a plain load the verifier inlines, so the clock is read only
//! when the tick moves on (`TickClock`). The time handed to the checks (the daemon's liveness,
//! cookies, signature freshness) lags by a tick, 4 ms at HZ=250 and 10 at HZ=100 (a few more
//! when the tick counter falls behind), against the seconds they count in. The rate limiter
//! charges a short burst at the clock itself (`for_burst`).

use aya_ebpf::helpers::{bpf_jiffies64, bpf_ktime_get_ns};
use switchyard_common::TickClock;

/// A burst shorter than this is charged at the clock itself: within a tick the cached time
/// stands still, and a burst under a tick would cap a prefix at one burst per tick.
const PRECISE_BURST_NS: u64 = 100_000_000;

/// CLOCK_MONOTONIC in nanoseconds as of this CPU's first packet in the current tick.
#[inline(always)]
pub fn now_ns(clock: &mut TickClock) -> u64 {
    // SAFETY: helpers without arguments that only read the tick counter and the clock.
    let tick = unsafe { bpf_jiffies64() };
    clock.now_ns(tick, || unsafe { bpf_ktime_get_ns() })
}

/// The time to charge a rate-limit bucket of `burst_ns` at: `now` (from `now_ns`) for a burst
/// of 100 ms or more, which a tick's lag changes by a tenth at most, else the clock itself.
#[inline(always)]
pub fn for_burst(burst_ns: u64, now: u64) -> u64 {
    // SAFETY: as above.
    if burst_ns < PRECISE_BURST_NS { unsafe { bpf_ktime_get_ns() } } else { now }
}
