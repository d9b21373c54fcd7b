//! Where the XDP program stands in front of the UDP sockets: the interfaces it is attached to
//! (the ones whose MACs it is given) while the daemon's liveness stamp is fresh. The program
//! charges every query that comes in there to its prefix's rate limit before any other work,
//! so the UDP server must not charge those again (`crate::rrl`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;

use super::stamp;

#[derive(Default)]
pub struct XdpIngress {
    /// Interface indexes the program sees first.
    interfaces: ArcSwap<Vec<u32>>,
    /// The last stamp written (CLOCK_MONOTONIC ns); 0 before the first.
    stamped_ns: AtomicU64,
    /// How old a stamp the program still trusts (`[xdp] stale_after_ms`).
    stale_after_ns: AtomicU64,
}

impl XdpIngress {
    pub fn set_interfaces(&self, ifindexes: Vec<u32>) {
        self.interfaces.store(Arc::new(ifindexes));
    }

    /// A stamp written at `at_ns`.
    pub fn stamped(&self, at_ns: u64) {
        self.stamped_ns.store(at_ns, Ordering::Relaxed);
    }

    pub fn set_stale_after(&self, stale_after: Duration) {
        self.stale_after_ns.store(stale_after.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Whether a query that came in on `ifindex` was charged by the program: it is attached
    /// there and takes the daemon for alive (the rule of the program's `liveness`).
    pub fn charged_by_program(&self, ifindex: u32) -> bool {
        if ifindex == 0 || !self.interfaces.load().contains(&ifindex) {
            return false;
        }
        let stamped = self.stamped_ns.load(Ordering::Relaxed);
        stamped != 0 && stamp::monotonic_ns().saturating_sub(stamped) <= self.stale_after_ns.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_interfaces_with_a_fresh_stamp_are_charged_by_the_program() {
        let ingress = XdpIngress::default();
        ingress.set_interfaces(vec![4, 7]);
        ingress.set_stale_after(Duration::from_secs(3));
        assert!(!ingress.charged_by_program(4), "never stamped");
        ingress.stamped(stamp::monotonic_ns());
        assert!(ingress.charged_by_program(4) && ingress.charged_by_program(7));
        assert!(!ingress.charged_by_program(5), "an interface without the program");
        assert!(!ingress.charged_by_program(0), "an unknown interface");
        ingress.stamped(stamp::monotonic_ns() - 4_000_000_000);
        assert!(!ingress.charged_by_program(4), "a stale stamp: the program passes uncharged");
    }
}
