//! Response rate limiting: the per-client-prefix token bucket both paths use, its settings as
//! the XDP program reads them, and how a client address becomes its bucket's key.
//!
//! The bucket is kept as a GCRA "theoretical arrival time" (one u64): integer additions and
//! comparisons only, no division, so the XDP program and the daemon run the same arithmetic.

/// Settings of the limiter (the `RRL_CONFIG` array map, index 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrlConfig {
    /// Nanoseconds per response at the configured rate (10^9 / responses_per_second).
    pub interval_ns: u64,
    /// How far ahead of now a bucket's arrival time may run: burst × interval.
    pub burst_ns: u64,
    /// Every `slip`th limited response is sent truncated (TC=1); 0 drops every one.
    pub slip: u32,
    /// `RRL_ENABLED` when limiting is on.
    pub flags: u32,
    /// Client prefix lengths that share a bucket.
    pub ipv4_prefix: u32,
    pub ipv6_prefix: u32,
}

pub const RRL_ENABLED: u32 = 1;

/// Key of a bucket: the client's address masked to its prefix, and its family (4 or 6). The
/// address is word-aligned: the XDP program builds the key on its stack, where the verifier
/// refuses the misaligned wide stores the compiler would otherwise make.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrlKey {
    pub family: u32,
    pub _pad: u32,
    pub addr: [u8; 16],
}

/// One client prefix's bucket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RrlBucket {
    /// The time (ns, the limiter's clock) at which the bucket is full again.
    pub full_at_ns: u64,
    /// Limited responses so far, for the slip rule.
    pub limited: u64,
}

/// What to do with one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrlVerdict {
    Answer,
    /// Over the limit: not sent.
    Drop,
    /// Over the limit: sent as an empty truncated reply, so that a real client retries over TCP.
    Slip,
}

impl RrlConfig {
    /// The limiter's settings; `rate` at least 1 (checked by the config), `burst` at least 1.
    pub fn new(rate: u32, burst: u32, slip: u32, ipv4_prefix: u8, ipv6_prefix: u8) -> RrlConfig {
        let interval_ns = 1_000_000_000 / u64::from(rate.max(1));
        RrlConfig {
            interval_ns,
            burst_ns: interval_ns * u64::from(burst.max(1)),
            slip,
            flags: RRL_ENABLED,
            ipv4_prefix: u32::from(ipv4_prefix),
            ipv6_prefix: u32::from(ipv6_prefix),
        }
    }

    /// Limiting off: every response goes out.
    pub const OFF: RrlConfig =
        RrlConfig { interval_ns: 0, burst_ns: 0, slip: 0, flags: 0, ipv4_prefix: 24, ipv6_prefix: 56 };

    pub fn enabled(&self) -> bool {
        self.flags & RRL_ENABLED != 0
    }

    /// A new bucket for a first response at `now`: full, less that response.
    #[inline(always)]
    pub fn new_bucket(&self, now_ns: u64) -> RrlBucket {
        RrlBucket { full_at_ns: now_ns + self.interval_ns, limited: 0 }
    }

    /// Charges one response to `bucket` at `now_ns`. A bucket holds `burst` responses and
    /// refills one per interval; a limited response costs nothing.
    #[inline(always)]
    pub fn charge(&self, bucket: &mut RrlBucket, now_ns: u64) -> RrlVerdict {
        let from = if bucket.full_at_ns > now_ns { bucket.full_at_ns } else { now_ns };
        let next = from + self.interval_ns;
        if next - now_ns <= self.burst_ns {
            bucket.full_at_ns = next;
            return RrlVerdict::Answer;
        }
        bucket.limited += 1;
        if self.slip != 0 && bucket.limited.is_multiple_of(u64::from(self.slip)) {
            RrlVerdict::Slip
        } else {
            RrlVerdict::Drop
        }
    }
}

/// The bucket key of an IPv4 client (address bytes as in the packet).
#[inline(always)]
pub fn rrl_key_v4(addr: [u8; 4], prefix: u32) -> RrlKey {
    let masked = u32::from_be_bytes(addr) & high_bits_32(prefix);
    key_of(4, u64::from(masked) << 32, 0)
}

/// The bucket key of an IPv6 client.
#[inline(always)]
pub fn rrl_key_v6(addr: [u8; 16], prefix: u32) -> RrlKey {
    let (high, low) = (u64_at(&addr, 0), u64_at(&addr, 8));
    let high_len = if prefix > 64 { 64 } else { prefix };
    let low_len = prefix.saturating_sub(64);
    key_of(6, high & high_bits_64(high_len), low & high_bits_64(low_len))
}

/// The key of a prefix whose address bytes are the two words, big-endian. Written a word at a
/// time: bytes written one by one and zeros filled in behind them make the XDP program call a
/// byte-by-byte `memset` on every charged query.
#[inline(always)]
fn key_of(family: u32, high: u64, low: u64) -> RrlKey {
    let mut key = RrlKey { family, _pad: 0, addr: [0; 16] };
    key.addr[..8].copy_from_slice(&high.to_be_bytes());
    key.addr[8..].copy_from_slice(&low.to_be_bytes());
    key
}

#[inline(always)]
fn u64_at(addr: &[u8; 16], at: usize) -> u64 {
    let mut word = 0u64;
    for i in 0..8 {
        word = word << 8 | addr[at + i] as u64;
    }
    word
}

/// A mask of the `len` high bits (0..=32); longer is all ones.
#[inline(always)]
fn high_bits_32(len: u32) -> u32 {
    (high_bits_64(len) >> 32) as u32
}

/// A mask of the `len` high bits (0..=64); longer is all ones.
#[inline(always)]
fn high_bits_64(len: u32) -> u64 {
    if len == 0 {
        0
    } else if len >= 64 {
        u64::MAX
    } else {
        u64::MAX << (64 - len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_burst_then_the_rate() {
        let config = RrlConfig::new(10, 5, 0, 24, 56);
        let mut bucket = config.new_bucket(SECOND);
        let answered = (1..5).filter(|_| config.charge(&mut bucket, SECOND) == RrlVerdict::Answer).count();
        assert_eq!(answered + 1, 5, "the new bucket's response and four more make the burst");
        assert_eq!(config.charge(&mut bucket, SECOND), RrlVerdict::Drop);
        // Over ten seconds, 100 attempts per second: ten answers per second.
        let mut answered = 0;
        for step in 1..=1000 {
            if config.charge(&mut bucket, SECOND + step * SECOND / 100) == RrlVerdict::Answer {
                answered += 1;
            }
        }
        assert!((99..=101).contains(&answered), "{answered} answers in 10 s at 10/s");
    }

    #[test]
    fn every_slipth_limited_response_slips() {
        let config = RrlConfig::new(1, 1, 3, 24, 56);
        let mut bucket = config.new_bucket(0);
        let verdicts: Vec<RrlVerdict> = (0..6).map(|_| config.charge(&mut bucket, 0)).collect();
        use RrlVerdict::{Drop, Slip};
        assert_eq!(verdicts, [Drop, Drop, Slip, Drop, Drop, Slip]);
        let all = RrlConfig::new(1, 1, 1, 24, 56);
        let mut bucket = all.new_bucket(0);
        assert_eq!(all.charge(&mut bucket, 0), Slip);
    }

    #[test]
    fn keys_group_by_prefix() {
        assert_eq!(rrl_key_v4([198, 18, 7, 1], 24), rrl_key_v4([198, 18, 7, 200], 24));
        assert_ne!(rrl_key_v4([198, 18, 7, 1], 24), rrl_key_v4([198, 18, 8, 1], 24));
        assert_eq!(rrl_key_v4([198, 18, 7, 1], 0).addr, [0; 16]);
        assert_eq!(rrl_key_v4([198, 18, 7, 1], 32).addr[..4], [198, 18, 7, 1]);
        assert_eq!(rrl_key_v4([198, 18, 7, 1], 32).addr[4..], [0; 12]);
        let a: std::net::Ipv6Addr = "fd00:1:2:3400::1".parse().unwrap();
        let b: std::net::Ipv6Addr = "fd00:1:2:34ff:ffff::9".parse().unwrap();
        let c: std::net::Ipv6Addr = "fd00:1:2:3500::1".parse().unwrap();
        assert_eq!(rrl_key_v6(a.octets(), 56), rrl_key_v6(b.octets(), 56));
        assert_ne!(rrl_key_v6(a.octets(), 56), rrl_key_v6(c.octets(), 56));
        assert_eq!(rrl_key_v6(b.octets(), 128).addr, b.octets());
        assert_ne!(rrl_key_v6(a.octets(), 64), rrl_key_v6(b.octets(), 64));
        assert_ne!(rrl_key_v4([0; 4], 24), rrl_key_v6([0; 16], 56), "families never share a bucket");
    }

    #[test]
    fn layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<RrlConfig>(), 32);
        assert_eq!(core::mem::size_of::<RrlKey>(), 24);
        assert_eq!(core::mem::offset_of!(RrlKey, addr), 8);
        assert_eq!(core::mem::size_of::<RrlBucket>(), 16);
    }
}
