//! Signatures by RRset content: an answer variant changes only with site state, so each one
//! is signed once and served until its signature is due for renewal.

use std::{collections::HashMap, sync::Mutex};

/// More distinct RRsets than a large config serves (two families of 100,000 names on two
/// sites: 200,000) and the variants signed ahead for each site's failover (400,000); past it
/// the signatures due for renewal are dropped, and if that is not enough the cache starts over
/// rather than grow without bound. About 190 bytes an entry.
const MAX_ENTRIES: usize = 1_000_000;

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

/// What signing an RRset ahead would do (see [`SignatureCache::ahead`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ahead {
    /// Signatures not yet due are cached.
    Held,
    /// Not cached, and there is room to sign it ahead.
    Sign,
    /// Not cached, and the cache is as full as signing ahead may make it.
    NoRoom,
}

pub struct SignatureCache {
    entries: Mutex<HashMap<Box<[u8]>, Cached>>,
    /// `MAX_ENTRIES` but in tests.
    limit: usize,
}

impl Default for SignatureCache {
    fn default() -> Self {
        SignatureCache::with_limit(MAX_ENTRIES)
    }
}

impl SignatureCache {
    pub fn with_limit(limit: usize) -> SignatureCache {
        SignatureCache { entries: Mutex::default(), limit }
    }

    /// The cached signatures for `key`, when not yet due for renewal at `now`.
    pub fn get(&self, key: &[u8], now: u64) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|c| now < c.renew_at).cloned()
    }

    /// What signing `key` ahead would do, under one look at the lock queries sign through.
    pub fn ahead(&self, key: &[u8], now: u64) -> Ahead {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.get(key).is_some_and(|c| now < c.renew_at) {
            Ahead::Held
        } else if entries.len() < self.room_ahead() {
            Ahead::Sign
        } else {
            Ahead::NoRoom
        }
    }

    /// Signing ahead stops at three quarters of the room, leaving the rest to the sets it did
    /// not foresee (a start-over would drop the served sets' signatures too).
    fn room_ahead(&self) -> usize {
        self.limit / 4 * 3
    }

    /// Keeps `cached` for `key`; when the cache is full, first drops what is due for renewal
    /// at `now`, and everything when that frees less than an eighth (so that a cache at the
    /// brim is not scanned again at every put, under the lock queries sign through).
    pub fn put(&self, key: Vec<u8>, cached: Cached, now: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.limit {
            entries.retain(|_, c| now < c.renew_at);
            if entries.len() > self.limit - self.limit / 8 {
                entries.clear();
            }
        }
        entries.insert(key.into_boxed_slice(), cached);
    }

    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(renew_at: u64) -> Cached {
        Cached { inception: 1, expiration: 2, renew_at, signatures: Box::new([7; 64]) }
    }

    #[test]
    fn a_full_cache_drops_what_is_due_before_it_starts_over() {
        let cache = SignatureCache::with_limit(8);
        for (i, key) in [b"du1", b"du2", b"du3", b"du4", b"one", b"two"].into_iter().enumerate() {
            assert_eq!(cache.ahead(b"other", 50), Ahead::Sign, "{i} of 8: room ahead");
            cache.put(key.to_vec(), cached(if i < 4 { 100 } else { 1_000 }), 50);
        }
        assert_eq!(cache.ahead(b"other", 50), Ahead::NoRoom, "6 of 8: signing ahead stops");
        assert_eq!(cache.ahead(b"one", 50), Ahead::Held, "held, whatever the room");
        cache.put(b"six".to_vec(), cached(1_000), 50);
        cache.put(b"ten".to_vec(), cached(1_000), 50);
        // Full at 150: the four entries due at 100 go, the others stay.
        cache.put(b"new".to_vec(), cached(1_000), 150);
        assert_eq!(cache.len(), 5);
        assert!(cache.get(b"one", 150).is_some() && cache.get(b"new", 150).is_some());
        assert_eq!(cache.ahead(b"du1", 0), Ahead::Sign, "dropped, not merely due");
        for key in [b"a", b"b", b"c"] {
            cache.put(key.to_vec(), cached(1_000), 150);
        }
        // Full with nothing due: it starts over.
        cache.put(b"last".to_vec(), cached(1_000), 150);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(b"last", 150), Some(cached(1_000)));
    }
}
