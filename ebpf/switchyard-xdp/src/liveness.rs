//! The daemon's liveness stamp. The daemon writes the time (CLOCK_MONOTONIC, the clock of
//! `clock`) into the `STAMP` map every stamp period. A daemon that died without
//! cleanup stops stamping; once its stamp is older than `stale_after_ns` its answers are no
//! longer served, and to the world it looks like the dead DNS server it is.

use switchyard_common::XdpConfig;

use crate::maps;

/// Whether the daemon stamped recently enough for the answer map to be served.
#[inline(always)]
pub fn daemon_alive(config: &XdpConfig, now: u64) -> bool {
    let Some(stamp) = maps::liveness_stamp() else {
        return false;
    };
    now.saturating_sub(stamp) <= config.stale_after_ns
}
