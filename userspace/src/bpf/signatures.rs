//! The RRSIG of each signed answer set, made in the pass that writes the answer map: one
//! signature per RRset content and validity window, taken from the zone signer's cache, which
//! the userspace server signs through as well, so both paths send the very same bytes.

use std::{hash::Hasher, net::IpAddr, sync::Arc};

use hickory_proto::{
    rr::{
        Name, RData, Record,
        rdata::{A, AAAA},
    },
    serialize::binary::{BinDecodable, BinEncodable},
};
use switchyard_common::{MapKey, QTYPE_AAAA, SIGNATURE_SIDE, SignatureEntry};

use crate::{
    answers::{AnswerKey, AnswerSet, address_slot},
    dnssec::{ZoneSigner, signer::SignError, spread},
};

/// The program stops serving a signature this long before the signer would renew it, so that
/// a late refresh pass sends queries to userspace rather than serve what userspace replaced.
pub const RENEW_MARGIN_SECS: u64 = 60;

/// A signature made for the map, when the signer renews it (Unix seconds), and the digest of
/// the answer set it covers (`AnswerId::digest`; 0 when not known, as for one read back from
/// the map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapSignature {
    pub entry: SignatureEntry,
    pub renew_at: u64,
    pub digest: u64,
}

impl MapSignature {
    /// What the writer keeps of it once it is in the map.
    pub fn held(&self) -> HeldSignature {
        HeldSignature { serial: self.entry.serial, digest: self.digest, renew_at: self.renew_at }
    }

    /// The same signature to be kept in the place `side` (0 or `SIGNATURE_SIDE`) of its key.
    pub fn on_side(mut self, side: u32) -> MapSignature {
        self.entry.serial = (self.entry.serial & !SIGNATURE_SIDE) | side;
        self
    }
}

/// What the writer remembers of a signature in the map (not its bytes, which only the map
/// needs): which answer set it is of, and when it is renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldSignature {
    pub serial: u32,
    /// `AnswerId::digest` of the set; 0 when not known (read back from the map).
    pub digest: u64,
    /// Unix seconds; 0 when not known.
    pub renew_at: u64,
}

impl HeldSignature {
    /// Whether this is the signature of the answer set `id`: the serial the program compares
    /// (whichever place it is in), and the digest that tells two sets with one serial apart.
    pub fn covers(&self, id: AnswerId) -> bool {
        self.serial & !SIGNATURE_SIDE == id.serial && self.digest == id.digest
    }

    /// The place of its key it is kept in: 0 or `SIGNATURE_SIDE`.
    pub fn side(&self) -> u32 {
        self.serial & SIGNATURE_SIDE
    }
}

/// What one answer set's signature needs, collected while the table is walked.
#[derive(Clone)]
pub struct SigningJob<'a> {
    pub key: MapKey,
    pub answer: (&'a AnswerKey, &'a AnswerSet),
    pub id: AnswerId,
    pub signer: Arc<ZoneSigner>,
}

/// Identifies an answer set's content (type, TTL, addresses in canonical order): the RRset a
/// signature covers, whatever order a client gets the addresses in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerId {
    /// What the map entry and its signature carry (32-bit FNV-1a of the content without its
    /// top bit, which names the signature's place, `SIGNATURE_SIDE`; stable across daemons, so
    /// an adopted map's serials stay valid). Never 0 (no signature).
    pub serial: u32,
    /// A 64-bit SipHash of the same content and the owner name, kept by the daemon only: a
    /// changed set whose serial happens to equal the old one's, or another name's set that
    /// takes over its map key (a name-hash collision) with the same content, is still told
    /// apart, and signed anew.
    pub digest: u64,
}

impl AnswerId {
    pub fn of(key: &AnswerKey, set: &AnswerSet) -> AnswerId {
        // Each address's bytes and their count, in one allocation.
        let mut addrs: Vec<([u8; 16], usize)> = set.addrs.iter().map(address_slot).collect();
        addrs.sort_by(|(a, a_len), (b, b_len)| a[..*a_len].cmp(&b[..*b_len]));
        let mut serial: u32 = 0x811c_9dc5;
        let mut digest = std::hash::DefaultHasher::new();
        let mut mix = |bytes: &[u8]| {
            for b in bytes {
                serial = (serial ^ u32::from(*b)).wrapping_mul(0x0100_0193);
            }
            digest.write(bytes);
        };
        mix(&key.qtype.to_be_bytes());
        mix(&set.ttl.to_be_bytes());
        for (addr, len) in &addrs {
            mix(&addr[..*len]);
        }
        // The owner goes into the digest only: the serial stays that of the content.
        digest.write(&key.name);
        AnswerId { serial: (serial & !SIGNATURE_SIDE).max(1), digest: digest.finish() }
    }
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
    let (rrsigs, renew_at) = job.signer.sign_renewable(&rrset, now_unix)?;
    // The program appends one RRSIG; during a rollover (two keys) userspace answers DO=1.
    let [rrsig] = rrsigs.as_slice() else { return Err(failed("the zone has several keys")) };
    let rdata = rrsig.data.to_bytes().map_err(|e| failed(&e.to_string()))?;
    let mut record = Vec::with_capacity(10 + rdata.len());
    record.extend_from_slice(&u16::from(rrsig.record_type()).to_be_bytes());
    record.extend_from_slice(&u16::from(rrsig.dns_class).to_be_bytes());
    record.extend_from_slice(&rrsig.ttl.to_be_bytes());
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    let fresh_for = renew_at.saturating_sub(now_unix).saturating_sub(RENEW_MARGIN_SECS);
    let fresh_until_ns = now_mono_ns.saturating_add(fresh_for.saturating_mul(1_000_000_000));
    let entry = SignatureEntry::new(job.id.serial, fresh_until_ns, &record).ok_or_else(|| failed("RRSIG too long"))?;
    Ok(MapSignature { entry, renew_at, digest: job.id.digest })
}

/// How much lower than the daemon's other threads the signing threads run (nice levels).
const SIGNING_NICENESS: i32 = 5;

/// Signs every job, spread over the cores on threads that yield to the rest of the daemon: a
/// pass that re-signs every answer set takes whole cores for a second or more (a DO=1 query
/// for a set not yet signed goes to userspace meanwhile, which signs it).
pub fn sign_all(jobs: &[SigningJob<'_>], now_unix: u64, now_mono_ns: u64) -> Vec<Result<MapSignature, SignError>> {
    spread::over_cores(jobs, SIGNING_NICENESS, |job| sign(job, now_unix, now_mono_ns))
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use hickory_proto::{
        dnssec::{PublicKey, TBS, rdata::DNSSECRData},
        rr::{DNSClass, RecordType},
        serialize::binary::BinDecoder,
    };
    use switchyard_common::{FirstChoice, QTYPE_A};

    use super::*;
    use crate::{
        answers::wire_name,
        dnssec::{SigningAlgorithm, SigningKeyFile, signer::Timing},
    };

    pub(crate) fn signer(algorithm: SigningAlgorithm) -> Arc<ZoneSigner> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zone.key");
        SigningKeyFile::generate(algorithm).unwrap().write_new(&path).unwrap();
        let file = SigningKeyFile::read(&path).unwrap();
        let days = |d: u64| Duration::from_secs(d * 86_400);
        let timing = Timing { validity: days(14), refresh: days(7), backdate: Duration::from_secs(3600) };
        Arc::new(ZoneSigner::new(&Name::from_ascii("example.com.").unwrap(), &file, &path, timing).unwrap())
    }

    pub(crate) fn www(addrs: &[&str]) -> (AnswerKey, AnswerSet) {
        let name = wire_name(&Name::from_ascii("www.example.com.").unwrap());
        let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        (AnswerKey { view: 0, qtype: QTYPE_A, name }, AnswerSet { ttl: 30, addrs, first: FirstChoice::NONE })
    }

    #[test]
    fn the_identity_follows_the_content_and_the_owner_not_the_order() {
        let (_, ab) = www(&["198.18.10.1", "198.18.20.1"]);
        let (_, ba) = www(&["198.18.20.1", "198.18.10.1"]);
        let (_, b) = www(&["198.18.20.1"]);
        let (key, _) = www(&[]);
        let id = |set: &AnswerSet| AnswerId::of(&key, set);
        assert_eq!(id(&ab), id(&ba));
        assert_ne!(id(&ab).serial, id(&b).serial);
        assert_ne!(id(&ab).digest, id(&b).digest);
        let mut longer = ab.clone();
        longer.ttl = 60;
        assert_ne!(id(&ab).serial, id(&longer).serial);
        assert_ne!(id(&ab).digest, id(&longer).digest);
        assert_ne!(id(&ab).serial, 0);
        let mail = AnswerKey { name: wire_name(&Name::from_ascii("mail.example.com.").unwrap()), ..key.clone() };
        assert_eq!(AnswerId::of(&mail, &ab).serial, id(&ab).serial, "the serial is of the content");
        assert_ne!(AnswerId::of(&mail, &ab).digest, id(&ab).digest, "the digest tells the owners apart");
    }

    #[test]
    fn the_map_record_is_the_rrsig_userspace_serves_and_it_verifies() {
        for algorithm in [SigningAlgorithm::Ecdsap256sha256, SigningAlgorithm::Ed25519] {
            let signer = signer(algorithm);
            let (key, set) = www(&["198.18.10.1", "198.18.20.1"]);
            let id = AnswerId::of(&key, &set);
            let map_key = MapKey::new(0, QTYPE_A, &switchyard_common::PackedName::new(&key.name).unwrap());
            let job = SigningJob { key: map_key, answer: (&key, &set), id, signer: signer.clone() };
            let now = crate::dnssec::signer::unix_now();
            let signed = sign(&job, now, 1_000).unwrap();
            assert_eq!(signed.entry.serial, id.serial);
            assert!(signed.held().covers(id));
            let fresh_secs = (signed.entry.fresh_until_ns - 1_000) / 1_000_000_000;
            assert_eq!(fresh_secs, signed.renew_at - now - RENEW_MARGIN_SECS, "fresh until the margin before renewal");

            // The userspace path, addresses in the other order, signs to the very same record.
            let mut reversed = rrset(&key, &set).unwrap();
            reversed.reverse();
            let served = signer.sign(&reversed).unwrap().remove(0);
            let (bytes, len) = signed.entry.bytes();
            assert_eq!(&bytes[..2], &[0xc0, 0x0c], "owned by the question");
            let mut decoder = BinDecoder::new(&bytes[2..len]);
            let rtype = decoder.read_u16().unwrap().unverified();
            assert_eq!(RecordType::from(rtype), RecordType::RRSIG);
            assert_eq!(&bytes[2 + 10..len], served.data.to_bytes().unwrap().as_slice(), "{algorithm:?}: same rdata");
            let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &served.data else { panic!("an RRSIG") };
            let tbs = TBS::from_input(&reversed[0].name, DNSClass::IN, sig.input(), reversed.iter()).unwrap();
            let key = signer.dnskeys().next().unwrap();
            assert!(key.public_key().verify(tbs.as_ref(), sig.sig()).is_ok(), "{algorithm:?} verifies");
        }
    }
}
