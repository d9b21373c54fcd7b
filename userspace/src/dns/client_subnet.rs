//! The Client Subnet option of a query (RFC 7871) as it stands in the packet: the parsed form
//! hides the two mistakes section 6 asks a server to refuse with FORMERR, address octets beyond
//! what the source prefix needs, and address bits set beyond the source prefix. The same walk
//! finds the OPT record of a message that does not parse, options that overrun it, and an OPT
//! record whose owner is not the root (the parser drops the owner).

use switchyard_common::proto::{EDNS_CLIENT_SUBNET, TYPE_OPT};

/// Most names, records and options walked (a query has a question and an OPT record).
const MAX_ITEMS: usize = 64;
const HEADER_LEN: usize = 12;

/// Whether the query's Client Subnet option, if it has one, is well formed (section 6).
pub fn well_formed(message: &[u8]) -> bool {
    let Some(option) = opt_rdata(message).and_then(|rdata| find_option(rdata, EDNS_CLIENT_SUBNET)) else {
        return true;
    };
    let [_, _, source, _, address @ ..] = option else { return false };
    let needed = usize::from(*source).div_ceil(8);
    if address.len() != needed {
        return false;
    }
    let spare_bits = needed * 8 - usize::from(*source);
    spare_bits == 0 || address[needed - 1] & ((1u8 << spare_bits) - 1) == 0
}

/// Whether a message that did not parse has an OPT record, and its DO bit: a FORMERR to a
/// query that speaks EDNS carries an OPT record (RFC 6891 7), also when the option that made
/// it fail is one the parser refuses outright (an unknown address family, a prefix too long).
pub fn opt_dnssec_ok(message: &[u8]) -> Option<bool> {
    Some(opt_record(message)?.ttl & 0x8000 != 0)
}

/// The RDATA of the message's OPT record.
fn opt_rdata(message: &[u8]) -> Option<&[u8]> {
    opt_record(message).map(|opt| opt.rdata)
}

/// An OPT record as it stands in the message.
struct OptRecord<'a> {
    owner_is_root: bool,
    /// The TTL field: extended code, version, flags.
    ttl: u32,
    rdata: &'a [u8],
}

/// The message's (first) OPT record.
fn opt_record(message: &[u8]) -> Option<OptRecord<'_>> {
    let count = |i: usize| Some(usize::from(read_u16(message, 4 + 2 * i)?));
    let mut pos = HEADER_LEN;
    for _ in 0..count(0)?.min(MAX_ITEMS) {
        pos = skip_name(message, pos)? + 4;
    }
    let records = count(1)? + count(2)? + count(3)?;
    for _ in 0..records.min(MAX_ITEMS) {
        let owner_is_root = *message.get(pos)? == 0;
        pos = skip_name(message, pos)?;
        let rtype = read_u16(message, pos)?;
        let len = usize::from(read_u16(message, pos + 8)?);
        let rdata = message.get(pos + 10..pos + 10 + len)?;
        if rtype == TYPE_OPT {
            let ttl = (u32::from(read_u16(message, pos + 4)?) << 16) | u32::from(read_u16(message, pos + 6)?);
            return Some(OptRecord { owner_is_root, ttl, rdata });
        }
        pos += 10 + len;
    }
    None
}

fn read_u16(message: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*message.get(pos)?, *message.get(pos + 1)?]))
}

/// The position after the name at `pos` (labels, ending in the root or a pointer).
fn skip_name(message: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *message.get(pos)?;
        match len & 0xC0 {
            0 if len == 0 => return Some(pos + 1),
            0 => pos += 1 + usize::from(len),
            0xC0 => return Some(pos + 2),
            _ => return None,
        }
    }
    None
}

/// Whether the query's OPT record is as RFC 6891 6.1.2 has it, in one walk: owned by the root
/// (its NAME MUST be 0; the parser drops the owner), its options filling its RDATA exactly,
/// each header whole and each length within what is left (the parser takes an option cut short
/// for the end of the options, so it would be answered as if absent). True without an OPT
/// record, and beyond the first `MAX_ITEMS` options, which are not walked.
pub fn opt_well_formed(message: &[u8]) -> bool {
    let Some(opt) = opt_record(message) else { return true };
    if !opt.owner_is_root {
        return false;
    }
    let mut rdata = opt.rdata;
    for _ in 0..MAX_ITEMS {
        match rdata {
            [] => return true,
            [_, _, l0, l1, rest @ ..] => match rest.get(usize::from(u16::from_be_bytes([*l0, *l1]))..) {
                Some(after) => rdata = after,
                None => return false,
            },
            _ => return false,
        }
    }
    true
}

/// The data of the first option with `code` in an OPT record's RDATA.
fn find_option(mut rdata: &[u8], code: u16) -> Option<&[u8]> {
    for _ in 0..MAX_ITEMS {
        let [c0, c1, l0, l1, rest @ ..] = rdata else { return None };
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let data = rest.get(..len)?;
        if u16::from_be_bytes([*c0, *c1]) == code {
            return Some(data);
        }
        rdata = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for www.example.com. A with an OPT record holding `option` (code 8).
    fn query_with_subnet(option: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        m.extend_from_slice(&((option.len() + 4) as u16).to_be_bytes());
        m.extend_from_slice(&8u16.to_be_bytes());
        m.extend_from_slice(&(option.len() as u16).to_be_bytes());
        m.extend_from_slice(option);
        m
    }

    #[test]
    fn a_subnet_with_exactly_the_octets_its_prefix_needs_is_well_formed() {
        assert!(well_formed(&query_with_subnet(&[0, 1, 24, 0, 198, 18, 10])));
        assert!(well_formed(&query_with_subnet(&[0, 1, 20, 0, 198, 18, 0x10])));
        assert!(well_formed(&query_with_subnet(&[0, 1, 0, 0])));
        assert!(well_formed(&query_with_subnet(&[0, 2, 56, 0, 0xfd, 0, 0, 0, 0, 0, 0x01])));
    }

    #[test]
    fn more_octets_than_the_prefix_needs_are_refused() {
        assert!(!well_formed(&query_with_subnet(&[0, 1, 24, 0, 198, 18, 10, 0])));
        assert!(!well_formed(&query_with_subnet(&[0, 1, 0, 0, 198])));
    }

    #[test]
    fn address_bits_beyond_the_prefix_are_refused() {
        assert!(!well_formed(&query_with_subnet(&[0, 1, 20, 0, 198, 18, 0x11])));
        assert!(!well_formed(&query_with_subnet(&[0, 1, 23, 0, 198, 18, 11])));
    }

    #[test]
    fn too_few_octets_or_a_cut_option_is_refused() {
        assert!(!well_formed(&query_with_subnet(&[0, 1, 24, 0, 198, 18])));
        assert!(!well_formed(&query_with_subnet(&[0, 1])));
    }

    #[test]
    fn an_option_longer_than_what_is_left_or_a_cut_header_is_malformed() {
        assert!(opt_well_formed(&query_with_subnet(&[0, 1, 24, 0, 198, 18, 1])));
        let mut overrun = query_with_subnet(&[0, 1, 24, 0, 198, 18, 1]);
        let at = overrun.len() - 7 - 2;
        overrun[at + 1] = 12; // the option claims 12 bytes, 7 follow
        assert!(!opt_well_formed(&overrun));
        let mut cut = query_with_subnet(&[0, 1, 24, 0, 198, 18, 1]);
        cut.extend_from_slice(&[0, 10]); // two bytes of a second option's header
        let rdlen_at = cut.len() - 2 - 7 - 4 - 2;
        cut[rdlen_at + 1] += 2;
        assert!(!opt_well_formed(&cut));
    }

    #[test]
    fn an_opt_record_owned_by_another_name_than_the_root_is_told() {
        let rooted = query_with_subnet(&[0, 1, 24, 0, 198, 18, 1]);
        assert!(opt_well_formed(&rooted));
        // The OPT record starts after the header and the question (21 bytes): its owner `\0`
        // becomes `\x03foo\0`.
        let opt_at = 12 + 21;
        let mut owned = rooted[..opt_at].to_vec();
        owned.extend_from_slice(b"\x03foo");
        owned.extend_from_slice(&rooted[opt_at..]);
        assert!(!opt_well_formed(&owned));
        // A pointer to the question's name is not the root either.
        let mut pointed = rooted[..opt_at].to_vec();
        pointed.extend_from_slice(&[0xC0, 12]);
        pointed.extend_from_slice(&rooted[opt_at + 1..]);
        assert!(!opt_well_formed(&pointed));
    }

    #[test]
    fn a_query_without_the_option_or_without_edns_is_well_formed() {
        let mut plain = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        plain.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        assert!(well_formed(&plain));
        assert!(opt_well_formed(&plain), "no OPT record: nothing to refuse here");
        assert!(well_formed(&[0u8; 5]), "too short to hold an option: nothing to refuse here");
    }
}
