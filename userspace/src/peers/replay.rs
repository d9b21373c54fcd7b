//! Replay protection per (peer, boot id).
//!
//! A sender picks a random 64-bit boot id when it starts and numbers its
//! heartbeats 1, 2, 3, ... under it, so nothing needs persisting: a restart
//! shows up as a new boot id, not as a sequence going backwards. We accept a
//! heartbeat only if its sequence is above the last one accepted for its boot
//! id. A new boot id replaces the current one, which is remembered as retired
//! so that a captured datagram of an earlier boot is not taken as yet another
//! restart. Captures older than the skew limit are refused as stale anyway,
//! so a short list of retired ids suffices. Reordered datagrams are dropped
//! too; sent half a period apart (twice per period) they are rarely reordered, and one
//! dropped seldom leaves a period without another.

use std::collections::VecDeque;

/// More restarts than this within `max_skew_ms` would let a capture of the
/// oldest boot through; a peer cannot restart that fast.
const RETIRED_BOOTS: usize = 16;

#[derive(Clone, Debug, Default)]
pub(super) struct ReplayGuard {
    current: Option<(u64, u64)>,
    retired: VecDeque<u64>,
}

impl ReplayGuard {
    pub(super) fn is_fresh(&self, boot_id: u64, sequence: u64) -> bool {
        match self.current {
            Some((current, last)) if current == boot_id => sequence > last,
            _ => !self.retired.contains(&boot_id),
        }
    }

    /// Records an accepted heartbeat; returns true if it started a new boot.
    pub(super) fn accept(&mut self, boot_id: u64, sequence: u64) -> bool {
        match &mut self.current {
            Some((current, last)) if *current == boot_id => {
                *last = sequence;
                false
            }
            current => {
                if let Some((old, _)) = current.replace((boot_id, sequence)) {
                    if self.retired.len() == RETIRED_BOOTS {
                        self.retired.pop_front();
                    }
                    self.retired.push_back(old);
                }
                true
            }
        }
    }

    pub(super) fn current(&self) -> Option<(u64, u64)> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_must_grow_within_a_boot() {
        let mut guard = ReplayGuard::default();
        assert!(guard.is_fresh(7, 1));
        assert!(guard.accept(7, 1));
        assert!(!guard.is_fresh(7, 1));
        assert!(guard.is_fresh(7, 2));
        assert!(!guard.accept(7, 5));
        assert!(!guard.is_fresh(7, 4));
    }

    #[test]
    fn restart_is_not_a_replay_but_the_old_boot_is_retired() {
        let mut guard = ReplayGuard::default();
        guard.accept(7, 100);
        assert!(guard.is_fresh(9, 1));
        guard.accept(9, 1);
        assert!(!guard.is_fresh(7, 101));
        assert_eq!(guard.current(), Some((9, 1)));
    }
}
