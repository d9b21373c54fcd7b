//! Where each answer set's signature lies in `SIGNATURES`: every key has two places
//! (`signature_place`, told apart by the serial's `SIGNATURE_SIDE` bit). A new signature for a
//! key goes to the place its entry does not name, and the one the program was reading stays
//! untouched until a later pass writes that place again. The kernel writes the next update of
//! a hash map into the element an update replaced, at once: rewriting the place the program is
//! reading could hand it part of another key's signature.

use std::collections::HashMap;

use aya::maps::MapError;
use switchyard_common::{MapEntry, MapKey, SIGNATURE_SIDE, signature_place};

use super::{
    signatures::{AnswerId, HeldSignature},
    writer::SignatureMap,
};

/// The signatures the writer keeps in the map, by the answer's key.
#[derive(Default)]
pub struct SignaturePlaces {
    /// The signature each key's entry names.
    current: HashMap<MapKey, HeldSignature>,
    /// What the key's other place still holds: the signature its entry named before.
    spares: HashMap<MapKey, HeldSignature>,
}

impl SignaturePlaces {
    /// Takes what `map` holds (an earlier daemon's): of a key's two places, the one its entry
    /// in `entries` names is the current one, whatever it holds (the program reads there);
    /// without an entry naming one, the one fresh longest. What they cover is not known (digest
    /// 0), so the next signed write signs every set anew, each into the other place.
    pub fn adopt(map: &SignatureMap<'_>, entries: &HashMap<MapKey, MapEntry>) -> Result<SignaturePlaces, MapError> {
        let mut found: HashMap<MapKey, Vec<(u64, HeldSignature)>> = HashMap::new();
        for entry in map.iter() {
            let (place, entry) = entry?;
            let key = MapKey { view: place.view & !SIGNATURE_SIDE, ..place };
            // The serial as the place it is in says (a map written before the two places has
            // serials with either top bit in the first place).
            let serial = (entry.serial & !SIGNATURE_SIDE) | (place.view & SIGNATURE_SIDE);
            found
                .entry(key)
                .or_default()
                .push((entry.fresh_until_ns, HeldSignature { serial, renew_at: 0, digest: 0 }));
        }
        let mut places = SignaturePlaces::default();
        for (key, mut held) in found {
            let named = entries.get(&key).map(|entry| entry.signature).filter(|&serial| serial != 0);
            let (current, spare) = match named {
                Some(named) => {
                    let on = |side: u32| held.iter().map(|(_, h)| *h).find(|h| h.side() == side);
                    (on(named & SIGNATURE_SIDE), on((named & SIGNATURE_SIDE) ^ SIGNATURE_SIDE))
                }
                None => {
                    held.sort_by_key(|(fresh_until, _)| *fresh_until);
                    let newest = held.pop().map(|(_, h)| h);
                    (newest, held.pop().map(|(_, h)| h))
                }
            };
            if let Some(current) = current {
                places.current.insert(key, current);
            }
            if let Some(spare) = spare {
                places.spares.insert(key, spare);
            }
        }
        Ok(places)
    }

    /// The signature `key`'s entry names.
    pub fn current(&self, key: &MapKey) -> Option<&HeldSignature> {
        self.current.get(key)
    }

    /// How many keys have a signature.
    pub fn keys_signed(&self) -> usize {
        self.current.len()
    }

    /// Whether a signature any entry names is renewed at or before `when` (Unix seconds).
    pub fn any_renewed_by(&self, when: u64) -> bool {
        self.current.values().any(|s| s.renew_at <= when)
    }

    /// The place (0 or `SIGNATURE_SIDE`) `key`'s next signature goes to when its entry names
    /// none: the one its current signature is not in.
    pub fn next_side(&self, key: &MapKey) -> u32 {
        match (self.current.get(key), self.spares.get(key)) {
            (Some(current), _) => current.side() ^ SIGNATURE_SIDE,
            (None, Some(spare)) => spare.side(),
            (None, None) => 0,
        }
    }

    /// The place a new signature of `key` goes to, while its entry in the answer map names
    /// `named` (0: none): never that place while it holds a signature (the program may be
    /// copying it); an empty place the entry was named ahead to is filled, so the entry need
    /// not be written again.
    pub fn side_for_new(&self, key: &MapKey, named: u32) -> u32 {
        let named_side = named & SIGNATURE_SIDE;
        match named {
            0 => self.next_side(key),
            _ if self.holds(key, named_side) => named_side ^ SIGNATURE_SIDE,
            _ => named_side,
        }
    }

    /// Whether `key`'s place `side` holds a signature.
    pub fn holds(&self, key: &MapKey, side: u32) -> bool {
        [self.current.get(key), self.spares.get(key)].into_iter().flatten().any(|held| held.side() == side)
    }

    /// The signature of `key` in either place that `usable` takes (its current one first): a
    /// write keeps it rather than sign the set anew. A set that changes back (a site that fails
    /// and returns) finds its former signature in the other place.
    pub fn kept(&self, key: &MapKey, usable: impl Fn(&HeldSignature) -> bool) -> Option<HeldSignature> {
        [self.current.get(key), self.spares.get(key)].into_iter().flatten().find(|held| usable(held)).copied()
    }

    /// The serial to name in the entry of the set `id` under `key` before its signature is
    /// made, when the map holds none to keep: that of the place the signed write will fill
    /// when that place is empty (the program finds nothing there and passes DO=1 queries to
    /// userspace until then), else none (0): a place that holds a signature is never named
    /// while a write may replace it.
    pub fn name_ahead(&self, key: &MapKey, id: AnswerId) -> u32 {
        let side = self.next_side(key);
        if self.holds(key, side) { 0 } else { id.serial | side }
    }

    /// Takes `signed` (by key, the signature each entry now names) as the write's result, and
    /// returns the places no entry names any more and none will: both places of every key
    /// that has no signature now. A key whose signature changed keeps its former one as its
    /// spare (the write put the new one in the other place).
    pub fn replace(&mut self, signed: HashMap<MapKey, HeldSignature>) -> Vec<MapKey> {
        let unused = self.release(|key| !signed.contains_key(key));
        let mut spares = HashMap::new();
        for (key, now) in &signed {
            match self.current.get(key) {
                Some(before) if before.side() != now.side() => {
                    spares.insert(*key, *before);
                }
                // Kept, or the first of this key: its spare, if any, is where it was.
                _ => {
                    if let Some(spare) = self.spares.get(key).filter(|s| s.side() != now.side()) {
                        spares.insert(*key, *spare);
                    }
                }
            }
        }
        self.current = signed;
        self.spares = spares;
        unused
    }

    /// Gives up both places of every key `leaving` picks, and returns them (to be removed from
    /// the map): for keys no entry in the answer map names any more.
    pub fn release(&mut self, leaving: impl Fn(&MapKey) -> bool) -> Vec<MapKey> {
        let mut places = Vec::new();
        for signatures in [&mut self.current, &mut self.spares] {
            signatures.retain(|key, held| {
                let stays = !leaving(key);
                if !stays {
                    places.push(signature_place(key, held.serial));
                }
                stays
            });
        }
        places
    }

    /// Forgets what every signature in the map covers (a new signer): none is kept or named
    /// for a set from now on, as for signatures adopted from another daemon, and the places
    /// stay known, so that each new signature still goes where the program is not reading.
    pub fn forget_contents(&mut self) {
        for held in self.current.values_mut().chain(self.spares.values_mut()) {
            held.digest = 0;
        }
    }

    /// Forgets every signature (a test's setup, or before the map is read again).
    pub fn clear(&mut self) {
        self.current.clear();
        self.spares.clear();
    }

    /// Holds `held` as `key`'s current signature (tests).
    #[cfg(test)]
    pub fn set_current(&mut self, key: MapKey, held: HeldSignature) {
        self.current.insert(key, held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> MapKey {
        MapKey { view: 0, qtype: 1, name_len: 17, name_hash: n }
    }

    fn held(serial: u32, digest: u64) -> HeldSignature {
        HeldSignature { serial, digest, renew_at: 9_999_999_999 }
    }

    #[test]
    fn each_new_signature_of_a_key_goes_to_the_place_its_entry_does_not_name() {
        let mut places = SignaturePlaces::default();
        let k = key(1);
        assert_eq!(places.next_side(&k), 0, "a key's first signature takes its first place");
        assert!(places.replace(HashMap::from([(k, held(7, 1))])).is_empty());
        assert_eq!(places.next_side(&k), SIGNATURE_SIDE);

        // Renewed (or changed): the new one in the second place, the former kept as the spare.
        assert!(places.replace(HashMap::from([(k, held(7 | SIGNATURE_SIDE, 1))])).is_empty());
        assert_eq!(places.current(&k).unwrap().serial, 7 | SIGNATURE_SIDE);
        assert_eq!(places.spares[&k].serial, 7);
        assert_eq!(places.next_side(&k), 0, "the next goes back to the first place, the spare's");

        // Kept as it is: nothing moves.
        assert!(places.replace(HashMap::from([(k, held(7 | SIGNATURE_SIDE, 1))])).is_empty());
        assert_eq!(places.spares[&k].serial, 7);

        // Signed again: the spare's place is written, the one named becomes the spare.
        assert!(places.replace(HashMap::from([(k, held(9, 2))])).is_empty());
        assert_eq!((places.current(&k).unwrap().serial, places.spares[&k].serial), (9, 7 | SIGNATURE_SIDE));
    }

    #[test]
    fn after_a_new_signer_no_signature_in_either_place_is_kept() {
        let mut places = SignaturePlaces::default();
        let k = key(1);
        places.replace(HashMap::from([(k, held(7, 1))]));
        places.replace(HashMap::from([(k, held(5 | SIGNATURE_SIDE, 3))]));
        let own = |id: AnswerId| move |held: &HeldSignature| held.covers(id);
        assert!(places.kept(&k, own(AnswerId { serial: 7, digest: 1 })).is_some(), "the spare, before");
        places.forget_contents();
        assert!(places.kept(&k, own(AnswerId { serial: 7, digest: 1 })).is_none(), "the old signer's spare");
        assert!(places.kept(&k, own(AnswerId { serial: 5, digest: 3 })).is_none(), "the old signer's current");
        assert_eq!(places.next_side(&k), 0, "the places are still known: the next goes where none is read");
        assert_eq!(places.name_ahead(&k, AnswerId { serial: 7, digest: 1 }), 0, "an occupied place is not named");
    }

    /// Two keys signed twice: a changed in between (both its places hold one), b not.
    fn a_in_both_places_b_in_one() -> (SignaturePlaces, MapKey, MapKey) {
        let mut places = SignaturePlaces::default();
        let (a, b) = (key(1), key(2));
        places.replace(HashMap::from([(a, held(7, 1)), (b, held(8, 1))]));
        places.replace(HashMap::from([(a, held(7 | SIGNATURE_SIDE, 1)), (b, held(8, 1))]));
        (places, a, b)
    }

    #[test]
    fn a_released_key_gives_up_both_its_places_at_once() {
        let (mut places, a, b) = a_in_both_places_b_in_one();
        let mut released = places.release(|k| *k == a);
        released.sort_by_key(|k| k.view);
        assert_eq!(released, vec![a, MapKey { view: SIGNATURE_SIDE, ..a }]);
        assert!(places.current(&a).is_none() && places.current(&b).is_some());
        assert!(places.replace(HashMap::from([(b, held(8, 1))])).is_empty(), "nothing of a's left to remove");
    }

    #[test]
    fn a_key_without_a_signature_gives_up_both_its_places() {
        let (mut places, a, b) = a_in_both_places_b_in_one();
        let mut unused = places.replace(HashMap::from([(b, held(8, 1))]));
        unused.sort_by_key(|k| k.view);
        assert_eq!(unused, vec![a, MapKey { view: SIGNATURE_SIDE, ..a }], "both of a's places, none of b's");
        assert!(places.current(&a).is_none() && !places.spares.contains_key(&a));
        assert_eq!(places.next_side(&a), 0);
    }

    #[test]
    fn a_new_signature_never_goes_to_the_place_the_entry_names_while_it_holds_one() {
        let (places, a, b) = a_in_both_places_b_in_one();
        // a: current in the second place, spare in the first.
        assert_eq!(places.side_for_new(&a, 7 | SIGNATURE_SIDE), 0, "named the current: the spare's place");
        assert_eq!(places.side_for_new(&a, 7), SIGNATURE_SIDE, "named the spare (kept ahead): the current's place");
        assert_eq!(places.side_for_new(&a, 0), 0, "named none: the place the current is not in");
        // b: only the first place holds one; an entry named ahead to the empty second is filled.
        assert_eq!(places.side_for_new(&b, 8 | SIGNATURE_SIDE), SIGNATURE_SIDE);
        assert_eq!(places.side_for_new(&b, 8), SIGNATURE_SIDE);
    }

    #[test]
    fn an_entry_is_named_ahead_only_to_an_empty_place_and_a_set_that_changes_back_keeps_its_signature() {
        let mut places = SignaturePlaces::default();
        let k = key(1);
        let id = AnswerId { serial: 7, digest: 1 };
        assert_eq!(places.name_ahead(&k, id), 7, "an empty first place");
        places.replace(HashMap::from([(k, held(7, 1))]));
        assert_eq!(places.name_ahead(&k, id), 7 | SIGNATURE_SIDE, "the second place, empty");
        places.replace(HashMap::from([(k, held(5 | SIGNATURE_SIDE, 3))]));
        // The first place holds the set's former signature: a write may replace it, so it is
        // not named ahead, but a write that finds it usable keeps it instead of signing anew.
        assert_eq!(places.name_ahead(&k, id), 0);
        let usable = |id: AnswerId| move |held: &HeldSignature| held.covers(id);
        assert_eq!(places.kept(&k, usable(id)).map(|h| h.serial), Some(7), "the spare, its own");
        assert_eq!(places.kept(&k, usable(AnswerId { serial: 7, digest: 2 })), None, "other content, one serial");
        assert_eq!(
            places.kept(&k, usable(AnswerId { serial: 5, digest: 3 })).map(|h| h.serial),
            Some(5 | SIGNATURE_SIDE)
        );
        // Kept: the spare is named again and the former current becomes the spare.
        places.replace(HashMap::from([(k, held(7, 1))]));
        assert_eq!((places.current(&k).unwrap().serial, places.spares[&k].serial), (7, 5 | SIGNATURE_SIDE));
    }
}
