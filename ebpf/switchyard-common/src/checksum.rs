//! Internet checksum arithmetic (RFC 1071) shared by the XDP program and the daemon, which
//! stores each answer set's sum so the program need not read its records back.

/// Ones'-complement contribution of a word's 8 bytes (little-endian in the word), unfolded and
/// byte-swapped: the sum of its two 32-bit halves is the sum of its little-endian 16-bit lanes,
/// which is the big-endian (wire) sum with its bytes swapped (RFC 1071, byte order independence).
/// Two operations per word; `fold_swapped` turns the total into the wire sum once.
#[inline(always)]
pub const fn word_sum_swapped(word: u64) -> u64 {
    (word & 0xffff_ffff) + (word >> 32)
}

/// Folds an accumulated ones'-complement sum to 16 bits (not yet inverted).
#[inline(always)]
pub const fn fold(mut sum: u64) -> u16 {
    // Four folds bring any u64 down to 16 bits.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The big-endian ones'-complement sum, folded to 16 bits, of a total of `word_sum_swapped`s
/// (or of any sum taken with its bytes swapped).
#[inline(always)]
pub const fn fold_swapped(sum: u64) -> u64 {
    fold(sum).swap_bytes() as u64
}

/// Unfolded ones'-complement sum of `bytes` as 16-bit big-endian words starting at an even offset.
pub fn ones_complement_sum(bytes: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (i, b) in bytes.iter().enumerate() {
        sum += if i % 2 == 0 { (*b as u32) << 8 } else { *b as u32 };
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_sums_match_the_byte_sum() {
        let folded = |sum: u32| fold(sum as u64) as u64;
        let bytes = *b"\x03www\x07exa";
        assert_eq!(fold_swapped(word_sum_swapped(u64::from_le_bytes(bytes))), folded(ones_complement_sum(&bytes)));
        let mut state = 0x0fed_cba9_8765_4321u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Twelve words, as many as a name has at most, summed before one fold.
            let words: Vec<u64> = (0..12u32).map(|k| state.rotate_left(k * 5) ^ (k as u64)).collect();
            let total = words.iter().map(|w| word_sum_swapped(*w)).sum::<u64>();
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(fold_swapped(total), folded(ones_complement_sum(&bytes)), "{state:#018x}");
        }
    }
}
