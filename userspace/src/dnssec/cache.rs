//! Signatures by RRset content: an answer variant changes only with site state, so each one
//! is signed once and served until its signature is due for renewal.

use std::{collections::HashMap, sync::Mutex};

/// More distinct RRsets than a large config serves (two families of 100,000 names) and, for
/// each, a variant signed ahead for a site's failover; past it the cache starts over rather
/// than grow without bound.
const MAX_ENTRIES: usize = 500_000;
/// Signing ahead stops short of this many entries, leaving the rest of the room to the sets
/// it did not foresee (a start-over would drop the served sets' signatures too).
const AHEAD_LIMIT: usize = MAX_ENTRIES / 4 * 3;

/// An RRset's signatures as kept: only what its RRSIGs carry beyond the RRset itself and the
/// signer's keys (type, labels, TTL, key tags and signer name are theirs), so that a cache of
/// the served sets and their failover variants stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cached {
    pub inception: u32,
    pub expiration: u32,
    /// Unix seconds from which the signatures are made anew.
    pub renew_at: u64,
    /// One signature per key of the signer, in its key order, one after the other (all of
    /// one length: one algorithm).
    pub signatures: Box<[u8]>,
}

#[derive(Default)]
pub struct SignatureCache {
    entries: Mutex<HashMap<Box<[u8]>, Cached>>,
}

impl SignatureCache {
    /// The cached signatures for `key`, when not yet due for renewal at `now`.
    pub fn get(&self, key: &[u8], now: u64) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|c| now < c.renew_at).cloned()
    }

    /// Whether `key` has signatures not yet due at `now`.
    pub fn holds(&self, key: &[u8], now: u64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).is_some_and(|c| now < c.renew_at)
    }

    pub fn put(&self, key: Vec<u8>, cached: Cached) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.into_boxed_slice(), cached);
    }

    /// Whether signing ahead may add an RRset.
    pub fn has_room_ahead(&self) -> bool {
        self.len() < AHEAD_LIMIT
    }

    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
