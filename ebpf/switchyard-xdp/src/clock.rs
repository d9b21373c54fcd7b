//! The program's one clock read per packet.
//!
//! Read once at the start of a run and handed to every check that needs the time (the daemon's
//! liveness, cookies, the rate limit, signature freshness): each read is a helper call into the
//! clock source, about a tenth of a cached A hit's time in the program on the developers' VM.
//! CLOCK_MONOTONIC_COARSE (`bpf_ktime_get_coarse_ns`) measured no cheaper there.

use aya_ebpf::helpers::bpf_ktime_get_ns;

/// CLOCK_MONOTONIC in nanoseconds, the daemon's clock.
#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: a helper without arguments that only reads the clock.
    unsafe { bpf_ktime_get_ns() }
}
