//! SipHash-2-4 (Aumasson and Bernstein), written for the XDP program: no allocation, no slices
//! of unknown length on the hot path and only constant-bounded loops. A message is fed as whole
//! little-endian words and finished with its last, partial word and its length, so the cookie
//! code hashes its fixed-layout input without a byte loop.

/// SipHash-2-4 state after the key and zero or more whole words.
#[derive(Clone, Copy, Debug)]
pub struct SipHash24 {
    v: [u64; 4],
}

impl SipHash24 {
    /// The state for a 128-bit key given as its two little-endian words.
    #[inline(always)]
    pub fn new(key: &[u64; 2]) -> SipHash24 {
        let [k0, k1] = *key;
        SipHash24 {
            v: [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d, k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573],
        }
    }

    /// Absorbs eight message bytes (read as a little-endian word).
    #[inline(always)]
    pub fn write_word(&mut self, m: u64) {
        self.v[3] ^= m;
        for _ in 0..2 {
            self.round();
        }
        self.v[0] ^= m;
    }

    /// The hash of a message of `len` bytes whose whole words were written; `tail` holds its last
    /// `len % 8` bytes as a little-endian word (zero above them).
    #[inline(always)]
    pub fn finish(mut self, tail: u64, len: usize) -> u64 {
        self.write_word(((len as u64) << 56) | tail);
        self.v[2] ^= 0xff;
        for _ in 0..4 {
            self.round();
        }
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }

    #[inline(always)]
    fn round(&mut self) {
        let [mut v0, mut v1, mut v2, mut v3] = self.v;
        v0 = v0.wrapping_add(v1);
        v1 = v1.rotate_left(13) ^ v0;
        v0 = v0.rotate_left(32);
        v2 = v2.wrapping_add(v3);
        v3 = v3.rotate_left(16) ^ v2;
        v0 = v0.wrapping_add(v3);
        v3 = v3.rotate_left(21) ^ v0;
        v2 = v2.wrapping_add(v1);
        v1 = v1.rotate_left(17) ^ v2;
        v2 = v2.rotate_left(32);
        self.v = [v0, v1, v2, v3];
    }
}

/// A 16-byte key as the two little-endian words `SipHash24::new` takes.
pub fn key_words(key: &[u8; 16]) -> [u64; 2] {
    let (low, high) = key.split_at(8);
    [u64::from_le_bytes(low.try_into().unwrap_or_default()), u64::from_le_bytes(high.try_into().unwrap_or_default())]
}

/// SipHash-2-4 of a whole message (host side and tests; the XDP program feeds words itself).
pub fn siphash24(key: &[u8; 16], message: &[u8]) -> u64 {
    let mut state = SipHash24::new(&key_words(key));
    let mut words = message.chunks_exact(8);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        state.write_word(u64::from_le_bytes(bytes));
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    state.finish(u64::from_le_bytes(tail), message.len())
}

#[cfg(test)]
mod tests {
    use core::hash::Hasher;

    use super::*;

    fn reference(key: &[u8; 16], message: &[u8]) -> u64 {
        let mut hasher = siphasher::sip::SipHasher24::new_with_key(key);
        hasher.write(message);
        hasher.finish()
    }

    #[test]
    fn matches_the_reference_vectors() {
        // The paper's key 00..0f; messages 00, 01, .. of the given lengths (Appendix A and the
        // reference implementation's vectors.h).
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let message: Vec<u8> = (0u8..64).collect();
        assert_eq!(siphash24(&key, &message[..0]), 0x726fdb47dd0e0e31);
        assert_eq!(siphash24(&key, &message[..1]), 0x74f839c593dc67fd);
        assert_eq!(siphash24(&key, &message[..15]), 0xa129ca6149be45e5);
        assert_eq!(siphash24(&key, &message[..63]), 0x958a324ceb064572);
    }

    #[test]
    fn matches_the_crate_for_random_keys_and_messages() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let key: [u8; 16] = core::array::from_fn(|_| next() as u8);
            let message: Vec<u8> = (0..round % 70).map(|_| next() as u8).collect();
            assert_eq!(siphash24(&key, &message), reference(&key, &message), "key {key:?} message {message:?}");
        }
    }
}
