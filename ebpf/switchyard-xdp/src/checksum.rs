//! Internet checksum arithmetic (RFC 1071) on 64-bit accumulators.

/// Folds an accumulated sum to 16 bits (ones' complement, not yet inverted).
#[inline(always)]
pub fn fold(mut sum: u64) -> u16 {
    // Four folds bring any u64 down to 16 bits.
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The checksum field value for an accumulated sum.
#[inline(always)]
pub fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// The UDP checksum field value: zero means "no checksum", so a computed zero is sent as 0xFFFF.
#[inline(always)]
pub fn finish_udp(sum: u64) -> u16 {
    match finish(sum) {
        0 => 0xffff,
        c => c,
    }
}

/// Sum of a byte string placed at an even offset.
#[inline(always)]
pub fn sum_bytes<const N: usize>(bytes: &[u8; N]) -> u64 {
    let mut sum = 0u64;
    let mut i = 0;
    while i < N {
        sum += if i % 2 == 0 { (bytes[i] as u64) << 8 } else { bytes[i] as u64 };
        i += 1;
    }
    sum
}

/// Contribution of a sum computed as if at an even offset when it actually starts at an odd one:
/// the ones'-complement sum of byte-swapped data is the byte-swapped sum.
#[inline(always)]
pub fn at_parity(sum: u64, odd: bool) -> u64 {
    if odd { fold(sum).swap_bytes() as u64 } else { sum }
}
