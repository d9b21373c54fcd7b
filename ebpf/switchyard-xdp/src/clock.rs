//! The program's clock: CLOCK_MONOTONIC, the daemon's clock, read at most once per kernel tick
//! on each CPU.
//!
//! Every helper call costs tens of nanoseconds on machines whose kernel guards each return
//! against speculation, and the clock's was about a sixth of a cached A hit's time in the
//! program on the developers' VM (CLOCK_MONOTONIC_COARSE measured little cheaper). The tick
//! counter (`bpf_jiffies64`) is a plain load the verifier inlines, so the clock is read only
//! when the tick moves on (`TickClock`) and the time handed to the checks (the daemon's
//! liveness, cookies, the rate limit, signature freshness) lags by at most one tick: 4 ms at
//! HZ=250, far below the seconds and milliseconds they count in.

use aya_ebpf::helpers::{bpf_jiffies64, bpf_ktime_get_ns};
use switchyard_common::TickClock;

/// CLOCK_MONOTONIC in nanoseconds as of this CPU's first packet in the current tick.
#[inline(always)]
pub fn now_ns(clock: &mut TickClock) -> u64 {
    // SAFETY: helpers without arguments that only read the tick counter and the clock.
    let tick = unsafe { bpf_jiffies64() };
    clock.now_ns(tick, || unsafe { bpf_ktime_get_ns() })
}
