//! The answer table (`AnswerSlot`s, their heads in `ANSWERS` and their tails in `ANSWER_TAILS`,
//! see `SlotHead`) as the daemon writes it: both arrays mapped into this process, each slot
//! written in place under its sequence number (in the head), and an index of which slot holds
//! which key.
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
    sync::atomic::{AtomicU32, Ordering, fence},
};

use aya::maps::MapData;
use switchyard_common::{
    AnswerSlot, MapEntry, MapKey, PROBE_SLOTS, SLOT_EMPTY, SLOT_REMOVED, SLOT_USED, SlotHead, SlotTail, home_slot,
    map_names, slot_at,
};

#[derive(Debug, thiserror::Error)]
pub enum SlotsError {
    #[error("the answer map {map} is not a table of {expected}-byte values (its values are {found} bytes)")]
    Layout { map: &'static str, expected: usize, found: u32 },
    #[error("the answer map has {0} slots, not a power of two")]
    NotPowerOfTwo(u32),
    #[error("the answer map's heads ({heads}) and tails ({tails}) differ in number")]
    Unpaired { heads: u32, tails: u32 },
    #[error("reading the answer map's description: {0}")]
    Info(aya::maps::MapError),
    #[error("mapping the answer map into memory: {0}")]
    Map(std::io::Error),
}

/// The table mapped into this process, and where each key is.
pub struct AnswerSlots {
    heads: Mapped<SlotHead>,
    tails: Mapped<SlotTail>,
    /// The slot of each key in the table.
    index: HashMap<MapKey, u32>,
    /// What each slot is, as this writer left it (`SLOT_*`), and the key of each used one.
    states: Vec<u32>,
    keys: Vec<MapKey>,
    /// Most keys the table takes (`xdp.max_entries`), below its slot count so that probe
    /// runs stay short.
    capacity: usize,
}

/// The key of a slot that holds none.
const NO_KEY: MapKey = MapKey { view: 0, qtype: 0, name_len: 0, name_hash: 0 };

impl AnswerSlots {
    /// Maps the table behind `heads` and `tails`; it takes at most `capacity` keys. A writer of a
    /// table it did not make reads it first to learn which keys it holds (`reread`, which
    /// `MapWriter::adopt` calls).
    pub fn open(heads: &MapData, tails: &MapData, capacity: usize) -> Result<AnswerSlots, SlotsError> {
        let slots = value_count::<SlotHead>(heads, map_names::ANSWERS)?;
        let tail_slots = value_count::<SlotTail>(tails, map_names::ANSWER_TAILS)?;
        if slots != tail_slots {
            return Err(SlotsError::Unpaired { heads: slots, tails: tail_slots });
        }
        if !slots.is_power_of_two() {
            return Err(SlotsError::NotPowerOfTwo(slots));
        }
        Ok(AnswerSlots::over(Mapped::shared(heads, slots)?, Mapped::shared(tails, slots)?, capacity))
    }

    /// The table over mapped heads and tails, as many of each.
    fn over(heads: Mapped<SlotHead>, tails: Mapped<SlotTail>, capacity: usize) -> AnswerSlots {
        assert_eq!(heads.count, tails.count, "as many heads as tails");
        let slots = heads.count as usize;
        let (states, keys) = (vec![SLOT_EMPTY; slots], vec![NO_KEY; slots]);
        AnswerSlots { heads, tails, index: HashMap::new(), states, keys, capacity }
    }

    /// The table's slot count, a power of two.
    fn slots(&self) -> u32 {
        self.heads.count
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Reads the table again: which slot holds which key. A slot left half-written (its writer
    /// died; the program passes its queries to userspace) counts as removed: free for a key. A
    /// key in two slots (its writer died between the two writes of a move, which copies the
    /// key's entry) keeps the slot a lookup reaches first; the other is removed.
    pub fn reread(&mut self) {
        self.index.clear();
        let mask = self.slots() - 1;
        for at in 0..self.slots() {
            let slot = self.read(at);
            self.states[at as usize] = slot.map_or(SLOT_REMOVED, |s| s.state);
            let Some(slot) = slot.filter(|s| s.state == SLOT_USED) else { continue };
            self.keys[at as usize] = slot.key;
            let distance = |at: u32| at.wrapping_sub(home_slot(&slot.key, mask)) & mask;
            match self.index.get(&slot.key).copied() {
                Some(other) if distance(other) <= distance(at) => self.write_state(at, SLOT_REMOVED),
                Some(other) => {
                    self.write_state(other, SLOT_REMOVED);
                    self.index.insert(slot.key, at);
                }
                None => {
                    self.index.insert(slot.key, at);
                }
            }
        }
    }

    /// The answer set under `key`.
    pub fn get(&self, key: &MapKey) -> Option<MapEntry> {
        let at = *self.index.get(key)?;
        self.read(at).filter(|slot| slot.state == SLOT_USED && slot.key == *key).map(|slot| slot.entry)
    }

    /// Every key and answer set in the table, each key once (a key being moved is in two
    /// slots for a moment).
    pub fn entries(&self) -> HashMap<MapKey, MapEntry> {
        let used = (0..self.slots()).filter_map(|at| self.read(at)).filter(|s| s.state == SLOT_USED);
        used.map(|s| (s.key, s.entry)).collect()
    }

    /// Puts `entry` under `key`: in its slot when it has one, else in a free slot at most
    /// `PROBE_SLOTS - 1` past its home slot. `false` when there is none or the table holds its
    /// capacity of keys (the program does not find the key: userspace answers it).
    ///
    /// Robin Hood placement: a key passing a slot whose key is nearer its own home takes that
    /// slot, and the displaced key moves on. Probe runs stay short (no key of 100,000 in
    /// 262,144 slots ends 8 past its home, against about one in a thousand when each key takes
    /// the first free slot).
    pub fn insert(&mut self, key: MapKey, entry: &MapEntry) -> bool {
        if let Some(&at) = self.index.get(&key) {
            self.write(at, SLOT_USED, &key, entry);
            return true;
        }
        if self.index.len() >= self.capacity {
            return false;
        }
        let Some(moves) = self.placement(key) else { return false };
        // Each displaced key's entry, read from the slot it leaves (the previous move's).
        let mut values = vec![*entry];
        for pair in moves.windows(2) {
            match self.read(pair[0].0) {
                Some(slot) if slot.key == pair[1].1 => values.push(slot.entry),
                _ => return false,
            }
        }
        // Last move first: each displaced key is written to its new slot before its old slot
        // is overwritten, so that a lookup finds every key all along.
        for (&(at, moved), value) in moves.iter().zip(&values).rev() {
            self.write(at, SLOT_USED, &moved, value);
            self.index.insert(moved, at);
        }
        true
    }

    /// Where `key` and the keys it displaces go (slot, key), in probe order; `None` when one of
    /// them would end `PROBE_SLOTS` or more past its home slot.
    fn placement(&self, key: MapKey) -> Option<Vec<(u32, MapKey)>> {
        let mask = self.slots() - 1;
        let (mut carried, mut distance) = (key, 0);
        let mut at = home_slot(&key, mask);
        let mut moves = Vec::new();
        for _ in 0..self.slots() {
            if distance >= PROBE_SLOTS.min(self.slots()) {
                return None;
            }
            if self.states[at as usize] != SLOT_USED {
                moves.push((at, carried));
                return Some(moves);
            }
            let occupant = self.keys[at as usize];
            let occupant_distance = at.wrapping_sub(home_slot(&occupant, mask)) & mask;
            if occupant_distance < distance {
                moves.push((at, carried));
                (carried, distance) = (occupant, occupant_distance);
            }
            at = (at + 1) & mask;
            distance += 1;
        }
        None
    }

    /// Removes `key`; `false` when the table does not hold it. Removed slots just before an
    /// empty one become empty again, so that lookups stop early.
    pub fn remove(&mut self, key: &MapKey) -> bool {
        let Some(at) = self.index.remove(key) else { return false };
        let next = (at + 1) & (self.slots() - 1);
        let state = if self.states[next as usize] == SLOT_EMPTY { SLOT_EMPTY } else { SLOT_REMOVED };
        self.write_state(at, state);
        if state == SLOT_EMPTY {
            let mut back = at;
            for _ in 0..self.slots() {
                back = back.wrapping_sub(1) & (self.slots() - 1);
                if self.states[back as usize] != SLOT_REMOVED {
                    break;
                }
                self.write_state(back, SLOT_EMPTY);
            }
        }
        true
    }

    /// The field at `offset` of slot `at`'s head (`slot_at`).
    fn head_field<T>(&self, at: u32, offset: usize) -> *mut T {
        assert!(offset + size_of::<T>() <= size_of::<SlotHead>());
        // SAFETY: within the slot's head.
        unsafe { self.heads.at(at).cast::<u8>().add(offset).cast() }
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
                    unsafe { (std::ptr::read_volatile(self.heads.at(at)), std::ptr::read_volatile(self.tails.at(at))) };
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
        let (head_ptr, tail_ptr) = (self.heads.at(at), self.tails.at(at));
        self.under_seq(at, || unsafe {
            tail_ptr.write_volatile(tail);
            // Word by word from the state on: the sequence number is the one word not written.
            let (from, to) = (head.0.as_ptr().cast::<u32>(), head_ptr.cast::<u32>());
            for i in slot_at::STATE / 4..size_of::<SlotHead>() / 4 {
                to.add(i).write_volatile(from.add(i).read_unaligned());
            }
        });
        self.states[at as usize] = state;
        self.keys[at as usize] = *key;
    }

    /// Changes only slot `at`'s state.
    fn write_state(&mut self, at: u32, state: u32) {
        let field = self.head_field::<u32>(at, slot_at::STATE);
        self.under_seq(at, || unsafe { field.write_volatile(state) });
        self.states[at as usize] = state;
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

    /// The slot that holds `key`, if any.
    #[cfg(test)]
    fn slot_of(&self, key: &MapKey) -> Option<u32> {
        self.index.get(key).copied()
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

/// `count` values of `T` in shared, writable memory mapped into this process; unmapped when
/// dropped.
struct Mapped<T> {
    base: NonNull<T>,
    count: u32,
}

// SAFETY: the mapping is owned by this value and its values (plain bytes) are only touched
// through the `AnswerSlots` that holds it, by `&self`/`&mut self`.
unsafe impl<T> Send for Mapped<T> {}
unsafe impl<T> Sync for Mapped<T> {}

impl<T> Mapped<T> {
    /// The memory of `map`, whose `count` values are `T`s.
    fn shared(map: &MapData, count: u32) -> Result<Mapped<T>, SlotsError> {
        Mapped::map(libc::MAP_SHARED, map.fd().as_fd().as_raw_fd(), count)
    }

    /// Zeroed memory of no map, as a new map's (for tests).
    #[cfg(test)]
    fn anonymous(count: u32) -> Mapped<T> {
        Mapped::map(libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, count).expect("anonymous memory")
    }

    fn map(flags: i32, fd: i32, count: u32) -> Result<Mapped<T>, SlotsError> {
        // SAFETY: a new mapping of exactly `count` values (a map's own memory, which the kernel
        // keeps alive while it is mapped, or anonymous memory).
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), Self::len(count), libc::PROT_READ | libc::PROT_WRITE, flags, fd, 0)
        };
        if base == libc::MAP_FAILED {
            return Err(SlotsError::Map(std::io::Error::last_os_error()));
        }
        Ok(Mapped { base: NonNull::new(base.cast()).expect("mmap succeeded"), count })
    }

    fn len(count: u32) -> usize {
        count as usize * size_of::<T>()
    }

    /// The value at `at`.
    fn at(&self, at: u32) -> *mut T {
        assert!(at < self.count, "slot {at} of {}", self.count);
        // SAFETY: within the mapping.
        unsafe { self.base.as_ptr().add(at as usize) }
    }
}

impl<T> Drop for Mapped<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of this size.
        unsafe { libc::munmap(self.base.as_ptr().cast(), Self::len(self.count)) };
    }
}

#[cfg(test)]
mod tests {
    use switchyard_common::{PackedName, QTYPE_A};

    use super::*;

    /// A table in anonymous memory, zeroed as a new map is.
    fn table(slots: u32, capacity: usize) -> AnswerSlots {
        let mut t = AnswerSlots::over(Mapped::anonymous(slots), Mapped::anonymous(slots), capacity);
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

    /// What the XDP program finds for `key`: it reads from the home slot on, at most
    /// `PROBE_SLOTS` slots, and stops at an empty one.
    fn program_lookup(table: &AnswerSlots, key: &MapKey) -> Option<MapEntry> {
        let mask = table.slots() - 1;
        let home = home_slot(key, mask);
        for i in 0..PROBE_SLOTS {
            let slot = table.read(home.wrapping_add(i) & mask)?;
            if slot.state == SLOT_EMPTY {
                return None;
            }
            if slot.state == SLOT_USED && slot.key == *key {
                return Some(slot.entry);
            }
        }
        None
    }

    #[test]
    fn every_key_written_is_found_by_the_programs_probe_and_no_removed_one() {
        let mut t = table(1024, 512);
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
    }

    #[test]
    fn a_hundred_thousand_keys_all_find_a_slot_near_home_in_262144() {
        let mut t = table(262_144, 110_000);
        let placed = (0..100_000).filter(|&i| t.insert(key(i), &entry(i))).count();
        assert_eq!(placed, 100_000);
        assert!((0..100_000).step_by(997).all(|i| program_lookup(&t, &key(i)) == Some(entry(i))));
    }

    #[test]
    fn no_more_keys_than_the_capacity_and_updates_still_land() {
        let mut t = table(64, 4);
        assert!((0..4).all(|i| t.insert(key(i), &entry(i))));
        assert!(!t.insert(key(4), &entry(4)), "over capacity");
        assert!(t.insert(key(0), &entry(40)), "an update of a held key");
        assert_eq!(t.get(&key(0)), Some(entry(40)));
        assert!(t.remove(&key(1)) && t.insert(key(4), &entry(4)), "room again after a removal");
    }

    #[test]
    fn a_key_left_in_two_slots_by_a_writer_that_died_mid_move_keeps_the_one_found_first() {
        let mut t = table(64, 32);
        assert!(t.insert(key(1), &entry(1)));
        let at = t.slot_of(&key(1)).unwrap();
        // The first write of a move: a copy one slot on, the old slot not yet overwritten.
        let next = (at + 1) & 63;
        t.write(next, SLOT_USED, &key(1), &entry(1));
        t.reread();
        assert_eq!((t.len(), t.slot_of(&key(1))), (1, Some(at)), "the slot nearer home is kept");
        assert_eq!(t.read(next).map(|s| s.state), Some(SLOT_REMOVED), "the other copy is removed");
        assert!(t.insert(key(1), &entry(2)) && t.remove(&key(1)));
        assert_eq!(program_lookup(&t, &key(1)), None, "removed for the program too");
    }

    #[test]
    fn a_slot_its_writer_left_half_written_is_neither_read_nor_kept() {
        let mut t = table(64, 32);
        assert!(t.insert(key(1), &entry(1)));
        let at = t.slot_of(&key(1)).unwrap();
        // A writer that died between raising the sequence number and lowering it again.
        t.seq(at).fetch_add(1, Ordering::Relaxed);
        assert_eq!(t.read(at), None);
        t.reread();
        assert_eq!((t.len(), t.get(&key(1))), (0, None), "the key counts as not written");
        assert!(t.insert(key(1), &entry(2)), "written again");
        assert_eq!(program_lookup(&t, &key(1)), Some(entry(2)));
        assert_eq!(t.seq(t.slot_of(&key(1)).unwrap()).load(Ordering::Relaxed) & 1, 0, "even again");
    }
}
