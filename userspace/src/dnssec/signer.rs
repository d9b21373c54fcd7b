//! One signed zone: its keys (one, or several during a rollover), their DNSKEY/CDS/CDNSKEY
//! records, and RRSIGs over the RRsets it serves, cached per RRset content.

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hickory_proto::{
    dnssec::{
        Algorithm, DigestType, PublicKey, SigningKey, TBS,
        rdata::{CDNSKEY, CDS, DNSKEY, DNSSECRData, DS, RRSIG, SigInput},
    },
    rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber},
    serialize::binary::BinEncodable,
};

use super::{
    DnssecConfig, KeyError, SigningAlgorithm, SigningKeyFile,
    cache::{Ahead, Cached, SignatureCache},
    status::SignedAheadStatus,
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

/// One of a zone's keys: what it signs with and how validators know it.
struct ZoneKey {
    key: Box<dyn SigningKey>,
    key_tag: u16,
    dnskey: DNSKEY,
}

pub struct ZoneSigner {
    zone: Name,
    /// The configured algorithm, for status.
    configured: SigningAlgorithm,
    /// One key, or several during a rollover: each is published and signs every RRset.
    keys: Vec<ZoneKey>,
    algorithm: Algorithm,
    timing: Timing,
    cache: SignatureCache,
    /// Signatures made since the signer was loaded, for the metrics.
    made: AtomicU64,
    /// Whether failover answers are signed ahead (`sign_failover_ahead`).
    ahead: bool,
    /// What the last pass signing ahead found for this zone.
    last_ahead: Mutex<Option<SignedAheadStatus>>,
}

/// What signing ahead did with one RRset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedAhead {
    /// Its signatures were made already, and not yet due for renewal.
    Cached,
    Made,
    /// Not signed: the cache is as full as signing ahead may make it.
    NoRoom,
}

impl ZoneSigner {
    /// The signer `config` describes for `zone`, its keys read from the key files.
    pub fn load(zone: &Name, config: &DnssecConfig) -> Result<ZoneSigner, KeyError> {
        let timing = Timing { validity: config.validity(), refresh: config.refresh(), backdate: config.backdate() };
        let paths = config.key_paths();
        let files =
            paths.iter().map(|path| SigningKeyFile::read_for(path, config.algorithm)).collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<(&SigningKeyFile, &Path)> = files.iter().zip(paths.iter().copied()).collect();
        let signer = ZoneSigner::with_keys(zone, &keys, timing)?;
        Ok(ZoneSigner { ahead: config.sign_failover_ahead, ..signer })
    }

    /// A signer with one key.
    pub fn new(zone: &Name, file: &SigningKeyFile, path: &Path, timing: Timing) -> Result<ZoneSigner, KeyError> {
        ZoneSigner::with_keys(zone, &[(file, path)], timing)
    }

    /// A signer with every key of `files` (at least one, all of one algorithm; `path` names
    /// each in errors).
    pub fn with_keys(zone: &Name, files: &[(&SigningKeyFile, &Path)], timing: Timing) -> Result<ZoneSigner, KeyError> {
        let mut keys = Vec::with_capacity(files.len());
        for (file, path) in files {
            let dnskey = file.dnskey(path)?;
            let key_tag = SigningKeyFile::tag_of(&dnskey, path, file.algorithm)?;
            keys.push(ZoneKey { key: file.signing_key(path)?, key_tag, dnskey });
        }
        let configured = match files.first() {
            Some((file, _)) => file.algorithm,
            None => return Err(KeyError::NoKeys),
        };
        Ok(ZoneSigner {
            zone: zone.to_lowercase(),
            configured,
            keys,
            algorithm: configured.dnssec(),
            timing,
            cache: SignatureCache::default(),
            made: AtomicU64::new(0),
            ahead: true,
            last_ahead: Mutex::new(None),
        })
    }

    pub fn zone(&self) -> &Name {
        &self.zone
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.configured
    }

    /// The tags of the zone's keys, in the order configured.
    pub fn key_tags(&self) -> Vec<u16> {
        self.keys.iter().map(|k| k.key_tag).collect()
    }

    /// Whether one key signs (each RRset has one RRSIG), as outside a rollover.
    pub fn has_one_key(&self) -> bool {
        self.keys.len() == 1
    }

    pub fn dnskeys(&self) -> impl Iterator<Item = &DNSKEY> {
        self.keys.iter().map(|k| &k.dnskey)
    }

    /// The DS records the parent zone may publish, one per key (SHA-256 digest).
    pub fn ds_records(&self) -> Result<Vec<DS>, SignError> {
        self.keys.iter().map(|k| self.ds(k)).collect()
    }

    fn ds(&self, key: &ZoneKey) -> Result<DS, SignError> {
        let digest =
            key.dnskey.to_digest(&self.zone, DigestType::SHA256).map_err(|e| self.failed(RecordType::DS, e))?;
        Ok(DS::new(key.key_tag, self.algorithm, DigestType::SHA256, digest.as_ref().to_vec()))
    }

    /// The records of `rtype` this signer publishes at the apex (DNSKEY, CDS, CDNSKEY, one of
    /// each per key), owned by `owner` (the query name as received).
    pub fn apex_records(&self, rtype: RecordType, owner: &Name, ttl: u32) -> Vec<Record> {
        let rdata = |key: &ZoneKey| match rtype {
            RecordType::DNSKEY => Some(DNSSECRData::DNSKEY(key.dnskey.clone())),
            RecordType::CDNSKEY => Some(DNSSECRData::CDNSKEY(CDNSKEY::with_flags(
                key.dnskey.flags(),
                Some(self.algorithm),
                key.dnskey.public_key().public_bytes().to_vec(),
            ))),
            RecordType::CDS => self.ds(key).ok().map(|ds| {
                DNSSECRData::CDS(CDS::new(ds.key_tag(), Some(ds.algorithm()), ds.digest_type(), ds.digest().to_vec()))
            }),
            _ => None,
        };
        let records = self.keys.iter().filter_map(rdata);
        records.map(|data| Record::from_rdata(owner.clone(), ttl, RData::DNSSEC(data))).collect()
    }

    /// The RRSIGs over `rrset` (records of one owner and type), one per key, from the cache
    /// while they have more than the refresh time left, else made now.
    pub fn sign(&self, rrset: &[Record]) -> Result<Vec<Record>, SignError> {
        self.sign_at(rrset, unix_now())
    }

    pub fn sign_at(&self, rrset: &[Record], now: u64) -> Result<Vec<Record>, SignError> {
        self.sign_renewable(rrset, now).map(|(records, _)| records)
    }

    /// Like `sign_at`, with the Unix time from which the signatures are made anew: until then
    /// every answer of this RRset, whichever path serves it, carries these very bytes.
    pub fn sign_renewable(&self, rrset: &[Record], now: u64) -> Result<(Vec<Record>, u64), SignError> {
        let key = cache_key(rrset);
        let (rrsigs, renew_at) = match self.cache.get(&key, now) {
            Some(cached) => (self.rrsigs_of(rrset, &cached), cached.renew_at),
            None => self.make_cached(key, rrset, now)?,
        };
        Ok((self.records(rrset, rrsigs), renew_at))
    }

    /// Signs `rrset` into the cache ahead of its first answer, unless it is there already,
    /// not due for renewal within half the refresh time (a pass after the served sets were
    /// renewed renews what it signed ahead with them), or the cache is as full as signing
    /// ahead may make it.
    pub fn sign_ahead(&self, rrset: &[Record], now: u64) -> Result<SignedAhead, SignError> {
        let key = cache_key(rrset);
        match self.cache.ahead(&key, now + self.timing.refresh.as_secs() / 2) {
            Ahead::Held => Ok(SignedAhead::Cached),
            Ahead::NoRoom => Ok(SignedAhead::NoRoom),
            Ahead::Sign => {
                self.make_cached(key, rrset, now)?;
                Ok(SignedAhead::Made)
            }
        }
    }

    /// Signatures made now and cached under `key`, with their renewal time.
    fn make_cached(&self, key: Vec<u8>, rrset: &[Record], now: u64) -> Result<(Vec<RRSIG>, u64), SignError> {
        let rrsigs = self.make(rrset, now)?;
        let (inception, expiration) = self.window(now);
        let renew_at = u64::from(expiration).saturating_sub(self.timing.refresh.as_secs());
        let length = rrsigs.first().map_or(0, |r| r.sig().len());
        // Kept only when they can be told apart again: one length for all (one algorithm, which
        // the config requires of every key).
        let one_length = rrsigs.iter().all(|r| r.sig().len() == length);
        debug_assert!(one_length, "keys of one zone made signatures of different lengths");
        if one_length {
            let signatures = rrsigs.iter().flat_map(|r| r.sig().iter().copied()).collect();
            self.cache.put(key, Cached { inception, expiration, renew_at, signatures }, now);
        }
        Ok((rrsigs, renew_at))
    }

    /// The RRSIGs over `rrset` that `cached` keeps the signatures of.
    fn rrsigs_of(&self, rrset: &[Record], cached: &Cached) -> Vec<RRSIG> {
        let length = cached.signatures.len() / self.keys.len().max(1);
        let signatures = cached.signatures.chunks_exact(length.max(1));
        let rrsig = |(key, signature): (&ZoneKey, &[u8])| {
            let input = self.input(key, &rrset[0], cached.inception, cached.expiration);
            RRSIG::from_sig(input, signature.to_vec())
        };
        self.keys.iter().zip(signatures).map(rrsig).collect()
    }

    /// Signatures made now, not cached (for answers unique to one query, like denials).
    pub fn sign_uncached(&self, rrset: &[Record]) -> Result<Vec<Record>, SignError> {
        let rrsigs = self.make(rrset, unix_now())?;
        Ok(self.records(rrset, rrsigs))
    }

    /// The RRSIG records of `rrset`, owned and timed like its first record.
    fn records(&self, rrset: &[Record], rrsigs: Vec<RRSIG>) -> Vec<Record> {
        let first = &rrset[0];
        let record =
            |rrsig| Record::from_rdata(first.name.clone(), first.ttl, RData::DNSSEC(DNSSECRData::RRSIG(rrsig)));
        rrsigs.into_iter().map(record).collect()
    }

    /// RRsets signed and cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Whether the answers of a site's failover are signed ahead for this zone.
    pub fn signs_ahead(&self) -> bool {
        self.ahead
    }

    /// Records what a pass signing ahead found for this zone.
    pub fn note_ahead(&self, status: SignedAheadStatus) {
        *self.last_ahead.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
    }

    /// What the last pass signing ahead found for this zone, once one ended.
    pub fn last_ahead(&self) -> Option<SignedAheadStatus> {
        *self.last_ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signatures made since the signer was loaded (one per key and RRset signed).
    pub fn signatures_made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }

    /// One signature per key over `rrset`, made now.
    fn make(&self, rrset: &[Record], now: u64) -> Result<Vec<RRSIG>, SignError> {
        let rrsigs: Vec<RRSIG> =
            self.keys.iter().map(|key| self.make_with(key, rrset, now)).collect::<Result<_, _>>()?;
        self.made.fetch_add(rrsigs.len() as u64, Ordering::Relaxed);
        Ok(rrsigs)
    }

    fn make_with(&self, key: &ZoneKey, rrset: &[Record], now: u64) -> Result<RRSIG, SignError> {
        let first = &rrset[0];
        let (inception, expiration) = self.window(now);
        let input = self.input(key, first, inception, expiration);
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, rrset.iter())
            .map_err(|e| self.failed(first.record_type(), e))?;
        let signature = key.key.sign(&tbs).map_err(|e| self.failed(first.record_type(), e))?;
        Ok(RRSIG::from_sig(input, signature))
    }

    /// Inception and expiration (RRSIG serial times) of signatures made at `now`.
    fn window(&self, now: u64) -> (u32, u32) {
        let inception = serial_time(now.saturating_sub(self.timing.backdate.as_secs()));
        (inception, serial_time(now + self.timing.validity.as_secs()))
    }

    /// What `key`'s RRSIG over the RRset of `first` says besides its signature.
    fn input(&self, key: &ZoneKey, first: &Record, inception: u32, expiration: u32) -> SigInput {
        SigInput {
            type_covered: first.record_type(),
            algorithm: self.algorithm,
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(expiration),
            sig_inception: SerialNumber::new(inception),
            key_tag: key.key_tag,
            signer_name: self.zone.clone(),
        }
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

/// Owner (lowercase), type, TTL and the records' data in canonical order: what the signature
/// covers, so one key per distinct RRset whatever the order the addresses are served in.
fn cache_key(rrset: &[Record]) -> Vec<u8> {
    let first = &rrset[0];
    let mut key = first.name.to_lowercase().to_bytes().unwrap_or_default();
    key.extend_from_slice(&u16::from(first.record_type()).to_be_bytes());
    key.extend_from_slice(&first.ttl.to_be_bytes());
    let mut datas: Vec<Vec<u8>> = rrset.iter().map(|r| r.data.to_bytes().unwrap_or_default()).collect();
    datas.sort();
    for data in datas {
        key.extend_from_slice(&(data.len() as u16).to_be_bytes());
        key.extend_from_slice(&data);
    }
    key
}
