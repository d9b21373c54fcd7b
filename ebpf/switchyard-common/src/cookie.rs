//! DNS server cookies (RFC 7873) in the interoperable format of RFC 9018, computed alike by the
//! XDP program and the daemon: Version 1, three reserved zero bytes, a 32-bit timestamp (Unix
//! seconds, serial arithmetic) and SipHash-2-4 over the client cookie, those eight bytes and the
//! client's address. Every node holding the same secret accepts the others' cookies.

use crate::siphash::SipHash24;

/// EDNS option code of COOKIE.
pub const EDNS_COOKIE: u16 = 10;
/// Length of the client cookie, the first part of the option.
pub const CLIENT_COOKIE_LEN: usize = 8;
/// Length of the server cookies made here (RFC 9018).
pub const SERVER_COOKIE_LEN: usize = 16;
/// Option lengths a query may carry: a client cookie alone, or with a server cookie of 8 to 32
/// bytes. Anything else is malformed (FORMERR).
pub const COOKIE_CLIENT_ONLY_LEN: usize = CLIENT_COOKIE_LEN;
pub const COOKIE_MIN_WITH_SERVER_LEN: usize = CLIENT_COOKIE_LEN + 8;

/// A COOKIE option length RFC 7873 allows: a client cookie alone, or with a server cookie of
/// 8 to 32 bytes. Any other gets FORMERR.
pub const fn cookie_len_ok(len: usize) -> bool {
    len == COOKIE_CLIENT_ONLY_LEN || (len >= COOKIE_MIN_WITH_SERVER_LEN && len <= COOKIE_MAX_LEN)
}
pub const COOKIE_MAX_LEN: usize = CLIENT_COOKIE_LEN + 32;
/// The option as we send it: client cookie and our server cookie.
pub const COOKIE_REPLY_LEN: usize = CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN;
/// RFC 9018 version byte.
pub const COOKIE_VERSION: u8 = 1;
/// A server cookie is accepted while its timestamp is at most this old...
pub const COOKIE_LIFETIME_SECS: i32 = 3600;
/// ...and at most this far ahead (clock skew between the nodes sharing a secret).
pub const COOKIE_MAX_AHEAD_SECS: i32 = 300;
/// A valid cookie older than this is answered with a new one (RFC 9018 4.3).
pub const COOKIE_REFRESH_AFTER_SECS: i32 = 1800;

/// Set in `CookieConfig::flags` when cookies are answered; without it the option is ignored.
pub const COOKIES_ENABLED: u32 = 1;
/// Set when `previous` holds the secret before the current one, still accepted.
pub const COOKIES_HAS_PREVIOUS: u32 = 2;

/// Value of the `COOKIES` array map (one element): the secrets, and the offset that turns the
/// program's clock (CLOCK_MONOTONIC, `bpf_ktime_get_ns`) into wall-clock time, which the
/// daemon keeps fresh (the wall clock may be stepped or slewed).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CookieConfig {
    pub flags: u32,
    pub _pad: u32,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds (wrapping).
    pub wall_offset_ns: u64,
    /// The secrets as SipHash keys (two little-endian words each, see `key_words`).
    pub current: [u64; 2],
    pub previous: [u64; 2],
}

impl CookieConfig {
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.flags & COOKIES_ENABLED != 0
    }

    /// Unix seconds (the low 32 bits) at monotonic time `monotonic_ns`.
    #[inline(always)]
    pub fn wall_seconds(&self, monotonic_ns: u64) -> u32 {
        (monotonic_ns.wrapping_add(self.wall_offset_ns) / 1_000_000_000) as u32
    }
}

/// The client address a cookie is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieAddr {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// What a query's server cookie turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieCheck {
    /// None, or not one of ours (another format, another secret, expired, or forged).
    Invalid,
    /// Ours and current; `refresh` when it is old enough to be replaced in the reply.
    Valid { refresh: bool },
}

/// A server cookie of ours as two little-endian words of its wire bytes: version, reserved and
/// timestamp, then the hash. Words, not a byte array: the XDP program reads and writes it with
/// two aligned 8-byte accesses (the verifier refuses the misaligned stack stores a byte array
/// put together in place can compile to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerCookie {
    pub head: u64,
    pub hash: u64,
}

impl ServerCookie {
    pub fn from_bytes(bytes: &[u8; SERVER_COOKIE_LEN]) -> ServerCookie {
        let [head, hash] = crate::key_words(bytes);
        ServerCookie { head, hash }
    }

    pub fn to_bytes(&self) -> [u8; SERVER_COOKIE_LEN] {
        let mut bytes = [0u8; SERVER_COOKIE_LEN];
        bytes[..8].copy_from_slice(&self.head.to_le_bytes());
        bytes[8..].copy_from_slice(&self.hash.to_le_bytes());
        bytes
    }
}

/// The first word of our cookies: version 1, three zero bytes, the timestamp in network order.
#[inline(always)]
fn head_word(timestamp: u32) -> u64 {
    COOKIE_VERSION as u64 | (u32::from_le_bytes(timestamp.to_be_bytes()) as u64) << 32
}

/// Our server cookie for this client cookie (its eight bytes as a little-endian word) and
/// address, made at `timestamp` with `secret`.
#[inline(always)]
pub fn server_cookie(secret: &[u64; 2], client: u64, timestamp: u32, addr: &CookieAddr) -> ServerCookie {
    server_cookie_by::<OwnSipHash>(secret, client, timestamp, addr)
}

/// `server_cookie` with the SipHash-2-4 of `H`.
#[inline(always)]
pub fn server_cookie_by<H: CookieHash>(
    secret: &[u64; 2],
    client: u64,
    timestamp: u32,
    addr: &CookieAddr,
) -> ServerCookie {
    let head = head_word(timestamp);
    ServerCookie { head, hash: H::hash(secret, client, head, addr) }
}

/// SipHash-2-4 of client cookie | version | reserved | timestamp | client address (RFC 9018
/// 4.4), given the first two as little-endian words. Implemented here for the XDP program
/// (`OwnSipHash`); the daemon uses the `siphasher` crate, and the packet tests compare the two
/// paths byte for byte.
pub trait CookieHash {
    fn hash(secret: &[u64; 2], client: u64, head: u64, addr: &CookieAddr) -> u64;
}

/// The no_std SipHash-2-4 of `crate::siphash`, fed whole words.
pub struct OwnSipHash;

impl CookieHash for OwnSipHash {
    #[inline(always)]
    fn hash(secret: &[u64; 2], client: u64, head: u64, addr: &CookieAddr) -> u64 {
        let mut state = SipHash24::new(secret);
        state.write_word(client);
        state.write_word(head);
        match addr {
            CookieAddr::V4(a) => state.finish(u32::from_le_bytes(*a) as u64, 20),
            CookieAddr::V6(a) => {
                let words = u128::from_le_bytes(*a);
                state.write_word(words as u64);
                state.write_word((words >> 64) as u64);
                state.finish(0, 32)
            }
        }
    }
}

/// Checks a server cookie of our length sent with `client` from `addr` at wall-clock second
/// `now`, under the current secret and, when there is one, the previous.
#[inline(always)]
pub fn check<H: CookieHash>(
    config: &CookieConfig,
    client: u64,
    server: &ServerCookie,
    now: u32,
    addr: &CookieAddr,
) -> CookieCheck {
    if server.head as u32 != COOKIE_VERSION as u32 {
        return CookieCheck::Invalid;
    }
    let timestamp = u32::from_be_bytes(((server.head >> 32) as u32).to_le_bytes());
    // Serial arithmetic: the difference as a signed number (RFC 1982).
    let age = now.wrapping_sub(timestamp) as i32;
    if !(-COOKIE_MAX_AHEAD_SECS..=COOKIE_LIFETIME_SECS).contains(&age) {
        return CookieCheck::Invalid;
    }
    let ours = H::hash(&config.current, client, server.head, addr) == server.hash
        || (config.flags & COOKIES_HAS_PREVIOUS != 0
            && H::hash(&config.previous, client, server.head, addr) == server.hash);
    if ours { CookieCheck::Valid { refresh: age > COOKIE_REFRESH_AFTER_SECS } } else { CookieCheck::Invalid }
}

/// The server cookie of the reply and whether the query's was valid: a valid, recent one is
/// sent back as it came; any other gets a new one made now with the current secret. `server`
/// is the query's server cookie when it had one of our length.
#[inline(always)]
pub fn reply_cookie<H: CookieHash>(
    config: &CookieConfig,
    client: u64,
    server: Option<&ServerCookie>,
    now: u32,
    addr: &CookieAddr,
) -> (ServerCookie, bool) {
    let verdict = cookie_verdict::<H>(config, client, server, now, addr);
    reply_after::<H>(verdict, config, client, server, now, addr)
}

/// The verdict on a query's server cookie (`None`: it carried a client cookie only).
pub fn cookie_verdict<H: CookieHash>(
    config: &CookieConfig,
    client: u64,
    server: Option<&ServerCookie>,
    now: u32,
    addr: &CookieAddr,
) -> CookieCheck {
    match server {
        Some(cookie) => check::<H>(config, client, cookie, now, addr),
        None => CookieCheck::Invalid,
    }
}

/// The server cookie a reply carries after `verdict`, and whether the query's was valid. Apart
/// from the verdict, so that a query a rate limit drops costs no hash to issue a cookie.
pub fn reply_after<H: CookieHash>(
    verdict: CookieCheck,
    config: &CookieConfig,
    client: u64,
    server: Option<&ServerCookie>,
    now: u32,
    addr: &CookieAddr,
) -> (ServerCookie, bool) {
    match (verdict, server) {
        (CookieCheck::Valid { refresh: false }, Some(cookie)) => (*cookie, true),
        (CookieCheck::Valid { refresh: true }, _) => (server_cookie_by::<H>(&config.current, client, now, addr), true),
        _ => (server_cookie_by::<H>(&config.current, client, now, addr), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::key_words;

    fn hex<const N: usize>(s: &str) -> [u8; N] {
        core::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
    }

    fn config(current: [u8; 16], previous: Option<[u8; 16]>) -> CookieConfig {
        let flags = COOKIES_ENABLED | if previous.is_some() { COOKIES_HAS_PREVIOUS } else { 0 };
        let previous = key_words(&previous.unwrap_or_default());
        CookieConfig { flags, _pad: 0, wall_offset_ns: 0, current: key_words(&current), previous }
    }

    /// A client cookie of eight equal bytes.
    fn client(byte: u8) -> u64 {
        u64::from_le_bytes([byte; 8])
    }

    const V4: CookieAddr = CookieAddr::V4([198, 51, 100, 100]);

    #[test]
    fn matches_the_rfc_9018_examples() {
        // Appendix A.1 (IPv4, client 198.51.100.100) and A.3 (IPv6, client 2001:db8:220:1:59de:d0f4:8769:82b8).
        let secret = key_words(&hex("e5e973e5a6b2a43f48e7dc849e37bfcf"));
        let made = server_cookie(&secret, u64::from_le_bytes(hex("2464c4abcf10c957")), 1559731985, &V4);
        assert_eq!(made.to_bytes(), hex::<16>("010000005cf79f111f8130c3eee29480"));
        let secret = key_words(&hex("dd3bdf9344b678b185a6f5cb60fca715"));
        let v6 = CookieAddr::V6(hex("20010db80220000159ded0f4876982b8"));
        let made = server_cookie(&secret, u64::from_le_bytes(hex("22681ab97d52c298")), 1559741817, &v6);
        assert_eq!(made.to_bytes(), hex::<16>("010000005cf7c57926556bd0934c72f8"));
        assert_eq!(ServerCookie::from_bytes(&made.to_bytes()), made);
    }

    #[test]
    fn a_cookie_is_valid_for_an_hour_and_refreshed_after_half_of_it() {
        let c = config([7; 16], None);
        let made = server_cookie(&c.current, client(1), 1_000_000, &V4);
        let at = |now| check::<OwnSipHash>(&c, client(1), &made, now, &V4);
        assert_eq!(at(1_000_000), CookieCheck::Valid { refresh: false });
        assert_eq!(at(1_001_800), CookieCheck::Valid { refresh: false });
        assert_eq!(at(1_001_801), CookieCheck::Valid { refresh: true });
        assert_eq!(at(1_003_600), CookieCheck::Valid { refresh: true });
        assert_eq!(at(1_003_601), CookieCheck::Invalid);
        assert_eq!(at(999_700), CookieCheck::Valid { refresh: false }, "five minutes ahead is skew");
        assert_eq!(at(999_699), CookieCheck::Invalid);
    }

    #[test]
    fn the_map_value_has_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<CookieConfig>(), 48);
    }

    #[test]
    fn timestamps_use_serial_arithmetic_across_the_wrap() {
        let c = config([7; 16], None);
        let made = server_cookie(&c.current, client(9), u32::MAX - 10, &V4);
        assert_eq!(check::<OwnSipHash>(&c, client(9), &made, 20, &V4), CookieCheck::Valid { refresh: false });
    }

    #[test]
    fn a_cookie_is_bound_to_client_cookie_address_and_secret() {
        let c = config([7; 16], None);
        let made = server_cookie(&c.current, client(9), 500, &V4);
        assert_eq!(check::<OwnSipHash>(&c, client(8), &made, 500, &V4), CookieCheck::Invalid);
        assert_eq!(
            check::<OwnSipHash>(&c, client(9), &made, 500, &CookieAddr::V4([198, 51, 100, 101])),
            CookieCheck::Invalid
        );
        assert_eq!(check::<OwnSipHash>(&config([6; 16], None), client(9), &made, 500, &V4), CookieCheck::Invalid);
        let mut forged = made;
        forged.hash ^= 1 << 63;
        assert_eq!(check::<OwnSipHash>(&c, client(9), &forged, 500, &V4), CookieCheck::Invalid);
        let mut other_version = made;
        other_version.head ^= 3;
        assert_eq!(check::<OwnSipHash>(&c, client(9), &other_version, 500, &V4), CookieCheck::Invalid);
    }

    #[test]
    fn the_previous_secret_verifies_and_an_older_one_does_not() {
        let (oldest, previous, current) = ([1; 16], [2; 16], [3; 16]);
        let rotated = config(current, Some(previous));
        let under_previous = server_cookie(&key_words(&previous), client(9), 500, &V4);
        let under_oldest = server_cookie(&key_words(&oldest), client(9), 500, &V4);
        assert_eq!(
            check::<OwnSipHash>(&rotated, client(9), &under_previous, 500, &V4),
            CookieCheck::Valid { refresh: false }
        );
        assert_eq!(check::<OwnSipHash>(&rotated, client(9), &under_oldest, 500, &V4), CookieCheck::Invalid);
        let (reply, valid) = reply_cookie::<OwnSipHash>(&rotated, client(9), Some(&under_oldest), 510, &V4);
        assert!(!valid);
        assert_eq!(
            reply,
            server_cookie(&key_words(&current), client(9), 510, &V4),
            "a fresh cookie under the current secret"
        );
    }

    #[test]
    fn the_reply_echoes_a_recent_cookie_and_renews_an_old_one() {
        let c = config([7; 16], None);
        let made = server_cookie(&c.current, client(9), 500, &V4);
        assert_eq!(reply_cookie::<OwnSipHash>(&c, client(9), Some(&made), 600, &V4), (made, true));
        let renewed = server_cookie(&c.current, client(9), 2400, &V4);
        assert_eq!(reply_cookie::<OwnSipHash>(&c, client(9), Some(&made), 2400, &V4), (renewed, true));
        let fresh = server_cookie(&c.current, client(9), 600, &V4);
        assert_eq!(reply_cookie::<OwnSipHash>(&c, client(9), None, 600, &V4), (fresh, false));
    }
}
