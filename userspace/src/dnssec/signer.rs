//! One signed zone: its key, its DNSKEY/CDS/CDNSKEY records, and RRSIGs over the RRsets it
//! serves, cached per RRset content.

use std::{path::Path, time::Duration};

use hickory_proto::{
    dnssec::{
        Algorithm, DigestType, PublicKey, SigningKey, TBS,
        rdata::{CDNSKEY, CDS, DNSKEY, DNSSECRData, DS, RRSIG, SigInput},
    },
    rr::{Name, RData, Record, RecordType, SerialNumber},
};

use super::{
    DnssecConfig, KeyError, SigningKeyFile,
    cache::SignatureCache,
    signed_data::{canonical_rrset, signed_data},
};

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot sign {name} {rtype}: {problem}")]
    Failed { name: Name, rtype: RecordType, problem: String },
}

/// When signatures start, end and are renewed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub validity: Duration,
    pub refresh: Duration,
    pub backdate: Duration,
}

pub struct ZoneSigner {
    zone: Name,
    key: Box<dyn SigningKey>,
    algorithm: Algorithm,
    key_tag: u16,
    dnskey: DNSKEY,
    timing: Timing,
    cache: SignatureCache,
}

impl ZoneSigner {
    /// The signer `config` describes for `zone`, its key read from the key file.
    pub fn load(zone: &Name, config: &DnssecConfig) -> Result<ZoneSigner, KeyError> {
        let file = SigningKeyFile::read_for(&config.key_file, config.algorithm)?;
        let timing = Timing { validity: config.validity(), refresh: config.refresh(), backdate: config.backdate() };
        ZoneSigner::new(zone, &file, &config.key_file, timing)
    }

    pub fn new(zone: &Name, file: &SigningKeyFile, path: &Path, timing: Timing) -> Result<ZoneSigner, KeyError> {
        let dnskey = file.dnskey(path)?;
        let bad =
            |e: String| KeyError::BadKey { path: path.to_path_buf(), algorithm: file.algorithm.name(), problem: e };
        let key_tag = dnskey.calculate_key_tag().map_err(|e| bad(e.to_string()))?;
        Ok(ZoneSigner {
            zone: zone.to_lowercase(),
            key: file.signing_key(path)?,
            algorithm: file.algorithm.dnssec(),
            key_tag,
            dnskey,
            timing,
            cache: SignatureCache::default(),
        })
    }

    pub fn zone(&self) -> &Name {
        &self.zone
    }

    pub fn key_tag(&self) -> u16 {
        self.key_tag
    }

    pub fn dnskey(&self) -> &DNSKEY {
        &self.dnskey
    }

    /// The DS the parent zone publishes for this key (SHA-256 digest).
    pub fn ds(&self) -> Result<DS, SignError> {
        let digest =
            self.dnskey.to_digest(&self.zone, DigestType::SHA256).map_err(|e| self.failed(RecordType::DS, e))?;
        Ok(DS::new(self.key_tag, self.algorithm, DigestType::SHA256, digest.as_ref().to_vec()))
    }

    /// The records of `rtype` this signer publishes at the apex (DNSKEY, CDS, CDNSKEY), owned
    /// by `owner` (the query name as received).
    pub fn apex_records(&self, rtype: RecordType, owner: &Name, ttl: u32) -> Vec<Record> {
        let rdata = match rtype {
            RecordType::DNSKEY => DNSSECRData::DNSKEY(self.dnskey.clone()),
            RecordType::CDNSKEY => DNSSECRData::CDNSKEY(CDNSKEY::with_flags(
                self.dnskey.flags(),
                Some(self.algorithm),
                self.dnskey.public_key().public_bytes().to_vec(),
            )),
            RecordType::CDS => match self.ds() {
                Ok(ds) => DNSSECRData::CDS(CDS::new(
                    ds.key_tag(),
                    Some(ds.algorithm()),
                    ds.digest_type(),
                    ds.digest().to_vec(),
                )),
                Err(_) => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        vec![Record::from_rdata(owner.clone(), ttl, RData::DNSSEC(rdata))]
    }

    /// The RRSIG over `rrset` (records of one owner and type), from the cache while it has
    /// more than the refresh time left, else made now.
    pub fn sign(&self, rrset: &[Record]) -> Result<Record, SignError> {
        self.sign_at(rrset, unix_now())
    }

    pub fn sign_at(&self, rrset: &[Record], now: u64) -> Result<Record, SignError> {
        self.sign_renewable(rrset, now).map(|(record, _)| record)
    }

    /// Like `sign_at`, with the Unix time from which the signature is made anew: until then
    /// every answer of this RRset, whichever path serves it, carries these very bytes.
    pub fn sign_renewable(&self, rrset: &[Record], now: u64) -> Result<(Record, u64), SignError> {
        let first = &rrset[0];
        let key = cache_key(rrset);
        let (rrsig, renew_at) = match self.cache.get(&key, now) {
            Some(cached) => cached,
            None => {
                let rrsig = self.make(rrset, now)?;
                let expires = u64::from(rrsig.input().sig_expiration.get());
                let renew_at = expires.saturating_sub(self.timing.refresh.as_secs());
                self.cache.put(key, rrsig.clone(), renew_at);
                (rrsig, renew_at)
            }
        };
        let record = Record::from_rdata(first.name.clone(), first.ttl, RData::DNSSEC(DNSSECRData::RRSIG(rrsig)));
        Ok((record, renew_at))
    }

    /// A signature made now, not cached (for answers unique to one query, like denials).
    pub fn sign_uncached(&self, rrset: &[Record]) -> Result<Record, SignError> {
        let rrsig = self.make(rrset, unix_now())?;
        let first = &rrset[0];
        Ok(Record::from_rdata(first.name.clone(), first.ttl, RData::DNSSEC(DNSSECRData::RRSIG(rrsig))))
    }

    /// RRsets signed and cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    fn make(&self, rrset: &[Record], now: u64) -> Result<RRSIG, SignError> {
        let first = &rrset[0];
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: self.algorithm,
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(serial_time(now + self.timing.validity.as_secs())),
            sig_inception: SerialNumber::new(serial_time(now.saturating_sub(self.timing.backdate.as_secs()))),
            key_tag: self.key_tag,
            signer_name: self.zone.clone(),
        };
        let data = signed_data(&first.name, &input, rrset).map_err(|e| self.failed(first.record_type(), e))?;
        let signature = self.key.sign(&TBS::from(data.as_slice())).map_err(|e| self.failed(first.record_type(), e))?;
        Ok(RRSIG::from_sig(input, signature))
    }

    fn failed(&self, rtype: RecordType, e: impl std::fmt::Display) -> SignError {
        SignError::Failed { name: self.zone.clone(), rtype, problem: e.to_string() }
    }
}

/// RRSIG times are seconds modulo 2^32 (RFC 4034 3.1.5).
fn serial_time(unix: u64) -> u32 {
    unix as u32
}

pub fn unix_now() -> u64 {
    (crate::sync::wall_now_ms() / 1000.0) as u64
}

/// The RRset in the canonical form the signature covers (owner lowercase, type, TTL, the
/// records' data sorted): one key per distinct RRset whatever the order the addresses are
/// served in. Empty for an RRset that cannot be signed (nothing is cached for it).
fn cache_key(rrset: &[Record]) -> Vec<u8> {
    let first = &rrset[0];
    let labels = first.name.num_labels();
    canonical_rrset(&first.name, labels, first.record_type(), first.ttl, rrset).unwrap_or_default()
}
