//! The answer table as the daemon writes it: the index (`ANSWER_INDEX`, see `answer_index`)
//! and the slots (`AnswerSlot`s, their heads in `ANSWERS` and their tails in `ANSWER_TAILS`,
//! see `SlotHead`), all mapped into this process. Slots are written in place under their
//! sequence numbers (in the head) and used densely, the lowest free one first; each index
//! entry is written as one 8-byte store, after the slot it names.
//!
//! Only one process writes a table at a time (the daemon; a successor takes over after a
//! hand-off and reads it anew). Readers (the XDP program, `switchyard map`) read a slot's
//! sequence number before and after the slot and trust it only when both are the same even
//! number.

use std::{
    collections::HashMap,
    mem::size_of,
    os::fd::{AsFd, AsRawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, AtomicU64, Ordering, fence},
};

use aya::maps::MapData;
use switchyard_common::{
    AnswerSlot, INDEX_EMPTY, INDEX_REMOVED, MapEntry, MapKey, PROBE_POSITIONS, SLOT_EMPTY, SLOT_USED, SlotHead, SlotTail,
    entry_slot, entry_tag, home_position, index_entry, key_tag, map_names, slot_at,
};

#[derive(Debug, thiserror::Error)]
pub enum SlotsError {
    #[error("the answer map {map} is not a table of {expected}-byte values (its values are {found} bytes)")]
    Layout { map: &'static str, expected: usize, found: u32 },
    #[error("the answer index has {0} positions, not a power of two")]
    NotPowerOfTwo(u32),
    #[error("the answer map's heads ({heads}) and tails ({tails}) differ in number")]
    Unpaired { heads: u32, tails: u32 },
    #[error("the answer index ({positions} positions) is not at least twice its {slots} slots")]
    IndexTooSmall { positions: u32, slots: u32 },
    #[error("reading the answer map's description: {0}")]
    Info(aya::maps::MapError),
    #[error("mapping the answer map into memory: {0}")]
    Map(std::io::Error),
}

/// Where a key is: its index position and its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    position: u32,
    slot: u32,
}

/// The table mapped into this process, and where each key is.
pub struct AnswerSlots {
    index: NonNull<u64>,
    heads: NonNull<SlotHead>,
    tails: NonNull<SlotTail>,
    /// The index's length, a power of two.
    positions: u32,
    /// The slots' number: the most keys the table takes (`xdp.max_entries`).
    slots: u32,
    /// Where each key in the table is.
    places: HashMap<MapKey, Place>,
    /// The index entries as this writer left them.
    entries: Vec<u64>,
    /// The key of each used slot (the Robin Hood placement asks where an entry's key is at home).
    keys: Vec<MapKey>,
    /// Slots that hold no key, the lowest last: taken from the end.
    free: Vec<u32>,
}

// SAFETY: the mappings are owned by this value and only touched through `&self`/`&mut self`.
unsafe impl Send for AnswerSlots {}
unsafe impl Sync for AnswerSlots {}

impl AnswerSlots {
    /// Maps the table behind `index`, `heads` and `tails`. A writer of a table it did not make
    /// reads it first to learn which keys it holds (`reread`, which `MapWriter::adopt` calls).
    pub fn open(index: &MapData, heads: &MapData, tails: &MapData) -> Result<AnswerSlots, SlotsError> {
        let positions = value_count::<u64>(index, map_names::ANSWER_INDEX)?;
        let slots = value_count::<SlotHead>(heads, map_names::ANSWERS)?;
        let tail_slots = value_count::<SlotTail>(tails, map_names::ANSWER_TAILS)?;
        if slots != tail_slots {
            return Err(SlotsError::Unpaired { heads: slots, tails: tail_slots });
        }
        if !positions.is_power_of_two() {
            return Err(SlotsError::NotPowerOfTwo(positions));
        }
        if u64::from(positions) < 2 * u64::from(slots) || slots >= u32::MAX - 1 {
            return Err(SlotsError::IndexTooSmall { positions, slots });
        }
        let lengths = [
            positions as usize * size_of::<u64>(),
            slots as usize * size_of::<SlotHead>(),
            slots as usize * size_of::<SlotTail>(),
        ];
        let mut bases = Vec::new();
        for (map, len) in [index, heads, tails].into_iter().zip(lengths) {
            match map_shared(map, len) {
                Ok(base) => bases.push(base),
                Err(e) => {
                    for (base, len) in bases.into_iter().zip(lengths) {
                        // SAFETY: a mapping just made, of this size.
                        unsafe { libc::munmap(base, len) };
                    }
                    return Err(e);
                }
            }
        }
        Ok(AnswerSlots::over([bases[0], bases[1], bases[2]], positions, slots))
    }

    /// The table over `positions` index entries and `slots` heads and tails of mapped memory.
    fn over([index, heads, tails]: [*mut libc::c_void; 3], positions: u32, slots: u32) -> AnswerSlots {
        AnswerSlots {
            index: NonNull::new(index.cast::<u64>()).expect("mmap succeeded"),
            heads: NonNull::new(heads.cast::<SlotHead>()).expect("mmap succeeded"),
            tails: NonNull::new(tails.cast::<SlotTail>()).expect("mmap succeeded"),
            positions,
            slots,
            places: HashMap::new(),
            entries: vec![INDEX_EMPTY; positions as usize],
            keys: vec![NO_KEY; slots as usize],
            free: (0..slots).rev().collect(),
        }
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Reads the table again: which entry and slot hold which key. An entry whose slot does not
    /// hold a key of its tag (its writer died between the two; or the slot was left
    /// half-written, whose queries the program passes to userspace) counts as removed, and its
    /// slot as free. A key with two entries (its writer died between the two writes of a move,
    /// which copies the entry) keeps the one a lookup reaches first; the other is removed.
    pub fn reread(&mut self) {
        self.places.clear();
        let mask = self.positions - 1;
        for position in 0..self.positions {
            let entry = self.index_at(position).load(Ordering::Acquire);
            self.entries[position as usize] = entry;
            if entry == INDEX_EMPTY || entry == INDEX_REMOVED {
                continue;
            }
            let Some((slot, key)) = self.named_key(entry) else {
                self.write_entry(position, INDEX_REMOVED);
                continue;
            };
            self.keys[slot as usize] = key;
            let distance = |at: u32| at.wrapping_sub(home_position(&key, mask)) & mask;
            let place = Place { position, slot };
            match self.places.get(&key).copied() {
                Some(other) if other.slot != slot => self.write_entry(position, INDEX_REMOVED),
                Some(other) if distance(other.position) <= distance(position) => self.write_entry(position, INDEX_REMOVED),
                Some(other) => {
                    self.write_entry(other.position, INDEX_REMOVED);
                    self.places.insert(key, place);
                }
                None => {
                    self.places.insert(key, place);
                }
            }
        }
        let used: std::collections::HashSet<u32> = self.places.values().map(|p| p.slot).collect();
        self.free = (0..self.slots).rev().filter(|slot| !used.contains(slot)).collect();
    }

    /// The slot `entry` names and the key it holds, when it holds one of the entry's tag.
    fn named_key(&self, entry: u64) -> Option<(u32, MapKey)> {
        let slot = entry_slot(entry).filter(|&slot| slot < self.slots)?;
        let held = self.read(slot).filter(|s| s.state == SLOT_USED && key_tag(&s.key) == entry_tag(entry))?;
        Some((slot, held.key))
    }

    /// The answer set under `key`.
    pub fn get(&self, key: &MapKey) -> Option<MapEntry> {
        let place = self.places.get(key)?;
        self.read(place.slot).filter(|slot| slot.state == SLOT_USED && slot.key == *key).map(|slot| slot.entry)
    }

    /// Every key and answer set the index leads to, read from the maps (a key being moved has
    /// two entries for a moment, and is listed once).
    pub fn entries(&self) -> HashMap<MapKey, MapEntry> {
        let entries = (0..self.positions).map(|position| self.index_at(position).load(Ordering::Acquire));
        let slots = entries.filter_map(|entry| self.named_key(entry)).map(|(slot, _)| slot);
        slots.filter_map(|slot| self.read(slot)).filter(|s| s.state == SLOT_USED).map(|s| (s.key, s.entry)).collect()
    }

    /// Puts `entry` under `key`: in its slot when it has one, else in the lowest free slot, with
    /// an index entry at most `PROBE_POSITIONS - 1` past its home position. `false` when there
    /// is no free slot or position (the program does not find the key: userspace answers it).
    ///
    /// Robin Hood placement: a key passing a position whose key is nearer its own home takes
    /// that position, and the displaced key moves on. Probe runs stay short (no key of 100,000
    /// in 262,144 positions ends 8 past its home, against about one in a thousand when each
    /// key takes the first free position).
    pub fn insert(&mut self, key: MapKey, entry: &MapEntry) -> bool {
        if let Some(place) = self.places.get(&key) {
            self.write(place.slot, SLOT_USED, &key, entry);
            return true;
        }
        let Some(&slot) = self.free.last() else { return false };
        let Some(moves) = self.placement(key) else { return false };
        self.free.pop();
        self.write(slot, SLOT_USED, &key, entry);
        // Each displaced key's entry, as it stands at the position it leaves (the previous move's).
        let mut carried = vec![index_entry(key_tag(&key), slot)];
        carried.extend(moves.windows(2).map(|pair| self.entries[pair[0].0 as usize]));
        // Last move first: each displaced key's entry is written to its new position before its
        // old position is overwritten, so that a lookup finds every key all along.
        for (&(position, moved), &entry) in moves.iter().zip(&carried).rev() {
            self.write_entry(position, entry);
            let slot = entry_slot(entry).expect("a used entry names a slot");
            self.places.insert(moved, Place { position, slot });
        }
        true
    }

    /// Where `key` and the keys it displaces go (position, key), in probe order; `None` when one
    /// of them would end `PROBE_POSITIONS` or more past its home position.
    fn placement(&self, key: MapKey) -> Option<Vec<(u32, MapKey)>> {
        let mask = self.positions - 1;
        let (mut carried, mut distance) = (key, 0);
        let mut at = home_position(&key, mask);
        let mut moves = Vec::new();
        for _ in 0..self.positions {
            if distance >= PROBE_POSITIONS.min(self.positions) {
                return None;
            }
            let Some(slot) = entry_slot(self.entries[at as usize]) else {
                moves.push((at, carried));
                return Some(moves);
            };
            let occupant = self.keys[slot as usize];
            let occupant_distance = at.wrapping_sub(home_position(&occupant, mask)) & mask;
            if occupant_distance < distance {
                moves.push((at, carried));
                (carried, distance) = (occupant, occupant_distance);
            }
            at = (at + 1) & mask;
            distance += 1;
        }
        None
    }

    /// Removes `key`; `false` when the table does not hold it. Removed entries just before an
    /// empty one become empty again, so that lookups stop early. The slot is marked empty (a
    /// program that read the entry before it went finds no key there) and is free again.
    pub fn remove(&mut self, key: &MapKey) -> bool {
        let Some(place) = self.places.remove(key) else { return false };
        let mask = self.positions - 1;
        let next = (place.position + 1) & mask;
        let entry = if self.entries[next as usize] == INDEX_EMPTY { INDEX_EMPTY } else { INDEX_REMOVED };
        self.write_entry(place.position, entry);
        if entry == INDEX_EMPTY {
            let mut back = place.position;
            for _ in 0..self.positions {
                back = back.wrapping_sub(1) & mask;
                if self.entries[back as usize] != INDEX_REMOVED {
                    break;
                }
                self.write_entry(back, INDEX_EMPTY);
            }
        }
        self.write_state(place.slot, SLOT_EMPTY);
        self.free.push(place.slot);
        true
    }

    fn index_at(&self, position: u32) -> &AtomicU64 {
        assert!(position < self.positions, "position {position} of {}", self.positions);
        // SAFETY: an aligned u64 in the mapping, alive as long as `self`.
        unsafe { AtomicU64::from_ptr(self.index.as_ptr().add(position as usize)) }
    }

    /// Writes the index entry at `position` as one store, after everything written before it.
    fn write_entry(&mut self, position: u32, entry: u64) {
        self.index_at(position).store(entry, Ordering::Release);
        self.entries[position as usize] = entry;
    }

    fn head_ptr(&self, at: u32) -> *mut SlotHead {
        assert!(at < self.slots, "slot {at} of {}", self.slots);
        // SAFETY: within the mapping.
        unsafe { self.heads.as_ptr().add(at as usize) }
    }

    fn tail_ptr(&self, at: u32) -> *mut SlotTail {
        assert!(at < self.slots, "slot {at} of {}", self.slots);
        // SAFETY: within the mapping.
        unsafe { self.tails.as_ptr().add(at as usize) }
    }

    /// The field at `offset` of slot `at`'s head (`slot_at`).
    fn head_field<T>(&self, at: u32, offset: usize) -> *mut T {
        assert!(offset + size_of::<T>() <= size_of::<SlotHead>());
        // SAFETY: within the slot's head.
        unsafe { self.head_ptr(at).cast::<u8>().add(offset).cast() }
    }

    fn seq(&self, at: u32) -> &AtomicU32 {
        // SAFETY: an aligned u32 in the mapping, alive as long as `self`.
        unsafe { AtomicU32::from_ptr(self.head_field(at, slot_at::SEQ)) }
    }

    /// A consistent copy of slot `at`, or `None` when it stays half-written (a writer died).
    fn read(&self, at: u32) -> Option<AnswerSlot> {
        let seq = self.seq(at);
        for _ in 0..1000 {
            let before = seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                // SAFETY: plain bytes; a torn copy is detected below and dropped.
                let (head, tail) =
                    unsafe { (std::ptr::read_volatile(self.head_ptr(at)), std::ptr::read_volatile(self.tail_ptr(at))) };
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    return Some(AnswerSlot::from_parts(&head, &tail));
                }
            }
            std::hint::spin_loop();
        }
        None
    }

    /// Writes slot `at` whole under its sequence number: the tail, then the head but for the
    /// sequence number.
    fn write(&mut self, at: u32, state: u32, key: &MapKey, entry: &MapEntry) {
        let (head, tail) = AnswerSlot { state, key: *key, entry: *entry, ..AnswerSlot::EMPTY }.to_parts();
        let (head_ptr, tail_ptr) = (self.head_ptr(at), self.tail_ptr(at));
        self.under_seq(at, || unsafe {
            tail_ptr.write_volatile(tail);
            // Word by word from the state on: the sequence number is the one word not written.
            let (from, to) = (head.0.as_ptr().cast::<u32>(), head_ptr.cast::<u32>());
            for i in slot_at::STATE / 4..size_of::<SlotHead>() / 4 {
                to.add(i).write_volatile(from.add(i).read_unaligned());
            }
        });
        self.keys[at as usize] = *key;
    }

    /// Changes only slot `at`'s state.
    fn write_state(&mut self, at: u32, state: u32) {
        let field = self.head_field::<u32>(at, slot_at::STATE);
        self.under_seq(at, || unsafe { field.write_volatile(state) });
    }

    /// Makes the slot's sequence number odd, runs `write`, then makes it even again, so that a
    /// reader that overlapped the write sees the number change.
    fn under_seq(&mut self, at: u32, write: impl FnOnce()) {
        let seq = self.seq(at);
        let before = seq.load(Ordering::Relaxed);
        let odd = before | 1;
        seq.store(odd, Ordering::Relaxed);
        fence(Ordering::Release);
        write();
        seq.store(odd.wrapping_add(1), Ordering::Release);
    }

    /// Where `key` is, if in the table.
    #[cfg(test)]
    fn place_of(&self, key: &MapKey) -> Option<Place> {
        self.places.get(key).copied()
    }

    fn lengths(&self) -> [usize; 3] {
        [
            self.positions as usize * size_of::<u64>(),
            self.slots as usize * size_of::<SlotHead>(),
            self.slots as usize * size_of::<SlotTail>(),
        ]
    }
}

/// The key of a slot that holds none.
const NO_KEY: MapKey = MapKey { view: 0, qtype: 0, name_len: 0, name_hash: 0 };

impl Drop for AnswerSlots {
    fn drop(&mut self) {
        let bases = [self.index.as_ptr().cast(), self.heads.as_ptr().cast(), self.tails.as_ptr().cast()];
        for (base, len) in bases.into_iter().zip(self.lengths()) {
            // SAFETY: the mappings made in `open`, of these sizes.
            unsafe { libc::munmap(base, len) };
        }
    }
}

/// The number of values of `map`, checked to be `T`s.
fn value_count<T>(map: &MapData, name: &'static str) -> Result<u32, SlotsError> {
    let info = map.info().map_err(SlotsError::Info)?;
    if info.value_size() as usize != size_of::<T>() {
        return Err(SlotsError::Layout { map: name, expected: size_of::<T>(), found: info.value_size() });
    }
    Ok(info.max_entries())
}

/// A shared, writable mapping of `len` bytes of `map`'s own memory.
fn map_shared(map: &MapData, len: usize) -> Result<*mut libc::c_void, SlotsError> {
    // SAFETY: a shared mapping of the map's own memory, of exactly its size; the kernel keeps
    // the map alive while it is mapped.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            map.fd().as_fd().as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(SlotsError::Map(std::io::Error::last_os_error()));
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use switchyard_common::{PackedName, QTYPE_A, index_positions};

    use super::*;

    /// A table for `slots` keys in anonymous memory, zeroed as a new map is.
    fn table(slots: u32) -> AnswerSlots {
        let anonymous = |len: usize| {
            let flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS;
            let base =
                unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0) };
            assert_ne!(base, libc::MAP_FAILED);
            base
        };
        let positions = index_positions(slots);
        let index = anonymous(positions as usize * size_of::<u64>());
        let heads = anonymous(slots as usize * size_of::<SlotHead>());
        let tails = anonymous(slots as usize * size_of::<SlotTail>());
        let mut t = AnswerSlots::over([index, heads, tails], positions, slots);
        t.reread();
        t
    }

    fn key(i: u32) -> MapKey {
        let mut x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 29;
        MapKey { view: 0, qtype: QTYPE_A, name_len: 12, name_hash: x.wrapping_mul(0xbf58_476d_1ce4_e5b9) }
    }

    fn entry(i: u32) -> MapEntry {
        let name = PackedName::new(b"\x03www\x07example\x03com\x00").unwrap();
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&i.to_be_bytes());
        MapEntry::new(QTYPE_A, 30, &name, &[addr])
    }

    /// What the XDP program finds for `key`: it reads the index from the home position on, at
    /// most `PROBE_POSITIONS` entries, stops at an empty one, and reads the slot of each entry
    /// with the key's tag.
    fn program_lookup(table: &AnswerSlots, key: &MapKey) -> Option<MapEntry> {
        let mask = table.positions - 1;
        let home = home_position(key, mask);
        for i in 0..PROBE_POSITIONS {
            let entry = table.index_at(home.wrapping_add(i) & mask).load(Ordering::Acquire);
            if entry == INDEX_EMPTY {
                return None;
            }
            let Some(at) = entry_slot(entry).filter(|_| entry_tag(entry) == key_tag(key)) else { continue };
            let slot = table.read(at)?;
            if slot.state == SLOT_USED && slot.key == *key {
                return Some(slot.entry);
            }
        }
        None
    }

    #[test]
    fn every_key_written_is_found_by_the_programs_probe_and_no_removed_one() {
        let mut t = table(512);
        let mut state = 7u32;
        let mut held = std::collections::HashMap::new();
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let i = state % 700;
            if state & 0x100 == 0 {
                t.remove(&key(i));
                held.remove(&i);
            } else if t.insert(key(i), &entry(step)) {
                held.insert(i, step);
            } else {
                assert!(held.len() >= 512 || !held.contains_key(&i), "an update in place never fails");
            }
            if step % 97 == 0 || step > 19_900 {
                for i in 0..700 {
                    assert_eq!(program_lookup(&t, &key(i)), held.get(&i).map(|&s| entry(s)), "key {i} at step {step}");
                }
            }
        }
        assert_eq!(t.len(), held.len());
        let mut reread = t.entries();
        t.reread();
        assert_eq!(t.len(), held.len(), "a reread finds the same keys");
        reread.retain(|k, e| t.get(k) == Some(*e));
        assert_eq!(reread.len(), held.len());
    }

    #[test]
    fn a_hundred_thousand_keys_all_find_a_position_near_home_and_fill_the_lowest_slots() {
        let mut t = table(131_072);
        let placed = (0..100_000).filter(|&i| t.insert(key(i), &entry(i))).count();
        assert_eq!(placed, 100_000);
        assert!((0..100_000).step_by(997).all(|i| program_lookup(&t, &key(i)) == Some(entry(i))));
        let highest = (0..100_000).filter_map(|i| t.place_of(&key(i))).map(|p| p.slot).max();
        assert_eq!(highest, Some(99_999), "the slots are used densely, from the first on");
    }

    #[test]
    fn no_more_keys_than_slots_and_updates_still_land() {
        let mut t = table(4);
        assert!((0..4).all(|i| t.insert(key(i), &entry(i))));
        assert!(!t.insert(key(4), &entry(4)), "no free slot");
        assert!(t.insert(key(0), &entry(40)), "an update of a held key");
        assert_eq!(t.get(&key(0)), Some(entry(40)));
        let freed = t.place_of(&key(1)).unwrap().slot;
        assert!(t.remove(&key(1)) && t.insert(key(4), &entry(4)), "room again after a removal");
        assert_eq!(t.place_of(&key(4)).unwrap().slot, freed, "the freed slot is used again");
        assert_eq!(program_lookup(&t, &key(1)), None);
        assert_eq!(program_lookup(&t, &key(4)), Some(entry(4)));
    }

    #[test]
    fn a_key_left_with_two_entries_by_a_writer_that_died_mid_move_keeps_the_one_found_first() {
        let mut t = table(32);
        assert!(t.insert(key(1), &entry(1)));
        let place = t.place_of(&key(1)).unwrap();
        // The first write of a move: a copy of the entry one position on, the old one not yet
        // overwritten.
        let next = (place.position + 1) & (t.positions - 1);
        let entry_1 = t.entries[place.position as usize];
        t.write_entry(next, entry_1);
        t.reread();
        assert_eq!((t.len(), t.place_of(&key(1))), (1, Some(place)), "the entry nearer home is kept");
        assert_eq!(t.entries[next as usize], INDEX_REMOVED, "the other copy is removed");
        assert!(t.insert(key(1), &entry(2)) && t.remove(&key(1)));
        assert_eq!(program_lookup(&t, &key(1)), None, "removed for the program too");
    }

    #[test]
    fn a_slot_its_writer_left_half_written_is_neither_read_nor_kept() {
        let mut t = table(32);
        assert!(t.insert(key(1), &entry(1)));
        let at = t.place_of(&key(1)).unwrap().slot;
        // A writer that died between raising the sequence number and lowering it again.
        t.seq(at).fetch_add(1, Ordering::Relaxed);
        assert_eq!(t.read(at), None);
        t.reread();
        assert_eq!((t.len(), t.get(&key(1))), (0, None), "the key counts as not written");
        assert!(t.insert(key(1), &entry(2)), "written again");
        assert_eq!(program_lookup(&t, &key(1)), Some(entry(2)));
        assert_eq!(t.seq(t.place_of(&key(1)).unwrap().slot).load(Ordering::Relaxed) & 1, 0, "even again");
    }

    #[test]
    fn a_slot_written_but_never_indexed_is_free_after_a_reread() {
        let mut t = table(4);
        // A writer that died after writing a new key's slot, before its index entry.
        t.write(0, SLOT_USED, &key(9), &entry(9));
        t.free.retain(|&slot| slot != 0);
        t.reread();
        assert_eq!((t.len(), program_lookup(&t, &key(9))), (0, None));
        assert!((0..4).all(|i| t.insert(key(i), &entry(i))), "all four slots are free again");
    }

    #[test]
    fn a_removed_key_is_not_found_through_an_entry_read_before_the_removal() {
        let mut t = table(8);
        assert!(t.insert(key(1), &entry(1)));
        let place = t.place_of(&key(1)).unwrap();
        let stale = t.entries[place.position as usize];
        assert!(t.remove(&key(1)));
        // A program that read the entry just before: the slot it names holds no key now.
        let slot = t.read(entry_slot(stale).unwrap()).unwrap();
        assert_eq!(slot.state, SLOT_EMPTY);
        // And once the slot holds another key, that key is not the one asked for.
        assert!(t.insert(key(2), &entry(2)));
        assert_eq!(t.place_of(&key(2)).unwrap().slot, place.slot);
        assert_ne!(t.read(place.slot).unwrap().key, key(1));
    }
}
