//! Writing many hash-map entries with one system call (BPF_MAP_UPDATE_BATCH, Linux 5.6). A
//! state change can alter every answer set at once; one call per entry made the map write the
//! larger part of a 100,000-set re-sign. aya has no call for it.
//!
//! The kernel writes the entries one by one, in order, each as an update of one would: a new
//! element linked in place of the old. A lookup never finds a half-written element, but a
//! program still reading an element it found before the update can see it rewritten, since the
//! kernel reuses a replaced element at once for the next update: what the program may be
//! reading is never updated (`signature_places`).

use std::{
    io,
    os::fd::{AsFd, AsRawFd},
};

use aya::{
    Pod,
    maps::{IterableMap, MapError},
    sys::SyscallError,
};

const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;

/// Entries per call: bounds the time the kernel spends in one call (it reschedules between
/// entries all the same).
const CHUNK: usize = 4096;

/// `union bpf_attr` for the batch commands.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Writes `values[i]` under `keys[i]` for every `i`, in order. On an error the entries before
/// the one that failed are written, the rest not.
pub fn update<K: Pod, V: Pod>(map: &impl IterableMap<K, V>, keys: &[K], values: &[V]) -> Result<(), MapError> {
    assert_eq!(keys.len(), values.len(), "a value for every key");
    let fd = map.map().fd().as_fd().as_raw_fd();
    for (keys, values) in keys.chunks(CHUNK).zip(values.chunks(CHUNK)) {
        let mut attr = BatchAttr {
            keys: keys.as_ptr() as u64,
            values: values.as_ptr() as u64,
            count: keys.len() as u32,
            map_fd: fd as u32,
            ..BatchAttr::default()
        };
        // SAFETY: bpf(2) with an attribute struct of the size given; `keys` and `values` hold
        // `count` entries of K and V and outlive the call, and K and V are the map's own key
        // and value sizes (aya's typed maps check that when they are made).
        let done = unsafe { libc::syscall(libc::SYS_bpf, BPF_MAP_UPDATE_BATCH, &raw mut attr, size_of::<BatchAttr>()) };
        if done < 0 {
            let io_error = io::Error::last_os_error();
            return Err(MapError::SyscallError(SyscallError { call: "bpf_map_update_batch", io_error }));
        }
    }
    Ok(())
}

/// Entries for `update` gathered a chunk at a time and written as each chunk fills, so that a
/// write of many large values never holds them all at once.
pub struct Chunked<K, V> {
    keys: Vec<K>,
    values: Vec<V>,
}

impl<K: Pod, V: Pod> Default for Chunked<K, V> {
    fn default() -> Chunked<K, V> {
        Chunked { keys: Vec::with_capacity(CHUNK), values: Vec::with_capacity(CHUNK) }
    }
}

impl<K: Pod, V: Pod> Chunked<K, V> {
    /// Adds an entry, writing the chunk when it is full.
    pub fn push(&mut self, map: &impl IterableMap<K, V>, key: K, value: V) -> Result<(), MapError> {
        self.keys.push(key);
        self.values.push(value);
        if self.keys.len() == CHUNK { self.flush(map) } else { Ok(()) }
    }

    /// Writes what is gathered.
    pub fn flush(&mut self, map: &impl IterableMap<K, V>) -> Result<(), MapError> {
        update(map, &self.keys, &self.values)?;
        self.keys.clear();
        self.values.clear();
        Ok(())
    }
}
