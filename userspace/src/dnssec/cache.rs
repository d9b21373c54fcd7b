//! Signatures by RRset content: an answer variant changes only with site state, so each one
//! is signed once and served until its signature is due for renewal.

use std::{collections::HashMap, sync::Mutex};

use hickory_proto::dnssec::rdata::RRSIG;

/// More distinct RRsets than a large config serves (two families of 100,000 names) and, for
/// each, a variant signed ahead for a site's failover; past it the cache starts over rather
/// than grow without bound.
const MAX_ENTRIES: usize = 500_000;
/// Signing ahead stops short of this many entries, leaving the rest of the room to the sets
/// it did not foresee (a start-over would drop the served sets' signatures too).
const AHEAD_LIMIT: usize = MAX_ENTRIES / 4 * 3;

struct Cached {
    /// One per key of the zone.
    rrsigs: Vec<RRSIG>,
    /// Unix seconds from which this signature is made anew.
    renew_at: u64,
}

#[derive(Default)]
pub struct SignatureCache {
    entries: Mutex<HashMap<Vec<u8>, Cached>>,
}

impl SignatureCache {
    /// The cached signatures for `key` and their renewal time, when not yet due at `now`.
    pub fn get(&self, key: &[u8], now: u64) -> Option<(Vec<RRSIG>, u64)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|c| now < c.renew_at).map(|c| (c.rrsigs.clone(), c.renew_at))
    }

    /// Whether `key` has signatures not yet due at `now`.
    pub fn holds(&self, key: &[u8], now: u64) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).is_some_and(|c| now < c.renew_at)
    }

    pub fn put(&self, key: Vec<u8>, rrsigs: Vec<RRSIG>, renew_at: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Cached { rrsigs, renew_at });
    }

    /// Whether signing ahead may add an RRset.
    pub fn has_room_ahead(&self) -> bool {
        self.len() < AHEAD_LIMIT
    }

    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
