//! The negative answer's authority section for a name in one of our zones, written from the
//! query's bytes: NXDOMAIN, the common reply of a random-subdomain flood, and NODATA (an AAAA
//! query for a name with only IPv4 addresses), answered without building a `Message`.
//!
//! The authority section (the zone's negative SOA) is encoded once per zone by hickory, after a
//! question for a made-up name in the zone, exactly as the full path encodes it; per query only
//! its compression pointers move, by as far as the zone's apex moved in the question. That holds
//! when the query name is lowercase (the made-up one is), no name in the SOA passes through a
//! name of the query below the apex (it would be compressed against that longer suffix), and the
//! query's labels leave the encoder room to remember every name it could point to (hickory keeps
//! at most 64). Every other query goes to the full path.

use hickory_proto::{
    op::{Message, OpCode, Query, ResponseCode},
    rr::{Name, RData, Record, RecordType},
};

use crate::answers::wire_name;

/// A compression pointer's two top bits (RFC 1035 4.1.4).
const POINTER: u8 = 0xc0;
const HEADER_LEN: usize = 12;
/// Type, class, TTL and RDLENGTH of a resource record.
const RR_FIXED_LEN: usize = 10;
/// SERIAL, REFRESH, RETRY, EXPIRE and MINIMUM.
const SOA_NUMBERS_LEN: usize = 20;
const TYPE_SOA: u16 = 6;
/// The made-up name's label: any name that does not exist would do.
const TEMPLATE_LABEL: &str = "nxdomain-template";
/// How many names hickory's encoder remembers to point to (`COMPRESSION_CANDIDATE_LIMIT`):
/// one per label written. Past it, a later name is written in full.
const POINTER_CANDIDATES: usize = 64;

/// One zone's NXDOMAIN and NODATA authority section, ready to be moved to a query's apex.
pub struct NegativeTemplate {
    authority: Vec<u8>,
    /// Where in `authority` a compression pointer stands.
    pointers: Vec<usize>,
    /// Where the apex starts in the template's message.
    apex_at: usize,
    /// The apex in the answer table's form (lowercase wire).
    apex: Vec<u8>,
    /// The names one label below the apex that a name in the SOA passes through (lowercase
    /// wire): a query name under one of them gets other compression.
    avoid: Vec<Vec<u8>>,
    /// Labels of the SOA's owner, MNAME and RNAME together: with the query's, an upper bound of
    /// the names the encoder is asked to remember.
    soa_labels: usize,
}

impl NegativeTemplate {
    /// The template for the zone at `apex` with this negative SOA; `None` when the encoding is
    /// not one this module can move (then the full path answers).
    pub fn new(apex: &Name, negative_soa: &Record) -> Option<NegativeTemplate> {
        let apex = apex.to_lowercase();
        let made_up = Name::from_ascii(TEMPLATE_LABEL).ok()?.append_domain(&apex).ok()?;
        let mut message = Message::response(0, OpCode::Query);
        message.metadata.authoritative = true;
        message.metadata.response_code = ResponseCode::NXDomain;
        message.add_query(Query::query(made_up.clone(), RecordType::A));
        message.add_authority(negative_soa.clone());
        let bytes = message.to_vec().ok()?;
        let (made_up_wire, apex_wire) = (wire_name(&made_up), wire_name(&apex));
        let question_end = HEADER_LEN + made_up_wire.len() + 4;
        let authority = bytes.get(question_end..)?.to_vec();
        let apex_at = HEADER_LEN + made_up_wire.len() - apex_wire.len();
        let pointers = soa_pointers(&authority)?;
        // Every pointer must lead into the apex or after it: those move with the apex.
        if pointers.iter().any(|&p| pointer_target(&authority, p) < apex_at) {
            return None;
        }
        let RData::SOA(soa) = &negative_soa.data else { return None };
        let avoid: Vec<Vec<u8>> = [&soa.mname, &soa.rname]
            .into_iter()
            .filter_map(|n| below_apex(&wire_name(n), &apex_wire).1.map(<[u8]>::to_vec))
            .collect();
        let soa_labels = [&negative_soa.name, &soa.mname, &soa.rname].iter().map(|n| usize::from(n.num_labels())).sum();
        let template = NegativeTemplate { authority, pointers, apex_at, apex: apex_wire, avoid, soa_labels };
        // The made-up name must itself be one the template is right for.
        (template.movable_to(&made_up_wire)).then_some(template)
    }

    /// Whether a lowercase query `name` in this zone gets this template's compression: the
    /// apex itself, or a name below it not under a name an SOA name passes through, with
    /// labels few enough that the encoder remembers every name it could point to.
    fn movable_to(&self, name: &[u8]) -> bool {
        let (labels, child) = below_apex(name, &self.apex);
        let placed = name == self.apex || child.is_some_and(|child| !self.avoid.iter().any(|a| a == child));
        placed && labels + self.soa_labels < POINTER_CANDIDATES
    }

    /// Bytes of the authority section `write_for` appends.
    pub fn section_len(&self) -> usize {
        self.authority.len()
    }

    /// Appends to `out` the authority section for a query whose lowercase wire `name` (this
    /// zone's apex or a name below it) stands right after the header; `None`, with nothing
    /// appended, when it would be encoded otherwise.
    pub fn write_for(&self, name: &[u8], out: &mut Vec<u8>) -> Option<()> {
        if !self.movable_to(name) {
            return None;
        }
        // The apex moves by this much; every pointer leads into it or after it (checked when
        // made), and the furthest stays below 16,384 (a query name is at most 255 bytes).
        let apex_at = HEADER_LEN + name.len() - self.apex.len();
        let start = out.len();
        out.extend_from_slice(&self.authority);
        for &at in &self.pointers {
            let target = pointer_target(&self.authority, at) - self.apex_at + apex_at;
            let [high, low] = (target as u16).to_be_bytes();
            out[start + at] = POINTER | high;
            out[start + at + 1] = low;
        }
        Some(())
    }
}

/// Where the compression pointers stand in an encoded SOA record: in its owner, MNAME and RNAME.
fn soa_pointers(record: &[u8]) -> Option<Vec<usize>> {
    let mut pointers = Vec::new();
    let fixed_at = name_end(record, 0, &mut pointers)?;
    let fixed = record.get(fixed_at..fixed_at + RR_FIXED_LEN)?;
    if u16::from_be_bytes([fixed[0], fixed[1]]) != TYPE_SOA {
        return None;
    }
    let rname_at = name_end(record, fixed_at + RR_FIXED_LEN, &mut pointers)?;
    let numbers_at = name_end(record, rname_at, &mut pointers)?;
    (numbers_at + SOA_NUMBERS_LEN == record.len()).then_some(pointers)
}

/// The end of the encoded name at `at`, noting where a pointer ends it.
fn name_end(bytes: &[u8], mut at: usize, pointers: &mut Vec<usize>) -> Option<usize> {
    loop {
        let len = *bytes.get(at)?;
        match len & POINTER {
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + usize::from(len),
            POINTER => {
                bytes.get(at + 1)?;
                pointers.push(at);
                return Some(at + 2);
            }
            _ => return None,
        }
    }
}

fn pointer_target(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[at] & !POINTER, bytes[at + 1]]))
}

/// In one walk over wire `name`: its labels (the root not counted), and its suffix one label
/// longer than `apex` when it lies below `apex`.
fn below_apex<'n>(name: &'n [u8], apex: &[u8]) -> (usize, Option<&'n [u8]>) {
    let (mut at, mut labels, mut child) = (0, 0, None);
    while let Some(&len) = name.get(at).filter(|&&len| len != 0) {
        let next = at + 1 + usize::from(len);
        if child.is_none() && name.get(next..) == Some(apex) {
            child = Some(&name[at..]);
        }
        labels += 1;
        at = next;
    }
    (labels, child)
}
