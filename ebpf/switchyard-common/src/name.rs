//! Question names as the XDP program holds them: lowercase wire format packed into 64-bit words,
//! hashed and compared a word at a time.

/// Longest question name (wire format, including the final root label) the XDP path can match.
/// Longer names are passed to userspace.
pub const MAX_NAME_LEN: usize = 96;

/// 64-bit words a packed name takes (`MAX_NAME_LEN` bytes).
pub const NAME_WORDS: usize = MAX_NAME_LEN / 8;

/// Start value of the name hash.
pub const NAME_HASH_SEED: u64 = 0x5357_4954_4348_5944;

/// A name in lowercase wire format as the XDP program holds it: bytes packed little-endian into
/// 64-bit words, zero padded, so it is compared and hashed a word at a time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PackedName {
    /// Length in bytes, including the root label.
    pub len: u16,
    pub words: [u64; NAME_WORDS],
}

/// Folds one word into the name hash. Both steps are invertible, so names of equal length that
/// differ in one word never collide; the kernel hashes the key again for its buckets.
#[inline(always)]
pub const fn mix_word(hash: u64, word: u64) -> u64 {
    let h = (hash ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// ASCII-lowercases the 8 bytes of a word at once: bytes 0x41..=0x5A get 0x20 added, every
/// other byte (label lengths, digits, bytes above 0x7F) stays as it is.
#[inline(always)]
pub const fn lowercase_word(word: u64) -> u64 {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = word & !HIGH;
    // High bit of each byte: low 7 bits >= 'A', then >= 'Z' + 1 (no carry crosses a byte).
    let at_least_a = low7 + ONES * (0x80 - b'A' as u64);
    let above_z = low7 + ONES * (0x80 - (b'Z' as u64 + 1));
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

impl PackedName {
    /// Packs a lowercase wire-format name; `None` when it is longer than `MAX_NAME_LEN`.
    pub fn new(wire: &[u8]) -> Option<PackedName> {
        if wire.is_empty() || wire.len() > MAX_NAME_LEN {
            return None;
        }
        let mut words = [0u64; NAME_WORDS];
        for (i, b) in wire.iter().enumerate() {
            words[i / 8] |= (*b as u64) << (8 * (i % 8));
        }
        Some(PackedName { len: wire.len() as u16, words })
    }

    /// Words that hold the name's bytes; the rest are zero.
    pub const fn used_words(&self) -> usize {
        (self.len as usize).div_ceil(8)
    }

    /// The hash the XDP program computes while parsing the question.
    pub fn hash(&self) -> u64 {
        let mut hash = NAME_HASH_SEED;
        let mut i = 0;
        while i < self.used_words() {
            hash = mix_word(hash, self.words[i]);
            i += 1;
        }
        hash
    }

    /// The name's bytes back in wire format.
    pub fn bytes(&self) -> [u8; MAX_NAME_LEN] {
        let mut out = [0u8; MAX_NAME_LEN];
        for (i, b) in out.iter_mut().enumerate() {
            *b = (self.words[i / 8] >> (8 * (i % 8))) as u8;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_and_pads_with_zeros() {
        let wire = b"\x03www\x07example\x03com\x00";
        let packed = PackedName::new(wire).unwrap();
        assert_eq!(packed.used_words(), 3);
        assert_eq!(&packed.bytes()[..wire.len()], wire);
        assert!(packed.bytes()[wire.len()..].iter().all(|b| *b == 0));
        assert_eq!(packed.words[0].to_le_bytes(), *b"\x03www\x07exa");
    }

    #[test]
    fn names_too_long_or_empty_are_not_packed() {
        assert!(PackedName::new(&[]).is_none());
        assert!(PackedName::new(&[1u8; MAX_NAME_LEN + 1]).is_none());
        assert!(PackedName::new(&[1u8; MAX_NAME_LEN]).is_some());
    }

    #[test]
    fn whole_words_lowercase_like_bytes() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..200_000 {
            // xorshift: every byte value shows up, letters and non-letters side by side.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let expected = u64::from_le_bytes(state.to_le_bytes().map(|b| b.to_ascii_lowercase()));
            assert_eq!(lowercase_word(state), expected, "{state:#018x}");
        }
        for b in 0..=255u8 {
            let word = u64::from_le_bytes([b; 8]);
            assert_eq!(lowercase_word(word), u64::from_le_bytes([b.to_ascii_lowercase(); 8]), "byte {b:#04x}");
        }
    }
}
