//! Internet checksum arithmetic (RFC 1071) on 64-bit accumulators; the fold itself is shared
//! with the daemon (`switchyard_common`).

use switchyard_common::{fold, fold_swapped};

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
    if odd { fold_swapped(sum) } else { sum }
}
