//! The RRSIG the XDP program appends to a signed answer (DO=1), rendered by the daemon.

use crate::{checksum::ones_complement_sum, maps::MapKey, name::MAX_NAME_LEN};

/// The bit of a signature's serial (`SignatureEntry::serial`, `MapEntry::signature`) that says
/// which of the two places of its answer's key in `SIGNATURES` holds it. The daemon puts a
/// key's next signature in the other place and points the entry at it, and leaves the one the
/// program was reading alone until a later pass: the kernel writes the next update of a hash
/// map into the element an update replaced, at once, so rewriting the place the program reads
/// could hand it part of another key's signature.
pub const SIGNATURE_SIDE: u32 = 1 << 31;

/// The key `SIGNATURES` holds the signature with `serial` under, for the answer under `key`:
/// the answer's key, its view's top bit set for the second place (view ids are small: one per
/// configured view).
#[inline(always)]
pub fn signature_place(key: &MapKey, serial: u32) -> MapKey {
    MapKey { view: key.view | (serial & SIGNATURE_SIDE), ..*key }
}

/// Fixed part of RRSIG rdata: type covered, algorithm, labels, original TTL, expiration,
/// inception, key tag.
const RRSIG_FIXED_LEN: usize = 18;
/// Signature length of both algorithms served (ECDSA P-256 r||s, Ed25519).
pub const MAX_SIGNATURE_LEN: usize = 64;
/// Owner pointer, type, class, TTL and rdata length of the record.
const RECORD_HEADER_LEN: usize = 2 + 10;
/// Longest stored record: a signer name (the zone) as long as any question name.
pub const MAX_SIGNATURE_RECORD: usize = RECORD_HEADER_LEN + RRSIG_FIXED_LEN + MAX_NAME_LEN + MAX_SIGNATURE_LEN;
/// 64-bit words `SignatureEntry::record` takes.
pub const SIGNATURE_WORDS: usize = MAX_SIGNATURE_RECORD.div_ceil(8);

/// Value of the `SIGNATURES` map, keyed like the answer it signs: the whole RRSIG record as it
/// goes on the wire, its owner already the compression pointer to the question (0xC00C).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignatureEntry {
    /// `MapEntry::signature` of the answer set this signs: an answer set that changed since is
    /// not served with it. Its top bit (`SIGNATURE_SIDE`) is the place it is kept in.
    pub serial: u32,
    /// Unfolded ones'-complement sum of the record starting at an even offset.
    pub sum: u32,
    /// CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`) after which it is not served: the
    /// daemon's renewal time, well before the signature expires.
    pub fresh_until_ns: u64,
    /// Bytes of `record` in use.
    pub len: u16,
    pub _pad: [u8; 6],
    /// The record's bytes in wire order, zero after `len`.
    pub record: [u64; SIGNATURE_WORDS],
}

impl SignatureEntry {
    /// The entry for an RRSIG record whose owner is the question (`record` starts after the
    /// owner name: type, class, TTL, rdata length, rdata). `None` when it is too long.
    pub fn new(serial: u32, fresh_until_ns: u64, record: &[u8]) -> Option<SignatureEntry> {
        let len = 2 + record.len();
        if len > MAX_SIGNATURE_RECORD {
            return None;
        }
        let mut bytes = [0u8; SIGNATURE_WORDS * 8];
        bytes[..2].copy_from_slice(&[0xc0, 0x0c]);
        bytes[2..len].copy_from_slice(record);
        let mut words = [0u64; SIGNATURE_WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
        Some(SignatureEntry {
            serial,
            sum: ones_complement_sum(&bytes[..len]),
            fresh_until_ns,
            len: len as u16,
            _pad: [0; 6],
            record: words,
        })
    }

    /// The record's bytes (owner pointer included).
    pub fn bytes(&self) -> ([u8; SIGNATURE_WORDS * 8], usize) {
        let mut bytes = [0u8; SIGNATURE_WORDS * 8];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(self.record.iter()) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        (bytes, (self.len as usize).min(MAX_SIGNATURE_RECORD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_serials_side_picks_one_of_two_places_of_its_answers_key() {
        let key = MapKey { view: 3, qtype: 1, name_len: 17, name_hash: 0x1234 };
        assert_eq!(signature_place(&key, 0x0000_0042), key, "the first place is the answer's key");
        let second = signature_place(&key, 0x0000_0042 | SIGNATURE_SIDE);
        assert_ne!(second, key);
        assert_eq!(second, MapKey { view: 3 | SIGNATURE_SIDE, ..key });
        let other = MapKey { view: 4, ..key };
        assert_ne!(signature_place(&other, SIGNATURE_SIDE), second, "another view's place is its own");
    }

    #[test]
    fn the_record_is_stored_behind_the_owner_pointer_and_summed() {
        let record = [0u8, 46, 0, 1, 0, 0, 0, 30, 0, 3, 1, 2, 3];
        let entry = SignatureEntry::new(7, 99, &record).unwrap();
        let (bytes, len) = entry.bytes();
        assert_eq!(len, 15);
        assert_eq!(&bytes[..2], &[0xc0, 0x0c]);
        assert_eq!(&bytes[2..15], &record);
        assert!(bytes[15..].iter().all(|b| *b == 0));
        assert_eq!(entry.sum, ones_complement_sum(&bytes[..15]));
        assert!(SignatureEntry::new(7, 99, &[0; MAX_SIGNATURE_RECORD - 1]).is_none());
        assert_eq!(core::mem::size_of::<SignatureEntry>(), 24 + SIGNATURE_WORDS * 8);
    }
}
