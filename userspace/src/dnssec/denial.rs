//! Compact Denial of Existence (RFC 9824): a name or type that does not exist is denied with
//! one NSEC at the query name whose next name is its immediate successor (`\000.name`), so the
//! answer covers nothing else and the zone cannot be walked.

use hickory_proto::{
    dnssec::rdata::{DNSSECRData, NSEC},
    rr::{Name, RData, Record, RecordType, domain::Label},
};

/// The NXNAME pseudo-type: in the bitmap, it says the name does not exist (RFC 9824 2.2).
pub const NXNAME: RecordType = RecordType::Unknown(128);

/// The Compact Answers OK EDNS flag (RFC 9824 4): a query that sets it gets NXDOMAIN for a
/// name that does not exist, and the response sets it too; without it the RCODE is NOERROR.
pub const EDNS_FLAG_CO: u16 = 0x4000;

/// The NSEC denying `qname`: `existing` are the types at the name (none at an empty
/// non-terminal), `None` when the name does not exist, which puts NXNAME in the bitmap.
/// `None` when `qname` has no successor this can write (see `successor`).
pub fn compact_nsec(qname: &Name, existing: Option<&[RecordType]>, ttl: u32) -> Option<Record> {
    let successor = successor(qname)?;
    let mut types: Vec<RecordType> = existing.unwrap_or_default().to_vec();
    if existing.is_none() {
        types.push(NXNAME);
    }
    types.extend([RecordType::RRSIG, RecordType::NSEC]);
    let nsec = NSEC::new(successor, types);
    Some(Record::from_rdata(qname.clone(), ttl, RData::DNSSEC(DNSSECRData::NSEC(nsec))))
}

/// Longest name in wire form (RFC 1035 2.3.4) and longest label.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

/// The immediate successor of `qname` in canonical order (RFC 4034 6.1), so that the NSEC
/// covers no other name: `\000.qname` while that fits. A name too long for it can have no name
/// below it, so its successor is found in its leftmost label (RFC 4471 3.1.2, on the lowercase
/// name as canonical order compares it): a zero octet appended, or, with no room for that, the
/// last octet incremented (past the uppercase letters, which canonical names never hold); no
/// name can lie between. `None` when that last octet is 0xff.
fn successor(qname: &Name) -> Option<Name> {
    if let Ok(below) = qname.prepend_label(Label::from_raw_bytes(&[0]).ok()?) {
        return Some(below);
    }
    let mut labels: Vec<Vec<u8>> = qname.to_lowercase().iter().map(<[u8]>::to_vec).collect();
    let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    let leftmost = labels.first_mut()?;
    if leftmost.len() < MAX_LABEL && wire_len < MAX_NAME {
        leftmost.push(0);
    } else {
        let last = leftmost.last_mut()?;
        *last = match *last {
            0xff => return None,
            b'@' => b'[',
            octet => octet + 1,
        };
    }
    Name::from_labels(labels).ok()
}

#[cfg(test)]
mod tests {
    use hickory_proto::serialize::binary::BinEncodable;

    use super::*;

    #[test]
    fn a_missing_name_is_denied_with_nxname_and_its_immediate_successor() {
        let qname = Name::from_ascii("nope.example.com.").unwrap();
        let record = compact_nsec(&qname, None, 60).unwrap();
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &record.data else { panic!("not an NSEC") };
        assert_eq!(nsec.next_domain_name().to_string(), "\\000.nope.example.com.");
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        assert!(types.contains(&NXNAME) && types.contains(&RecordType::NSEC) && types.contains(&RecordType::RRSIG));
        assert_eq!(types.len(), 3, "{types:?}");
    }

    #[test]
    fn a_missing_type_is_denied_with_the_types_that_exist() {
        let qname = Name::from_ascii("www.example.com.").unwrap();
        let record = compact_nsec(&qname, Some(&[RecordType::A]), 60).unwrap();
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &record.data else { panic!("not an NSEC") };
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        assert!(types.contains(&RecordType::A) && !types.contains(&NXNAME) && !types.contains(&RecordType::AAAA));
    }

    /// A name under example.com. of `wire_len` octets whose leftmost label is `leftmost` long
    /// and ends in `last`.
    fn long_name(wire_len: usize, leftmost: usize, last: u8) -> Name {
        let mut labels = vec![[vec![b'x'; leftmost - 1], vec![last]].concat()];
        let mut left = wire_len - (leftmost + 1) - 13;
        while left > 0 {
            let len = (left - 1).min(MAX_LABEL);
            labels.push(vec![b'a'; len]);
            left -= len + 1;
        }
        labels.extend([b"example".to_vec(), b"com".to_vec()]);
        let name = Name::from_labels(labels).unwrap();
        assert_eq!(name.to_bytes().unwrap().len(), wire_len, "test name");
        name
    }

    fn next_name(qname: &Name) -> Name {
        let record = compact_nsec(qname, None, 60).expect("an NSEC");
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &record.data else { panic!("not an NSEC") };
        nsec.next_domain_name().clone()
    }

    #[test]
    fn a_name_too_long_for_a_label_below_gets_the_next_name_beside_it() {
        // 254 octets: a zero octet appended to the leftmost label (255 octets).
        let qname = long_name(254, 10, b'Q');
        let next = next_name(&qname);
        let expected = [b"xxxxxxxxxq".as_slice(), &[0]].concat();
        assert_eq!(next.iter().next().unwrap(), expected.as_slice(), "lowercase, then \\000");
        assert_eq!((next.to_bytes().unwrap().len(), next.base_name()), (255, qname.base_name().to_lowercase()));
        assert!(next > qname.to_lowercase(), "after the name in canonical order");

        // 255 octets, or a full leftmost label: its last octet incremented, past A-Z.
        for (qname, last) in [(long_name(255, 10, b'q'), b'r'), (long_name(254, 63, b'@'), b'[')] {
            let next = next_name(&qname);
            let leftmost = next.iter().next().unwrap();
            assert_eq!((leftmost.len(), leftmost[leftmost.len() - 1]), (qname.iter().next().unwrap().len(), last));
            assert_eq!(next.to_bytes().unwrap().len(), qname.to_bytes().unwrap().len());
            assert!(next > qname, "after the name in canonical order");
        }
        assert!(compact_nsec(&long_name(255, 10, 0xff), None, 60).is_none(), "no successor written for 0xff");
    }

    #[test]
    fn an_empty_non_terminal_exists_without_types() {
        let qname = Name::from_ascii("deep.example.com.").unwrap();
        let record = compact_nsec(&qname, Some(&[]), 60).unwrap();
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &record.data else { panic!("not an NSEC") };
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        assert_eq!(types.len(), 2, "only NSEC and RRSIG: {types:?}");
    }
}
