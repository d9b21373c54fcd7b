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
/// `None` when `qname` has no room for one more label.
pub fn compact_nsec(qname: &Name, existing: Option<&[RecordType]>, ttl: u32) -> Option<Record> {
    let successor = qname.prepend_label(Label::from_raw_bytes(&[0]).ok()?).ok()?;
    let mut types: Vec<RecordType> = existing.unwrap_or_default().to_vec();
    if existing.is_none() {
        types.push(NXNAME);
    }
    types.extend([RecordType::RRSIG, RecordType::NSEC]);
    let nsec = NSEC::new(successor, types);
    Some(Record::from_rdata(qname.clone(), ttl, RData::DNSSEC(DNSSECRData::NSEC(nsec))))
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn an_empty_non_terminal_exists_without_types() {
        let qname = Name::from_ascii("deep.example.com.").unwrap();
        let record = compact_nsec(&qname, Some(&[]), 60).unwrap();
        let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &record.data else { panic!("not an NSEC") };
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        assert_eq!(types.len(), 2, "only NSEC and RRSIG: {types:?}");
    }
}
