//! The daemon's liveness stamp: CLOCK_MONOTONIC written into the `STAMP` map every period.
//! The XDP program serves answers only while the stamp is younger than `[xdp] stale_after_ms`,
//! so the answers of a daemon that died without cleanup stop being served.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use aya::maps::{Array, MapData};
use tokio::task::JoinHandle;
use tracing::warn;

use super::ingress::XdpIngress;

/// Stamps per `stale_after`: a few missed periods (a busy machine) do not make it stale.
const STAMPS_PER_STALE_AFTER: u32 = 4;
/// Longest stamp period, whatever `stale_after`.
const MAX_PERIOD: Duration = Duration::from_secs(1);

/// The stamp period for `stale_after`.
pub fn period(stale_after: Duration) -> Duration {
    (stale_after / STAMPS_PER_STALE_AFTER).min(MAX_PERIOD)
}

/// CLOCK_MONOTONIC in nanoseconds: the clock `bpf_ktime_get_ns` reads.
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Writes the stamp now and tells `ingress`.
pub fn write(map: &mut Array<MapData, u64>, ingress: &XdpIngress) -> Result<(), aya::maps::MapError> {
    let now = monotonic_ns();
    map.set(0, now, 0)?;
    ingress.stamped(now);
    Ok(())
}

/// Stamps every `period_ms` (read before each wait, so a reload can change it) until aborted.
pub fn start(mut map: Array<MapData, u64>, period_ms: Arc<AtomicU64>, ingress: Arc<XdpIngress>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            tokio::time::sleep(Duration::from_millis(period_ms.load(Ordering::Relaxed))).await;
            match write(&mut map, &ingress) {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    warn!(error = %e, "liveness stamp not written; XDP stops answering if it stays so");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    })
}
