//! Response rate limiting of what this program answers: one token bucket per client prefix
//! (`switchyard_common::RrlConfig::charge`), time from `bpf_ktime_get_ns`. Queries it passes
//! to userspace are not charged here; the daemon charges those it answers to the same buckets
//! (through the map's pin), so each response is charged once, on the path that sends it.

use core::mem::offset_of;

use aya_ebpf::helpers::bpf_ktime_get_ns;
use network_types::ip::{Ipv4Hdr, Ipv6Hdr};
use switchyard_common::{Counter, RrlVerdict, rrl_key_v4, rrl_key_v6};

use crate::{maps, packet::Packet, query::Frame};

/// What to do with the answer to this frame's client. `exempt` skips the bucket (counted): a
/// client known to be real (e.g. one presenting a valid server cookie) is never limited.
#[inline(always)]
pub fn verdict(pkt: &Packet, f: &Frame, exempt: bool) -> RrlVerdict {
    let config = match maps::rrl_config() {
        Some(c) if c.enabled() => *c,
        _ => return RrlVerdict::Answer,
    };
    let key = if f.ipv6 {
        let Some(src) = pkt.read::<[u8; 16]>(f.l3 + offset_of!(Ipv6Hdr, src_addr)) else {
            return RrlVerdict::Answer;
        };
        if exempt || maps::rrl_exempt_v6(src) {
            maps::count(Counter::RrlExempt);
            return RrlVerdict::Answer;
        }
        rrl_key_v6(src, config.ipv6_prefix)
    } else {
        let Some(src) = pkt.read::<[u8; 4]>(f.l3 + offset_of!(Ipv4Hdr, src_addr)) else {
            return RrlVerdict::Answer;
        };
        if exempt || maps::rrl_exempt_v4(src) {
            maps::count(Counter::RrlExempt);
            return RrlVerdict::Answer;
        }
        rrl_key_v4(src, config.ipv4_prefix)
    };
    // SAFETY: a helper without arguments that only reads the clock.
    let now = unsafe { bpf_ktime_get_ns() };
    match maps::rrl_bucket(&key) {
        Some(bucket) => config.charge(bucket, now),
        None => {
            maps::rrl_insert(&key, &config.new_bucket(now));
            RrlVerdict::Answer
        }
    }
}
