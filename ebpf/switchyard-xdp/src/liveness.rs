//! The daemon's liveness stamp. The daemon writes the time (CLOCK_MONOTONIC, the clock of
//! `bpf_ktime_get_ns`) into the `STAMP` map every stamp period. A daemon that died without
//! cleanup stops stamping; once its stamp is older than `stale_after_ns` its answers are no
//! longer served, and to the world it looks like the dead DNS server it is.

use aya_ebpf::helpers::bpf_ktime_get_ns;
use switchyard_common::XdpConfig;

use crate::maps;

/// Whether the daemon stamped recently enough for the answer map to be served.
#[inline(always)]
pub fn daemon_alive(config: &XdpConfig) -> bool {
    let Some(stamp) = maps::liveness_stamp() else {
        return false;
    };
    // SAFETY: a helper without arguments that only reads the clock.
    let now = unsafe { bpf_ktime_get_ns() };
    now.saturating_sub(stamp) <= config.stale_after_ns
}
