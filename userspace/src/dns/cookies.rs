//! DNS cookies (RFC 7873, RFC 9018 format) in the userspace server, with the code the XDP
//! program uses (`switchyard_common::reply_cookie`), so a query gets the same cookie on both
//! paths. The secrets come from `crate::cookie_secrets`.

use std::{hash::Hasher, net::IpAddr};

use hickory_proto::{
    op::Message,
    rr::rdata::opt::{EdnsCode, EdnsOption},
};
use siphasher::sip::SipHasher24;
use switchyard_common::{
    CLIENT_COOKIE_LEN, COOKIE_REPLY_LEN, CookieAddr, CookieConfig, CookieHash, EDNS_COOKIE, ServerCookie,
    cookie_len_ok, reply_cookie,
};

/// What a query's COOKIE option asks of the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieReply {
    /// No option, or cookies are off: the reply carries none.
    Absent,
    /// A length RFC 7873 does not allow: FORMERR.
    Malformed,
    /// The option for our OPT record (client cookie and our server cookie), and whether the
    /// query carried a valid server cookie of ours.
    Answer { option: [u8; COOKIE_REPLY_LEN], valid_server_cookie: bool },
}

impl CookieReply {
    /// The query carried a valid server cookie of ours: the client has talked to us before
    /// from this address (what response rate limiting exempts).
    pub fn valid_server_cookie(&self) -> bool {
        matches!(self, CookieReply::Answer { valid_server_cookie: true, .. })
    }
}

/// The COOKIE option of the reply to `query` from `client` at Unix second `now`.
pub fn reply_for(config: &CookieConfig, query: &Message, client: IpAddr, now: u32) -> CookieReply {
    if !config.enabled() {
        return CookieReply::Absent;
    }
    let Some(data) = query.edns.as_ref().and_then(|e| e.option(EdnsCode::Cookie)).and_then(option_data) else {
        return CookieReply::Absent;
    };
    let len = data.len();
    if !cookie_len_ok(len) {
        return CookieReply::Malformed;
    }
    let client_cookie: [u8; CLIENT_COOKIE_LEN] = data[..CLIENT_COOKIE_LEN].try_into().expect("length checked");
    // A server cookie of another length is not one of ours: it gets a new one.
    let server = data[CLIENT_COOKIE_LEN..].try_into().ok().map(ServerCookie::from_bytes);
    let addr = match client.to_canonical() {
        IpAddr::V4(a) => CookieAddr::V4(a.octets()),
        IpAddr::V6(a) => CookieAddr::V6(a.octets()),
    };
    let client_word = u64::from_le_bytes(client_cookie);
    let (server, valid_server_cookie) = reply_cookie::<CrateSipHash>(config, client_word, server.as_ref(), now, &addr);
    let mut option = [0u8; COOKIE_REPLY_LEN];
    let (client_part, server_part) = option.split_at_mut(CLIENT_COOKIE_LEN);
    client_part.copy_from_slice(&client_cookie);
    server_part.copy_from_slice(&server.to_bytes());
    CookieReply::Answer { option, valid_server_cookie }
}

/// SipHash-2-4 from the `siphasher` crate over the RFC 9018 input.
pub struct CrateSipHash;

impl CookieHash for CrateSipHash {
    fn hash(secret: &[u64; 2], client: u64, head: u64, addr: &CookieAddr) -> u64 {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&secret[0].to_le_bytes());
        key[8..].copy_from_slice(&secret[1].to_le_bytes());
        let mut hasher = SipHasher24::new_with_key(&key);
        hasher.write(&client.to_le_bytes());
        hasher.write(&head.to_le_bytes());
        match addr {
            CookieAddr::V4(a) => hasher.write(a),
            CookieAddr::V6(a) => hasher.write(a),
        }
        hasher.finish()
    }
}

/// The option for our OPT record.
pub fn edns_option(data: &[u8]) -> EdnsOption {
    EdnsOption::Unknown(EDNS_COOKIE, data.to_vec())
}

/// The option's bytes as received: hickory keeps an option of a code it does not know
/// (COOKIE is one to it) as they are.
fn option_data(option: &EdnsOption) -> Option<&[u8]> {
    match option {
        EdnsOption::Unknown(_, data) => Some(data),
        _ => None,
    }
}

/// Unix seconds now, the clock cookies are stamped with.
pub fn wall_seconds() -> u32 {
    (crate::sync::wall_now_ms() / 1000.0) as u32
}

#[cfg(test)]
mod tests {
    use hickory_proto::{
        op::{Edns, Query},
        rr::{Name, RecordType},
    };
    use switchyard_common::{COOKIES_ENABLED, COOKIES_HAS_PREVIOUS, key_words};

    use super::*;

    const CLIENT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    const NOW: u32 = 1_800_000_000;

    fn config(previous: Option<[u8; 16]>) -> CookieConfig {
        let flags = COOKIES_ENABLED | if previous.is_some() { COOKIES_HAS_PREVIOUS } else { 0 };
        let (current, previous) = (key_words(&[5; 16]), key_words(&previous.unwrap_or_default()));
        CookieConfig { flags, _pad: 0, wall_offset_ns: 0, current, previous }
    }

    /// The server cookie made with the secret of sixteen `secret` bytes.
    fn server_cookie(secret: &[u8; 16], client: &[u8; 8], timestamp: u32, addr: &CookieAddr) -> [u8; 16] {
        switchyard_common::server_cookie(&key_words(secret), u64::from_le_bytes(*client), timestamp, addr).to_bytes()
    }

    fn query_with(option: Option<Vec<u8>>) -> Message {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii("www.example.com.").unwrap(), RecordType::A));
        let mut edns = Edns::new();
        if let Some(data) = option {
            edns.options_mut().insert(EdnsOption::Unknown(EDNS_COOKIE, data));
        }
        m.set_edns(edns);
        // Through the wire and back, as the server sees it.
        Message::from_vec(&m.to_vec().unwrap()).unwrap()
    }

    fn reply(cfg: &CookieConfig, option: Option<Vec<u8>>, client: &str) -> CookieReply {
        reply_for(cfg, &query_with(option), client.parse().unwrap(), NOW)
    }

    fn with_server(server: [u8; 16]) -> Vec<u8> {
        [CLIENT.as_slice(), &server].concat()
    }

    fn answer(server: [u8; 16], valid_server_cookie: bool) -> CookieReply {
        CookieReply::Answer { option: with_server(server).try_into().unwrap(), valid_server_cookie }
    }

    const V4: CookieAddr = CookieAddr::V4([198, 18, 0, 7]);

    #[test]
    fn a_client_cookie_gets_a_fresh_server_cookie() {
        let fresh = server_cookie(&[5; 16], &CLIENT, NOW, &V4);
        let expected = answer(fresh, false);
        assert_eq!(reply(&config(None), Some(CLIENT.to_vec()), "198.18.0.7"), expected);
    }

    #[test]
    fn a_valid_server_cookie_is_echoed_and_flagged() {
        let made = server_cookie(&[5; 16], &CLIENT, NOW - 100, &V4);
        let got = reply(&config(None), Some(with_server(made)), "198.18.0.7");
        assert_eq!(got, answer(made, true));
        assert!(got.valid_server_cookie());
        let v6: std::net::Ipv6Addr = "fd00:5::7".parse().unwrap();
        let made = server_cookie(&[5; 16], &CLIENT, NOW, &CookieAddr::V6(v6.octets()));
        assert!(reply(&config(None), Some(with_server(made)), "fd00:5::7").valid_server_cookie());
    }

    #[test]
    fn an_old_valid_cookie_is_renewed() {
        let made = server_cookie(&[5; 16], &CLIENT, NOW - 2000, &V4);
        let renewed = server_cookie(&[5; 16], &CLIENT, NOW, &V4);
        let got = reply(&config(None), Some(with_server(made)), "198.18.0.7");
        assert_eq!(got, answer(renewed, true));
    }

    #[test]
    fn a_bad_server_cookie_gets_a_fresh_one() {
        let fresh = server_cookie(&[5; 16], &CLIENT, NOW, &V4);
        let from_another_address = server_cookie(&[5; 16], &CLIENT, NOW, &CookieAddr::V4([198, 18, 0, 8]));
        for bad in [with_server(from_another_address), with_server([1; 16]), [CLIENT.as_slice(), &[0; 8]].concat()] {
            let got = reply(&config(None), Some(bad), "198.18.0.7");
            assert_eq!(got, answer(fresh, false));
        }
        let expired = server_cookie(&[5; 16], &CLIENT, NOW - 3601, &V4);
        assert!(!reply(&config(None), Some(with_server(expired)), "198.18.0.7").valid_server_cookie());
    }

    #[test]
    fn rotation_keeps_the_previous_secret_only() {
        let under_previous = server_cookie(&[4; 16], &CLIENT, NOW, &V4);
        let under_older = server_cookie(&[3; 16], &CLIENT, NOW, &V4);
        assert!(reply(&config(Some([4; 16])), Some(with_server(under_previous)), "198.18.0.7").valid_server_cookie());
        assert!(!reply(&config(Some([4; 16])), Some(with_server(under_older)), "198.18.0.7").valid_server_cookie());
    }

    #[test]
    fn the_crate_and_the_xdp_siphash_make_the_same_cookies() {
        use switchyard_common::{OwnSipHash, server_cookie_by};
        for i in 0..200u32 {
            let secret = [u64::from(i).wrapping_mul(0x9e3779b97f4a7c15), u64::from(i) << 7];
            let v6 = CookieAddr::V6(core::array::from_fn(|b| (b as u32 * i) as u8));
            for addr in [CookieAddr::V4(i.to_be_bytes()), v6] {
                let crate_made = server_cookie_by::<CrateSipHash>(&secret, u64::from(i) * 31, NOW + i, &addr);
                assert_eq!(crate_made, server_cookie_by::<OwnSipHash>(&secret, u64::from(i) * 31, NOW + i, &addr));
            }
        }
    }

    #[test]
    fn bad_lengths_are_malformed() {
        for len in [0, 1, 7, 9, 15, 41, 60] {
            assert_eq!(reply(&config(None), Some(vec![7; len]), "198.18.0.7"), CookieReply::Malformed, "length {len}");
        }
        for len in [8, 16, 24, 40] {
            assert!(matches!(reply(&config(None), Some(vec![7; len]), "198.18.0.7"), CookieReply::Answer { .. }));
        }
    }

    #[test]
    fn off_or_absent_means_no_cookie() {
        assert_eq!(reply(&config(None), None, "198.18.0.7"), CookieReply::Absent);
        assert_eq!(reply(&CookieConfig::default(), Some(vec![7; 3]), "198.18.0.7"), CookieReply::Absent);
    }
}
