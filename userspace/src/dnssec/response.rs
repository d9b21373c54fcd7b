//! What a DO=1 query in a signed zone adds to its response: its RRSIGs after every RRset of the
//! answer and authority sections and after each of the zone's RRsets in the additional section,
//! and for a name or type that does not exist the compact NSEC (RFC 9824) with its RRSIG.

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{Name, Record, RecordType},
};

use super::{
    ZoneSigner,
    denial::{EDNS_FLAG_CO, compact_nsec},
    signer::SignError,
};

/// A negative answer to deny: the query name, the types it has (`None`: it does not exist)
/// and the negative TTL (that of the SOA in the authority section).
pub struct Denial<'a> {
    pub qname: &'a Name,
    pub existing: Option<Vec<RecordType>>,
    pub ttl: u32,
}

/// Signs `response` in place. A name that does not exist is answered NOERROR, or NXDOMAIN
/// with the CO flag set when the query set it (`compact_ok`). `synthesized`: the query name
/// is one a wildcard answers, whose signatures are made for it alone and not cached.
pub fn sign_response(
    signer: &ZoneSigner,
    response: &mut Message,
    denial: Option<Denial<'_>>,
    compact_ok: bool,
    synthesized: bool,
) -> Result<(), SignError> {
    let signatures = sign_rrsets(signer, &response.answers, !synthesized)?;
    response.answers.extend(signatures);
    let mut authority = std::mem::take(&mut response.authorities);
    let signatures = sign_rrsets(signer, &authority, true)?;
    authority.extend(signatures);
    if let Some(denial) = denial {
        let nsec =
            compact_nsec(denial.qname, denial.existing.as_deref(), denial.ttl).ok_or_else(|| SignError::Failed {
                name: denial.qname.clone(),
                rtype: RecordType::NSEC,
                problem: "the name is too long for its NSEC's next name".into(),
            })?;
        let nonexistent = denial.existing.is_none();
        let nsec_sigs = nsec_signatures(signer, &nsec, !nonexistent && !synthesized)?;
        authority.push(nsec);
        authority.extend(nsec_sigs);
        response.metadata.response_code =
            if nonexistent && compact_ok { ResponseCode::NXDomain } else { ResponseCode::NoError };
        if let Some(edns) = response.edns.as_mut().filter(|_| compact_ok) {
            edns.flags_mut().z |= EDNS_FLAG_CO;
        }
    }
    response.authorities = authority;
    response.additionals = with_signatures(signer, std::mem::take(&mut response.additionals))?;
    Ok(())
}

/// The RRSIGs of a name's compact NSEC; `cache` false for a name that does not exist or that
/// a wildcard answers: one per name asked for, not worth a place in the cache.
pub fn nsec_signatures(signer: &ZoneSigner, nsec: &Record, cache: bool) -> Result<Vec<Record>, SignError> {
    sign(signer, std::slice::from_ref(nsec), cache)
}

/// Every RRSIG a name has (the answer to an RRSIG query): those of each RRset in `rrsets` and
/// of its compact NSEC, kept in the cache when `cache` (see `nsec_signatures`).
pub fn name_signatures(
    signer: &ZoneSigner,
    rrsets: &[Record],
    nsec: &Record,
    cache: bool,
) -> Result<Vec<Record>, SignError> {
    let mut signatures = sign_rrsets(signer, rrsets, cache)?;
    signatures.extend(nsec_signatures(signer, nsec, cache)?);
    Ok(signatures)
}

fn sign(signer: &ZoneSigner, rrset: &[Record], cache: bool) -> Result<Vec<Record>, SignError> {
    if cache { signer.sign(rrset) } else { signer.sign_uncached(rrset) }
}

/// The additional records (RFC 4035 3.1.1), each RRset of the zone followed by its RRSIGs, so
/// that the section can be left out whole when it does not fit; records outside the zone stay
/// unsigned.
fn with_signatures(signer: &ZoneSigner, records: Vec<Record>) -> Result<Vec<Record>, SignError> {
    let mut out = Vec::with_capacity(records.len() * 2);
    for (i, record) in records.iter().enumerate() {
        let rtype = record.record_type();
        let same_rrset = |r: &&Record| r.record_type() == rtype && r.name == record.name;
        if records[..i].iter().any(|r| same_rrset(&r)) {
            continue;
        }
        let rrset: Vec<Record> = records.iter().filter(same_rrset).cloned().collect();
        let signed = signer.zone().zone_of(&record.name) && !matches!(rtype, RecordType::RRSIG | RecordType::OPT);
        let signatures = if signed { signer.sign(&rrset)? } else { Vec::new() };
        out.extend(rrset);
        out.extend(signatures);
    }
    Ok(out)
}

/// The RRSIGs (one per key) of each RRset in `records` (records of one owner and type, in the order they come),
/// skipping records that are signatures already; kept in the cache when `cache`.
fn sign_rrsets(signer: &ZoneSigner, records: &[Record], cache: bool) -> Result<Vec<Record>, SignError> {
    let mut signatures = Vec::new();
    let mut done: Vec<(Name, RecordType)> = Vec::new();
    for record in records {
        let rtype = record.record_type();
        if rtype == RecordType::RRSIG || done.iter().any(|(n, t)| *t == rtype && *n == record.name) {
            continue;
        }
        let rrset: Vec<Record> =
            records.iter().filter(|r| r.record_type() == rtype && r.name == record.name).cloned().collect();
        signatures.extend(sign(signer, &rrset, cache)?);
        done.push((record.name.clone(), rtype));
    }
    Ok(signatures)
}
