//! Heartbeat datagram format, version 2. All integers big-endian.
//!
//! | offset | size | field                                                 |
//! |-------:|-----:|-------------------------------------------------------|
//! |      0 |    1 | version = 2                                           |
//! |      1 |    4 | key id (first 4 bytes of HMAC(key, label))            |
//! |      5 |    8 | boot id (random per process start)                    |
//! |     13 |    8 | sequence (1, 2, 3, ... within one boot id)            |
//! |     21 |    8 | echo: the receiver's boot id as last heard, 0 if never |
//! |     29 |    8 | send time, ms since the Unix epoch                    |
//! |     37 |    1 | available (0 or 1)                                    |
//! |     38 |    4 | load, per-mille (0..=1000)                            |
//! |     42 |    4 | rtt_us                                                |
//! |     46 |    1 | site length S (1..=64)                                |
//! |     47 |    1 | node length N (1..=64)                                |
//! |     48 |    S | site name (ASCII A-Z a-z 0-9 . _ -)                   |
//! |   48+S |    N | node name                                             |
//! | 48+S+N |   32 | HMAC-SHA256 over bytes 0..48+S+N, not truncated       |
//!
//! The datagram length must equal 48 + S + N + 32, so it is at most
//! [`MAX_DATAGRAM_LEN`] (208) bytes. The echo ties a datagram to one start of its receiver:
//! a receiver takes only heartbeats that echo its own boot id, so a datagram captured before
//! it restarted is refused after it, whatever its age. The tag is kept whole: at one datagram
//! per second per peer, 32 bytes cost nothing and leave no room for forgery.
//! The destination is not signed: a heartbeat is a public statement by its
//! sender, and a copy redirected to another peer is only a duplicate there.

use super::drops::DropReason;
use super::keys::{KeyRing, PeerKey, TAG_LEN};
pub use super::names::MAX_NAME_LEN;
use super::names::is_name_byte;
use crate::site::SiteState;

pub const WIRE_VERSION: u8 = 2;
pub const HEADER_LEN: usize = 48;
pub const MAX_LOAD: u32 = 1000;
pub const MIN_DATAGRAM_LEN: usize = HEADER_LEN + 2 + TAG_LEN;
pub const MAX_DATAGRAM_LEN: usize = HEADER_LEN + 2 * MAX_NAME_LEN + TAG_LEN;

#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub site: String,
    pub node: String,
    pub boot_id: u64,
    pub sequence: u64,
    /// The receiver's boot id as the sender last heard it; 0 before it heard the receiver.
    pub echo: u64,
    pub sent_unix_ms: u64,
    pub state: SiteState,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} must be 1..={MAX_NAME_LEN} bytes of A-Z a-z 0-9 . _ -")]
    BadName { field: &'static str },
    #[error("load {0} is above {MAX_LOAD}")]
    LoadOutOfRange(u32),
}

/// A datagram that was well formed and carried a valid tag.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    pub heartbeat: Heartbeat,
    pub key_id: u32,
}

pub fn encode(heartbeat: &Heartbeat, key: &PeerKey) -> Result<Vec<u8>, EncodeError> {
    check_name("site", &heartbeat.site)?;
    check_name("node", &heartbeat.node)?;
    let state = heartbeat.state;
    if state.load > MAX_LOAD {
        return Err(EncodeError::LoadOutOfRange(state.load));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + heartbeat.site.len() + heartbeat.node.len() + TAG_LEN);
    out.push(WIRE_VERSION);
    out.extend_from_slice(&key.id().to_be_bytes());
    out.extend_from_slice(&heartbeat.boot_id.to_be_bytes());
    out.extend_from_slice(&heartbeat.sequence.to_be_bytes());
    out.extend_from_slice(&heartbeat.echo.to_be_bytes());
    out.extend_from_slice(&heartbeat.sent_unix_ms.to_be_bytes());
    out.push(u8::from(state.available));
    out.extend_from_slice(&state.load.to_be_bytes());
    out.extend_from_slice(&state.rtt_us.to_be_bytes());
    out.push(heartbeat.site.len() as u8);
    out.push(heartbeat.node.len() as u8);
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(heartbeat.site.as_bytes());
    out.extend_from_slice(heartbeat.node.as_bytes());
    let tag = key.sign(&out);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Parses and authenticates a datagram. Structure is checked first (cheap),
/// then the tag, then field values; nothing from an unverified datagram is
/// returned.
pub fn decode(datagram: &[u8], keys: &KeyRing) -> Result<Verified, DropReason> {
    if !(MIN_DATAGRAM_LEN..=MAX_DATAGRAM_LEN).contains(&datagram.len()) || datagram[0] != WIRE_VERSION {
        return Err(DropReason::Malformed);
    }
    let site_len = usize::from(datagram[46]);
    let node_len = usize::from(datagram[47]);
    if !(1..=MAX_NAME_LEN).contains(&site_len)
        || !(1..=MAX_NAME_LEN).contains(&node_len)
        || datagram.len() != HEADER_LEN + site_len + node_len + TAG_LEN
    {
        return Err(DropReason::Malformed);
    }
    let (signed, tag) = datagram.split_at(datagram.len() - TAG_LEN);
    let key_id = read_u32(datagram, 1);
    let mut candidates = keys.keys_with_id(key_id).peekable();
    if candidates.peek().is_none() {
        return Err(DropReason::UnknownKey);
    }
    if !candidates.any(|key| key.verify(signed, tag)) {
        return Err(DropReason::BadMac);
    }

    let available = match datagram[37] {
        0 => false,
        1 => true,
        _ => return Err(DropReason::Malformed),
    };
    let load = read_u32(datagram, 38);
    if load > MAX_LOAD {
        return Err(DropReason::Malformed);
    }
    let site = &signed[HEADER_LEN..HEADER_LEN + site_len];
    let node = &signed[HEADER_LEN + site_len..];
    let (Some(site), Some(node)) = (name_from_bytes(site), name_from_bytes(node)) else {
        return Err(DropReason::Malformed);
    };
    let heartbeat = Heartbeat {
        site,
        node,
        boot_id: read_u64(datagram, 5),
        sequence: read_u64(datagram, 13),
        echo: read_u64(datagram, 21),
        sent_unix_ms: read_u64(datagram, 29),
        state: SiteState { available, load, rtt_us: read_u32(datagram, 42) },
    };
    Ok(Verified { heartbeat, key_id })
}

fn check_name(field: &'static str, name: &str) -> Result<(), EncodeError> {
    if name_from_bytes(name.as_bytes()).is_none() {
        return Err(EncodeError::BadName { field });
    }
    Ok(())
}

fn name_from_bytes(bytes: &[u8]) -> Option<String> {
    let valid = (1..=MAX_NAME_LEN).contains(&bytes.len()) && bytes.iter().all(|&b| is_name_byte(b));
    // Valid names are ASCII, hence UTF-8.
    valid.then(|| String::from_utf8(bytes.to_vec()).ok()).flatten()
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().expect("length checked"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().expect("length checked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Heartbeat {
        Heartbeat {
            site: "eu-west".into(),
            node: "dns-1.a".into(),
            boot_id: 0x0123_4567_89ab_cdef,
            sequence: 42,
            echo: 0x0fed_cba9_8765_4321,
            sent_unix_ms: 1_760_000_000_123,
            state: SiteState { available: true, load: 734, rtt_us: 1_500 },
        }
    }

    fn ring() -> KeyRing {
        KeyRing::from_secrets(&["current-key-0123456789", "previous-key-0123456789"]).unwrap()
    }

    #[test]
    fn round_trip() {
        let keys = ring();
        let bytes = encode(&sample(), keys.signing_key()).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 7 + 7 + TAG_LEN);
        let verified = decode(&bytes, &keys).unwrap();
        assert_eq!(verified.heartbeat, sample());
        assert_eq!(verified.key_id, keys.signing_key().id());
    }

    #[test]
    fn longest_names_fit_the_maximum() {
        let mut heartbeat = sample();
        heartbeat.site = "s".repeat(MAX_NAME_LEN);
        heartbeat.node = "n".repeat(MAX_NAME_LEN);
        let bytes = encode(&heartbeat, ring().signing_key()).unwrap();
        assert_eq!(bytes.len(), MAX_DATAGRAM_LEN);
        assert_eq!(decode(&bytes, &ring()).unwrap().heartbeat, heartbeat);
        heartbeat.node.push('n');
        assert_eq!(encode(&heartbeat, ring().signing_key()), Err(EncodeError::BadName { field: "node" }));
    }

    #[test]
    fn verifies_with_any_key_of_the_ring() {
        let old_only = KeyRing::from_secrets(&["previous-key-0123456789"]).unwrap();
        let bytes = encode(&sample(), old_only.signing_key()).unwrap();
        assert_eq!(decode(&bytes, &ring()).unwrap().heartbeat, sample());
        let stranger = KeyRing::from_secrets(&["some-other-key-0123456789"]).unwrap();
        assert_eq!(decode(&bytes, &stranger), Err(DropReason::UnknownKey));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let keys = ring();
        let bytes = encode(&sample(), keys.signing_key()).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&flipped, &keys).is_err(), "bit {bit} accepted");
        }
    }

    #[test]
    fn every_truncation_is_malformed() {
        let keys = ring();
        let bytes = encode(&sample(), keys.signing_key()).unwrap();
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len], &keys), Err(DropReason::Malformed), "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer, &keys), Err(DropReason::Malformed));
    }

    #[test]
    fn signed_but_out_of_range_fields_are_malformed() {
        let key = ring().signing_key().clone();
        let mut bytes = encode(&sample(), &key).unwrap();
        let signed_len = bytes.len() - TAG_LEN;
        bytes[38..42].copy_from_slice(&1001u32.to_be_bytes());
        let tag = key.sign(&bytes[..signed_len]);
        bytes[signed_len..].copy_from_slice(&tag);
        assert_eq!(decode(&bytes, &ring()), Err(DropReason::Malformed));
    }

    #[test]
    fn rejects_wrong_version_and_load() {
        let keys = ring();
        let mut bytes = encode(&sample(), keys.signing_key()).unwrap();
        bytes[0] = 1;
        assert_eq!(decode(&bytes, &keys), Err(DropReason::Malformed));
        let mut heavy = sample();
        heavy.state.load = 1001;
        assert_eq!(encode(&heavy, keys.signing_key()), Err(EncodeError::LoadOutOfRange(1001)));
    }
}
