//! The data an RRSIG signs (RFC 4034 3.1.8.1), written into one buffer: the RRSIG RDATA
//! without the signature, then each RR of the set in canonical form, sorted by RDATA and
//! without duplicates (RFC 4034 6.3). hickory's `TBS` makes the same bytes (the tests compare
//! them), but clones the records, and its sort encodes both records of every comparison.

use hickory_proto::{
    ProtoError,
    dnssec::rdata::SigInput,
    rr::{DNSClass, Name, Record, RecordType},
    serialize::binary::{BinEncodable, BinEncoder, NameEncoding},
};

/// What `input` signs over the records of `rrset` owned by `owner` of the type it covers
/// (others are left out, as a validator leaves them out).
pub fn signed_data(owner: &Name, input: &SigInput, rrset: &[Record]) -> Result<Vec<u8>, ProtoError> {
    let records = canonical_rrset(owner, input.num_labels, input.type_covered, input.original_ttl, rrset)?;
    let mut data = Vec::with_capacity(32 + input.signer_name.len() + records.len());
    input.emit(&mut canonical_encoder(&mut data))?;
    data.extend_from_slice(&records);
    Ok(data)
}

/// The signed records (RFC 4034 3.1.8.1 `RR(1) | RR(2) ...`): each record of `rtype` owned by
/// `owner` as `name | type | class | ttl | RDATA length | RDATA`, sorted by canonical RDATA,
/// duplicates once. It names the RRset's content exactly, whatever the order and letter case it
/// came in, so it is also what the signature cache is keyed by.
pub fn canonical_rrset(
    owner: &Name,
    labels: u8,
    rtype: RecordType,
    ttl: u32,
    rrset: &[Record],
) -> Result<Vec<u8>, ProtoError> {
    let owner_wire = canonical_owner(owner, labels)?;
    // Each record's canonical RDATA, one after the other, and where each one lies.
    let mut rdatas = Vec::with_capacity(rrset.len() * 16);
    let mut spans = Vec::with_capacity(rrset.len());
    {
        let mut encoder = canonical_encoder(&mut rdatas);
        for record in rrset {
            if record.record_type() != rtype || record.dns_class != DNSClass::IN || record.name != *owner {
                continue;
            }
            let start = encoder.offset();
            record.data.emit(&mut encoder)?;
            spans.push(start..encoder.offset());
        }
    }
    spans.sort_by(|a, b| rdatas[a.clone()].cmp(&rdatas[b.clone()]));
    spans.dedup_by(|a, b| rdatas[a.clone()] == rdatas[b.clone()]);

    let mut records = Vec::with_capacity(spans.len() * (owner_wire.len() + 10) + rdatas.len());
    for span in spans {
        let rdata = &rdatas[span];
        let length = u16::try_from(rdata.len()).map_err(|_| ProtoError::from("RDATA longer than 65535 bytes"))?;
        records.extend_from_slice(&owner_wire);
        records.extend_from_slice(&u16::from(rtype).to_be_bytes());
        records.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        records.extend_from_slice(&ttl.to_be_bytes());
        records.extend_from_slice(&length.to_be_bytes());
        records.extend_from_slice(rdata);
    }
    Ok(records)
}

/// An encoder writing RDATA as the signature covers it: names uncompressed, and lowercase in
/// the types RFC 4034 6.2 (as amended by RFC 6840 5.1) names.
fn canonical_encoder(buf: &mut Vec<u8>) -> BinEncoder<'_> {
    let mut encoder = BinEncoder::new(buf);
    encoder.set_canonical_form(true);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    encoder
}

/// The owner name as signed (RFC 4035 5.3.2): lowercase; when the RRSIG counts fewer labels
/// (a wildcard's expansion), `*` and the rightmost `labels` labels.
fn canonical_owner(owner: &Name, labels: u8) -> Result<Vec<u8>, ProtoError> {
    let all: Vec<&[u8]> = owner.iter().collect();
    let kept = usize::from(labels);
    if kept > all.len() {
        return Err(ProtoError::from(format!("{owner} has fewer than the RRSIG's {labels} labels")));
    }
    let mut wire = Vec::with_capacity(owner.len() + 3);
    if kept < all.len() {
        wire.extend_from_slice(b"\x01*");
    }
    for label in &all[all.len() - kept..] {
        wire.push(label.len() as u8);
        wire.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    wire.push(0);
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::{
        dnssec::{Algorithm, TBS},
        rr::{
            RData, SerialNumber,
            rdata::{A, AAAA, CNAME, MX, TXT},
        },
    };
    use proptest::prelude::*;

    use super::*;

    fn input(owner: &Name, rtype: RecordType, ttl: u32) -> SigInput {
        SigInput {
            type_covered: rtype,
            algorithm: Algorithm::ED25519,
            num_labels: owner.num_labels(),
            original_ttl: ttl,
            sig_expiration: SerialNumber::new(1_800_000_000),
            sig_inception: SerialNumber::new(1_700_000_000),
            key_tag: 12345,
            signer_name: Name::from_ascii("example.com.").unwrap(),
        }
    }

    fn hickory(owner: &Name, input: &SigInput, rrset: &[Record]) -> Vec<u8> {
        TBS::from_input(owner, DNSClass::IN, input, rrset.iter()).unwrap().as_ref().to_vec()
    }

    fn records(owner: &Name, ttl: u32, datas: Vec<RData>) -> Vec<Record> {
        datas.into_iter().map(|d| Record::from_rdata(owner.clone(), ttl, d)).collect()
    }

    #[test]
    fn the_owner_is_lowercased_and_the_records_sorted_by_rdata() {
        let owner = Name::from_ascii("WWW.Example.COM.").unwrap();
        let rrset = records(&owner, 30, vec![RData::A(A::new(198, 18, 20, 1)), RData::A(A::new(198, 18, 10, 1))]);
        let input = input(&owner, RecordType::A, 30);
        let data = signed_data(&owner, &input, &rrset).unwrap();
        let header = 18 + 13; // the RRSIG fields, then the signer's name
        let rr = |address: [u8; 4]| {
            let mut rr = b"\x03www\x07example\x03com\x00\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04".to_vec();
            rr.extend_from_slice(&address);
            rr
        };
        assert_eq!(&data[header..], [rr([198, 18, 10, 1]), rr([198, 18, 20, 1])].concat());
        assert_eq!(data, hickory(&owner, &input, &rrset));
    }

    #[test]
    fn duplicates_are_signed_once_and_other_types_left_out() {
        let owner = Name::from_ascii("www.example.com.").unwrap();
        let one = records(&owner, 30, vec![RData::A(A::new(198, 18, 10, 1))]);
        let mut noisy = records(&owner, 30, vec![RData::A(A::new(198, 18, 10, 1)), RData::A(A::new(198, 18, 10, 1))]);
        noisy.extend(records(&owner, 30, vec![RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))]));
        let input = input(&owner, RecordType::A, 30);
        assert_eq!(signed_data(&owner, &input, &noisy).unwrap(), signed_data(&owner, &input, &one).unwrap());
    }

    #[test]
    fn a_wildcard_expansion_is_signed_as_the_wildcard() {
        let owner = Name::from_ascii("a.b.example.com.").unwrap();
        let rrset = records(&owner, 30, vec![RData::A(A::new(198, 18, 10, 1))]);
        let mut input = input(&owner, RecordType::A, 30);
        input.num_labels = 3;
        let data = signed_data(&owner, &input, &rrset).unwrap();
        let wildcard = b"\x01*\x01b\x07example\x03com\x00";
        assert!(data.windows(wildcard.len()).any(|w| w == wildcard), "signed as *.b.example.com");
        assert_eq!(data, hickory(&owner, &input, &rrset));
        input.num_labels = 5;
        assert!(signed_data(&owner, &input, &rrset).is_err(), "more labels than the owner has");
    }

    #[test]
    fn names_in_rdata_are_lowercased_as_hickory_does() {
        let owner = Name::from_ascii("Mail.Example.com.").unwrap();
        let mx = |pref, host: &str| RData::MX(MX::new(pref, Name::from_ascii(host).unwrap()));
        let rrset = records(&owner, 300, vec![mx(20, "MX2.Example.com."), mx(10, "mx1.EXAMPLE.com.")]);
        let input = input(&owner, RecordType::MX, 300);
        assert_eq!(signed_data(&owner, &input, &rrset).unwrap(), hickory(&owner, &input, &rrset));
        let cname = records(&owner, 300, vec![RData::CNAME(CNAME(Name::from_ascii("Target.Example.com.").unwrap()))]);
        let input = super::tests::input(&owner, RecordType::CNAME, 300);
        assert_eq!(signed_data(&owner, &input, &cname).unwrap(), hickory(&owner, &input, &cname));
    }

    proptest! {
        #[test]
        fn the_same_bytes_as_hickory_for_any_address_set(
            labels in proptest::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", 1..4),
            v4 in proptest::collection::btree_set(any::<u32>(), 1..8),
            v6 in proptest::collection::btree_set(any::<u128>(), 1..8),
            ttl in any::<u32>(),
            texts in proptest::collection::btree_set("[ -~]{0,40}", 1..4),
        ) {
            let owner = Name::from_ascii(format!("{}.example.com.", labels.join("."))).unwrap();
            let a = records(&owner, ttl, v4.iter().map(|v| RData::A(A(Ipv4Addr::from(*v)))).collect());
            let input_a = input(&owner, RecordType::A, ttl);
            prop_assert_eq!(signed_data(&owner, &input_a, &a).unwrap(), hickory(&owner, &input_a, &a));
            let aaaa = records(&owner, ttl, v6.iter().map(|v| RData::AAAA(AAAA(Ipv6Addr::from(*v)))).collect());
            let input_aaaa = input(&owner, RecordType::AAAA, ttl);
            prop_assert_eq!(signed_data(&owner, &input_aaaa, &aaaa).unwrap(), hickory(&owner, &input_aaaa, &aaaa));
            let txt = records(&owner, ttl, texts.iter().map(|t| RData::TXT(TXT::new(vec![t.clone()]))).collect());
            let input_txt = input(&owner, RecordType::TXT, ttl);
            prop_assert_eq!(signed_data(&owner, &input_txt, &txt).unwrap(), hickory(&owner, &input_txt, &txt));
        }
    }
}
