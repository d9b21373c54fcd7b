//! The RRSIG of each signed answer set, made in the pass that writes the answer map: one
//! signature per RRset content and validity window, taken from the zone signer's cache, which
//! the userspace server signs through as well, so both paths send the very same bytes.

use std::{net::IpAddr, sync::Arc};

use hickory_proto::{
    rr::{
        Name, RData, Record,
        rdata::{A, AAAA},
    },
    serialize::binary::{BinDecodable, BinEncodable},
};
use switchyard_common::{MapKey, QTYPE_AAAA, SignatureEntry};

use crate::{
    answers::{AnswerKey, AnswerSet},
    dnssec::{ZoneSigner, signer::SignError},
};

/// The program stops serving a signature this long before the signer would renew it, so that
/// a late refresh pass sends queries to userspace rather than serve what userspace replaced.
pub const RENEW_MARGIN_SECS: u64 = 60;

/// A signature made for the map, and when the signer renews it (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSignature {
    pub entry: SignatureEntry,
    pub renew_at: u64,
}

/// What one answer set's signature needs, collected while the table is walked.
pub struct SigningJob<'a> {
    pub key: MapKey,
    pub answer: (&'a AnswerKey, &'a AnswerSet),
    pub serial: u32,
    pub signer: Arc<ZoneSigner>,
}

/// Identifies an answer set's content (type, TTL, addresses in canonical order): the RRset a
/// signature covers, whatever order a client gets the addresses in. Never 0 (no signature).
pub fn answer_serial(qtype: u16, set: &AnswerSet) -> u32 {
    let mut addrs: Vec<Vec<u8>> = set
        .addrs
        .iter()
        .map(|a| match a {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        })
        .collect();
    addrs.sort();
    // FNV-1a: stable across daemons, so an adopted map's serials stay valid.
    let mut hash: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
    };
    mix(&qtype.to_be_bytes());
    mix(&set.ttl.to_be_bytes());
    for addr in &addrs {
        mix(addr);
    }
    hash.max(1)
}

/// The RRset one answer set stands for, owned by its (lowercase) name.
pub fn rrset(key: &AnswerKey, set: &AnswerSet) -> Option<Vec<Record>> {
    let name = Name::from_bytes(&key.name).ok()?;
    let records = set
        .addrs
        .iter()
        .filter_map(|addr| {
            let data = match (addr, key.qtype) {
                (IpAddr::V6(v6), QTYPE_AAAA) => RData::AAAA(AAAA(*v6)),
                (IpAddr::V4(v4), qtype) if qtype != QTYPE_AAAA => RData::A(A(*v4)),
                _ => return None,
            };
            Some(Record::from_rdata(name.clone(), set.ttl, data))
        })
        .collect();
    Some(records)
}

/// Signs one job: its RRSIG record rendered for the map, valid for the program until
/// `RENEW_MARGIN_SECS` before the signer renews it (`now_unix` and `now_mono_ns` are the same
/// instant on the two clocks).
pub fn sign(job: &SigningJob<'_>, now_unix: u64, now_mono_ns: u64) -> Result<MapSignature, SignError> {
    let (key, set) = job.answer;
    let failed = |problem: &str| SignError::Failed {
        name: Name::from_bytes(&key.name).unwrap_or_default(),
        rtype: key.qtype.into(),
        problem: problem.to_string(),
    };
    let rrset = rrset(key, set).filter(|r| !r.is_empty()).ok_or_else(|| failed("no records to sign"))?;
    let (rrsig, renew_at) = job.signer.sign_renewable(&rrset, now_unix)?;
    let rdata = rrsig.data.to_bytes().map_err(|e| failed(&e.to_string()))?;
    let mut record = Vec::with_capacity(10 + rdata.len());
    record.extend_from_slice(&u16::from(rrsig.record_type()).to_be_bytes());
    record.extend_from_slice(&u16::from(rrsig.dns_class).to_be_bytes());
    record.extend_from_slice(&rrsig.ttl.to_be_bytes());
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    let fresh_for = renew_at.saturating_sub(now_unix).saturating_sub(RENEW_MARGIN_SECS);
    let fresh_until_ns = now_mono_ns.saturating_add(fresh_for.saturating_mul(1_000_000_000));
    let entry = SignatureEntry::new(job.serial, fresh_until_ns, &record).ok_or_else(|| failed("RRSIG too long"))?;
    Ok(MapSignature { entry, renew_at })
}

/// Signs every job, spread over the cores (ECDSA and Ed25519 signing is CPU-bound).
pub fn sign_all(jobs: &[SigningJob<'_>], now_unix: u64, now_mono_ns: u64) -> Vec<Result<MapSignature, SignError>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(jobs.len().max(1));
    if threads <= 1 || jobs.len() < 64 {
        return jobs.iter().map(|job| sign(job, now_unix, now_mono_ns)).collect();
    }
    let chunk = jobs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = jobs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|j| sign(j, now_unix, now_mono_ns)).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a signing thread panicked")).collect()
    })
}
