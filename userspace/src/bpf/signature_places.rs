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
    /// in `entries` names is the current one (else the one fresh longest). What they cover is
    /// not known (digest 0), so the next signed write signs every set anew, each into the
    /// place its entry does not name.
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
            let named = entries.get(&key).map(|entry| entry.signature);
            held.sort_by_key(|(fresh_until, held)| (Some(held.serial) == named, *fresh_until));
            if let Some((_, newest)) = held.pop() {
                places.current.insert(key, newest);
            }
            if let Some((_, older)) = held.pop() {
                places.spares.insert(key, older);
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

    /// The place (0 or `SIGNATURE_SIDE`) `key`'s next signature goes to: the one its entry
    /// does not name.
    pub fn next_side(&self, key: &MapKey) -> u32 {
        match (self.current.get(key), self.spares.get(key)) {
            (Some(current), _) => current.side() ^ SIGNATURE_SIDE,
            (None, Some(spare)) => spare.side(),
            (None, None) => 0,
        }
    }

    /// The serial to name in the entry of the set `id` under `key` before its signature is
    /// written: that of its next place, which the program checks against what the place
    /// holds, so it passes DO=1 queries to userspace until the signed write puts the set's
    /// signature there. 0 when that place holds a signature with this very serial that is not
    /// the set's own (other content whose serial collides, or a replaced signer's), which the
    /// program would take for it.
    pub fn name_ahead(&self, key: &MapKey, id: AnswerId, replaced_signer: bool) -> u32 {
        let side = self.next_side(key);
        let serial = id.serial | side;
        let there = [self.current.get(key), self.spares.get(key)].into_iter().flatten().find(|s| s.side() == side);
        match there {
            Some(held) if held.serial == serial && (!held.covers(id) || replaced_signer) => 0,
            _ => serial,
        }
    }

    /// Takes `signed` (by key, the signature each entry now names) as the write's result, and
    /// returns the places no entry names any more and none will: both places of every key
    /// that has no signature now. A key whose signature changed keeps its former one as its
    /// spare (the write put the new one in the other place).
    pub fn replace(&mut self, signed: HashMap<MapKey, HeldSignature>) -> Vec<MapKey> {
        let mut unused = Vec::new();
        for (key, held) in &self.current {
            if !signed.contains_key(key) {
                unused.push(signature_place(key, held.serial));
            }
        }
        for (key, spare) in &self.spares {
            if !signed.contains_key(key) {
                unused.push(signature_place(key, spare.serial));
            }
        }
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
    fn a_key_without_a_signature_gives_up_both_its_places() {
        let mut places = SignaturePlaces::default();
        let (a, b) = (key(1), key(2));
        places.replace(HashMap::from([(a, held(7, 1)), (b, held(8, 1))]));
        places.replace(HashMap::from([(a, held(7 | SIGNATURE_SIDE, 1)), (b, held(8, 1))]));
        let mut unused = places.replace(HashMap::from([(b, held(8, 1))]));
        unused.sort_by_key(|k| k.view);
        assert_eq!(unused, vec![a, MapKey { view: SIGNATURE_SIDE, ..a }], "both of a's places, none of b's");
        assert!(places.current(&a).is_none() && !places.spares.contains_key(&a));
        assert_eq!(places.next_side(&a), 0);
    }

    #[test]
    fn an_entry_is_named_ahead_of_its_signature_only_where_no_other_signature_with_its_serial_lies() {
        let mut places = SignaturePlaces::default();
        let k = key(1);
        let id = AnswerId { serial: 7, digest: 1 };
        assert_eq!(places.name_ahead(&k, id, false), 7, "an empty first place");
        places.replace(HashMap::from([(k, held(7, 1))]));
        // The next place is the second, empty.
        assert_eq!(places.name_ahead(&k, id, false), 7 | SIGNATURE_SIDE);
        places.replace(HashMap::from([(k, held(5 | SIGNATURE_SIDE, 3))]));
        // The next place, the first, holds the set's own former signature: the program may
        // serve it (while fresh) until the new one is written.
        assert_eq!(places.name_ahead(&k, id, false), 7);
        assert_eq!(places.name_ahead(&k, id, true), 0, "but not one by a replaced signer");
        let colliding = AnswerId { serial: 7, digest: 2 };
        assert_eq!(places.name_ahead(&k, colliding, false), 0, "other content with the same serial");
        let other = AnswerId { serial: 6, digest: 2 };
        assert_eq!(places.name_ahead(&k, other, false), 6, "another serial: the program passes until written");
    }
}
