//! Response rate limiting: one token bucket per client prefix
//! (`switchyard_common::RrlConfig::charge`), time from `clock` (`clock::for_burst`). Every
//! query to this host's DNS sockets is charged here before any work on its answer, whether this
//! program answers it or passes it to userspace; the daemon does not charge again what came in
//! on an interface with this program attached and live (see the README's rate limiting
//! section).

use switchyard_common::{Counter, RrlVerdict, rrl_key_v4, rrl_key_v6};

use crate::{clock, maps, query::Frame};

/// The charge for a query from this frame's client. `exempt` skips the bucket (counted): a
/// client known to be real (e.g. one presenting a valid server cookie) is never limited.
#[inline(always)]
pub fn verdict(f: &Frame, exempt: bool, now: u64) -> RrlVerdict {
    let config = match maps::rrl_config() {
        Some(c) if c.enabled() => *c,
        _ => return RrlVerdict::Answer,
    };
    let key = if f.ipv6 {
        if exempt || maps::rrl_exempt_v6(f.src_v6()) {
            maps::count(Counter::RrlExempt);
            return RrlVerdict::Answer;
        }
        rrl_key_v6(f.src_v6(), config.ipv6_prefix)
    } else {
        let src = f.src_v4();
        if exempt || maps::rrl_exempt_v4(src) {
            maps::count(Counter::RrlExempt);
            return RrlVerdict::Answer;
        }
        rrl_key_v4(src, config.ipv4_prefix)
    };
    let now = clock::for_burst(config.burst_ns, now);
    match maps::rrl_bucket(&key) {
        Some(bucket) => config.charge(bucket, now),
        None => {
            maps::rrl_insert(&key, &config.new_bucket(now));
            RrlVerdict::Answer
        }
    }
}
