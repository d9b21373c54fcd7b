//! Mirrors the answer table into the XDP answer table, touching only entries that changed.
//!
//! Each slot is written in place under its sequence number (see `answer_slots`): a program
//! that read a slot while it changed drops the reply it made from it, so no client gets a mix
//! of two answer sets.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use aya::maps::{HashMap as BpfHashMap, MapData, MapError};

use super::answer_slots::AnswerSlots;
use switchyard_common::{DEFAULT_VIEW, MAX_ADDRS, MapEntry, MapKey, PackedName, SignatureEntry, signature_place};

use crate::{
    answers::{self, AnswerTable},
    bpf::{
        answer_map::entry_name,
        batch_update,
        datapath::AnswerMaps,
        presign::PresignJob,
        signature_places::SignaturePlaces,
        signatures::{self, AnswerId, HeldSignature, MapSignature, RENEW_MARGIN_SECS, SigningJob},
        stamp::monotonic_ns,
    },
    dnssec::{ZoneSigner, signer::unix_now},
};

/// A signed zone's name (answer-table form) and its signer, if its key could be loaded.
pub type ZoneSigners = (Vec<u8>, Option<Arc<ZoneSigner>>);

/// The signature map as the writer takes it.
pub type SignatureMap<'a> = BpfHashMap<&'a mut MapData, MapKey, SignatureEntry>;

/// What one rewrite did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    pub written: usize,
    pub removed: usize,
    /// Entries left alone because an operator set them by hand.
    pub overrides_kept: usize,
    /// Entries the fast path cannot hold (too many addresses, name too long, a name whose key
    /// another name already has, no free slot near its home slot): userspace serves them.
    pub userspace_only: usize,
    /// Answer sets of signed zones signed anew (a new answer set, or a signature due for
    /// renewal); the others kept their signature.
    pub signed: usize,
    /// Of those, the ones signed ahead on the blocking pool (`presign`) rather than by the
    /// write itself.
    pub signed_ahead: usize,
    /// Answer sets of signed zones left without a signature in the map (signing failed): a
    /// DO=1 query for them goes to userspace.
    pub unsigned: usize,
    /// Time taken; the first write of a plan counts working it out too.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// The XDP map's view of one table entry, or `None` when only userspace can serve it.
pub fn to_map_entry(key: &answers::AnswerKey, set: &answers::AnswerSet) -> Option<(MapKey, MapEntry)> {
    let name = PackedName::new(&key.name)?;
    let map_key = MapKey::new(key.view, key.qtype, &name);
    if set.addrs.len() > MAX_ADDRS && key.view != DEFAULT_VIEW {
        // An empty set makes XDP pass the query rather than fall back to the default view,
        // so userspace answers with this view's own addresses.
        return Some((map_key, MapEntry::new(key.qtype, set.ttl, &name, &[])));
    }
    if set.addrs.is_empty() || set.addrs.len() > MAX_ADDRS {
        return None;
    }
    let addrs: Vec<[u8; 16]> = set.addrs.iter().map(|a| answers::address_slot(a).0).collect();
    let mut entry = MapEntry::new(key.qtype, set.ttl, &name, &addrs);
    entry.set_first(set.first);
    Some((map_key, entry))
}

/// Remembers what it wrote so that the next table only costs its differences.
#[derive(Default)]
pub struct MapWriter {
    written: HashMap<MapKey, MapEntry>,
    /// Keys two names were found to share, each logged once.
    warned_collisions: HashSet<MapKey>,
    /// The zones whose answers are signed (answer-table form of the name) and their signers;
    /// `None` for a zone whose key could not be loaded (userspace answers its DO=1 queries).
    signers: Vec<ZoneSigners>,
    /// The signatures in the map and their places, to keep each while it is of its set, to
    /// renew them before the program stops serving them, and to put each new one where the
    /// program is not reading.
    signatures: SignaturePlaces,
    /// Set when a signer changed: every answer set is signed anew by its zone's current key.
    resign_all: bool,
    /// Signatures made ahead of the next write by the current signers (`presign`), taken by it
    /// when they are of the answer set it writes and not yet due for renewal.
    presigned: HashMap<answers::AnswerKey, MapSignature>,
    /// Set when a signed write failed part of the way: the signature map may hold signatures
    /// `signatures` does not know (a replaced key's among them), so until the next signed write
    /// reads it again no entry names one.
    reread_signatures: bool,
}

impl MapWriter {
    /// Takes what `map` holds (an earlier daemon's entries) as written, so that the next write
    /// costs only the differences and removes what the table no longer has.
    pub fn adopt(&mut self, map: &mut AnswerSlots) -> usize {
        map.reread();
        self.written = map.entries();
        self.written.len()
    }

    /// Takes the signatures `map` holds (an earlier daemon's) as written but due for renewal:
    /// the next write signs each answer set anew and removes what the table no longer has.
    /// What they cover (and by which key) is not known, digest 0: until then none is kept for a
    /// set or named by its entry. Which of a key's two places its entry names is read from the
    /// answers this writer holds as written (`adopt` first).
    pub fn adopt_signatures(&mut self, map: &SignatureMap<'_>) -> Result<usize, MapError> {
        self.signatures.clear();
        self.signatures = SignaturePlaces::adopt(map, &self.written)?;
        Ok(self.signatures.keys_signed())
    }

    /// Entries under these zones (answer-table form of the name) are signed by their signer
    /// from the next write on.
    pub fn set_signers(&mut self, signers: Vec<ZoneSigners>) {
        let same = |a: &ZoneSigners, b: &ZoneSigners| {
            a.0 == b.0
                && match (&a.1, &b.1) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (a, b) => a.is_none() && b.is_none(),
                }
        };
        let changed =
            signers.len() != self.signers.len() || signers.iter().zip(&self.signers).any(|(a, b)| !same(a, b));
        self.resign_all |= changed;
        if changed {
            self.presigned.clear();
            // Beyond the next pass too: a former signature left in the other place is not
            // taken back for a set that changes back to it.
            self.signatures.forget_contents();
        }
        self.signers = signers;
    }

    /// Signatures made ahead by the current signers (`presign`) for the next write to take.
    pub fn use_presigned(&mut self, signed: Vec<(answers::AnswerKey, MapSignature)>) {
        self.presigned = signed.into_iter().collect();
    }

    /// Whether a signature in the map is near the time the program stops serving it: a write
    /// now renews it.
    pub fn renewal_due(&self) -> bool {
        self.signatures.any_renewed_by(unix_now() + 2 * RENEW_MARGIN_SECS)
    }

    /// Writes `table` without touching the signature map: an answer set keeps the signature it
    /// has while that is still of its set (the program itself stops serving it when it is no
    /// longer fresh), the others go without one (their DO=1 queries go to userspace). The
    /// daemon writes a pass's answers this way before their signatures are made, so that a
    /// change of sites reaches the program without waiting for the signing.
    pub fn write(&mut self, map: &mut AnswerSlots, table: &AnswerTable) -> Result<WriteStats, MapError> {
        self.write_with_overrides(map, None, table, &HashSet::new())
    }

    /// Writes `table` with the signature of every answer set in a signed zone.
    pub fn write_signed(&mut self, maps: &mut AnswerMaps<'_>, table: &AnswerTable) -> Result<WriteStats, MapError> {
        self.write_with_overrides(maps.answers, Some(&mut maps.signatures), table, &HashSet::new())
    }

    /// Like `write`, with the entries under `overrides` written as operator overrides
    /// (`is_override = 1`), and with signatures when `signatures` is given (`write_planned`).
    pub fn write_with_overrides(
        &mut self,
        map: &mut AnswerSlots,
        signatures: Option<&mut SignatureMap<'_>>,
        table: &AnswerTable,
        overrides: &HashSet<answers::AnswerKey>,
    ) -> Result<WriteStats, MapError> {
        let mut plan = self.plan(table, overrides);
        self.write_planned(map, signatures, &mut plan)
    }

    /// What `table` makes of the maps, with the entries under `overrides` written as operator
    /// overrides. A pass that writes its answers ahead of their signatures and then signed
    /// works this out once, for both writes.
    pub fn plan<'t>(&mut self, table: &'t AnswerTable, overrides: &HashSet<answers::AnswerKey>) -> WritePlan<'t> {
        let started = Instant::now();
        let mut found = WriteStats::default();
        let (wanted, jobs) = self.wanted(table, overrides, &mut found);
        // Counted in the first write of the plan.
        found.elapsed = started.elapsed();
        WritePlan { wanted, jobs, found }
    }

    /// Makes the answer map hold what `plan` wants, and with `signatures` given the signature
    /// map the signature of every answer set in a signed zone; without, the answers are written
    /// as `write` does. What this writer wrote or adopted is its own to replace or remove (the
    /// daemon is the map's only writer: overrides come to it through the admin socket); a key
    /// it has not written is looked up first, and left alone if something else put an override
    /// there. The signatures go to `signatures` before the answers they sign, and leave it
    /// after them, so that the program finds every answer set's signature while it serves it.
    pub fn write_planned(
        &mut self,
        map: &mut AnswerSlots,
        mut signatures: Option<&mut SignatureMap<'_>>,
        plan: &mut WritePlan<'_>,
    ) -> Result<WriteStats, MapError> {
        if let Some(signature_map) = signatures.as_deref_mut().filter(|_| self.reread_signatures) {
            self.adopt_signatures(signature_map)?;
            self.reread_signatures = false;
        }
        let signed = signatures.is_some();
        let written = self.write_once(map, signatures, plan);
        if written.is_err() && signed {
            // What reached the signature map is unknown, and the held signatures this write
            // took for its sets may be a replaced key's: all are made anew after a re-read.
            self.resign_all = true;
            self.reread_signatures = true;
        }
        written
    }

    fn write_once(
        &mut self,
        map: &mut AnswerSlots,
        signatures: Option<&mut SignatureMap<'_>>,
        plan: &mut WritePlan<'_>,
    ) -> Result<WriteStats, MapError> {
        let started = Instant::now();
        // The plan's own time counts in its first write only.
        let mut stats = WriteStats { elapsed: std::mem::take(&mut plan.found.elapsed), ..plan.found };
        let mut signature_map = signatures;
        let wanted_signatures = match signature_map.as_deref_mut() {
            Some(signature_map) => {
                // Room first: the places of sets that left the table and whose entries left the
                // answer map already (an answers-first write took them out) are read by no
                // program, so new signatures may take their elements at once.
                for place in
                    self.signatures.release(|key| !plan.jobs.contains_key(key) && !self.written.contains_key(key))
                {
                    remove_place(signature_map, &place)?;
                }
                let signed = self.sign(signature_map, &plan.jobs, &mut plan.wanted, &mut stats)?;
                Some(signed)
            }
            None => {
                self.keep_held_signatures(&plan.jobs, &mut plan.wanted, &mut stats);
                None
            }
        };
        self.write_answers(map, &plan.wanted, &mut stats);
        if let Some(signature_map) = signature_map {
            // Removed after the answers that named them: an element removed now is used again
            // by the next write's first new signatures, long after a program read it.
            for place in self.signatures.replace(wanted_signatures.unwrap_or_default()) {
                remove_place(signature_map, &place)?;
            }
        }
        stats.elapsed += started.elapsed();
        Ok(stats)
    }

    /// The map entries `table` makes, and a signing job for each one in a signed zone.
    fn wanted<'t>(
        &mut self,
        table: &'t AnswerTable,
        overrides: &HashSet<answers::AnswerKey>,
        stats: &mut WriteStats,
    ) -> (HashMap<MapKey, MapEntry>, HashMap<MapKey, SigningJob<'t>>) {
        let mut wanted: HashMap<MapKey, MapEntry> = HashMap::with_capacity(table.entries.len());
        let mut jobs = HashMap::new();
        for (key, set) in &table.entries {
            let Some((k, mut v)) = to_map_entry(key, set) else {
                stats.userspace_only += 1;
                continue;
            };
            v.is_override = u8::from(overrides.contains(key));
            let zone = self.zone_of(&key.name);
            v.signed = u8::from(zone.is_some());
            let signer = zone.and_then(map_signer);
            if zone.is_some_and(|z| z.1.is_some() && signer.is_none()) && v.count > 0 {
                stats.unsigned += 1;
            }
            let job = signer.filter(|_| v.count > 0).map(|signer| SigningJob {
                key: k,
                answer: (key, set),
                id: AnswerId::of(key, set),
                signer: signer.clone(),
            });
            let name = v.name_words();
            match keep_lower_name(&mut wanted, k, v) {
                None => {
                    jobs.remove(&k);
                    jobs.extend(job.map(|j| (k, j)));
                }
                Some(left_out) => {
                    stats.userspace_only += 1;
                    if left_out.name_words() != name {
                        // The new name took the key from the one held.
                        jobs.remove(&k);
                        jobs.extend(job.map(|j| (k, j)));
                    }
                    if self.warned_collisions.insert(k) {
                        tracing::warn!(
                            kept = %entry_name(&k, &wanted[&k]),
                            left_to_userspace = %entry_name(&k, &left_out),
                            qtype = key.qtype,
                            view = key.view,
                            "two names share an answer-map key"
                        );
                    }
                }
            }
        }
        (wanted, jobs)
    }

    /// The signature of every job: the one in the map while it is of the same answer set and
    /// not due for renewal, else one made ahead (`use_presigned`) or made now, which is
    /// written to `signature_map`. Names each signed entry's signature in `wanted` (0 for a set
    /// left unsigned). Returns the signatures the map holds for the jobs.
    fn sign(
        &mut self,
        signature_map: &mut SignatureMap<'_>,
        jobs: &HashMap<MapKey, SigningJob<'_>>,
        wanted: &mut HashMap<MapKey, MapEntry>,
        stats: &mut WriteStats,
    ) -> Result<HashMap<MapKey, HeldSignature>, MapError> {
        let now = unix_now();
        let resign_all = std::mem::take(&mut self.resign_all);
        let mut signed = HashMap::with_capacity(jobs.len());
        let mut made = batch_update::Chunked::default();
        let mut to_sign = Vec::new();
        let mut presigned = std::mem::take(&mut self.presigned);
        for (key, job) in jobs {
            let signature = if let Some(held) = self.held_signature(key, job.id, now, resign_all) {
                held
            } else if let Some(ahead) = presigned.remove(job.answer.0).filter(|s| not_due(&s.held(), job.id, now)) {
                stats.signed += 1;
                stats.signed_ahead += 1;
                self.place(&mut made, signature_map, key, ahead)?
            } else {
                to_sign.push(job.clone());
                continue;
            };
            signed.insert(*key, signature);
            name_signature(wanted, key, signature.serial);
        }
        let results = signatures::sign_all(&to_sign, now, monotonic_ns());
        for (job, result) in to_sign.iter().zip(results) {
            match result {
                Ok(signature) => {
                    let held = self.place(&mut made, signature_map, &job.key, signature)?;
                    signed.insert(job.key, held);
                    name_signature(wanted, &job.key, held.serial);
                    stats.signed += 1;
                }
                Err(e) => {
                    name_signature(wanted, &job.key, 0);
                    stats.unsigned += 1;
                    tracing::warn!(error = %e, "answer set not signed: DO=1 queries for it go to userspace");
                }
            }
        }
        made.flush(signature_map)?;
        Ok(signed)
    }

    /// Adds `signature` to the write in a place of `key` the program is not reading.
    fn place(
        &self,
        made: &mut batch_update::Chunked<MapKey, SignatureEntry>,
        signature_map: &SignatureMap<'_>,
        key: &MapKey,
        signature: MapSignature,
    ) -> Result<HeldSignature, MapError> {
        let named = self.written.get(key).map_or(0, |entry| entry.signature);
        let placed = signature.on_side(self.signatures.side_for_new(key, named));
        made.push(signature_map, signature_place(key, placed.entry.serial), placed.entry)?;
        Ok(placed.held())
    }

    /// The signature in the map (in either place) for the answer set `id` under `key`, while it
    /// is not due for renewal and the signer is the one that made it (a new signer makes every
    /// one in the map unknown: `forget_contents`).
    fn held_signature(&self, key: &MapKey, id: AnswerId, now: u64, resign_all: bool) -> Option<HeldSignature> {
        self.signatures.kept(key, |held| !resign_all && not_due(held, id, now))
    }

    /// Names in each job's entry the signature of its set (`write`): the one in the map while
    /// it is the set's own (the current one, also when due for renewal: the program serves it
    /// while fresh; or the other place's, which the signed write keeps), else the empty place
    /// the signed write will fill (`SignaturePlaces::name_ahead`), so that write need not
    /// write the entry again; none (0) while the signature map is not known after a failed
    /// signed write.
    fn keep_held_signatures(
        &self,
        jobs: &HashMap<MapKey, SigningJob<'_>>,
        wanted: &mut HashMap<MapKey, MapEntry>,
        stats: &mut WriteStats,
    ) {
        let now = unix_now();
        for (key, job) in jobs {
            let own = self.signatures.current(key).filter(|held| held.covers(job.id) && !self.resign_all);
            let own = own.copied().or_else(|| self.held_signature(key, job.id, now, self.resign_all));
            if own.is_none() {
                stats.unsigned += 1;
            }
            let named = match own {
                _ if self.reread_signatures => 0,
                Some(held) => held.serial,
                None => self.signatures.name_ahead(key, job.id),
            };
            name_signature(wanted, key, named);
        }
    }

    /// The signed zone `name` (answer-table form) is in, if any.
    fn zone_of(&self, name: &[u8]) -> Option<&ZoneSigners> {
        closest_zone(name, &self.signers)
    }

    /// The answer sets of `plan` the signed write signs anew (new content, a signature due for
    /// renewal, or a new signer), with their signers: owned, to be signed ahead on another
    /// thread (`presign`).
    pub fn due_for_signing(&self, plan: &WritePlan<'_>) -> Vec<PresignJob> {
        let now = unix_now();
        let due =
            plan.jobs.values().filter(|job| self.held_signature(&job.key, job.id, now, self.resign_all).is_none());
        due.map(|job| PresignJob {
            map_key: job.key,
            key: job.answer.0.clone(),
            set: job.answer.1.clone(),
            id: job.id,
            signer: job.signer.clone(),
        })
        .collect()
    }

    /// Removes the entries `wanted` no longer has, then writes those that changed (removals
    /// first, so that their slots are free for the new keys), and records both in `written`.
    /// A key something else put an override under is left alone, and not recorded, so that
    /// the next write looks again; so is a key the table has no free slot for (userspace
    /// answers it). A view's set left out so withholds the default view's set of its name and
    /// type too: the program would answer that view's clients with it.
    fn write_answers(&mut self, map: &mut AnswerSlots, wanted: &HashMap<MapKey, MapEntry>, stats: &mut WriteStats) {
        let gone: Vec<MapKey> = self.written.keys().filter(|k| !wanted.contains_key(*k)).copied().collect();
        for key in gone {
            map.remove(&key);
            stats.removed += 1;
            self.written.remove(&key);
        }
        // The views' own sets first, so that the default view's know which to withhold.
        let of_views = |views: bool| wanted.iter().filter(move |(key, _)| (key.view != DEFAULT_VIEW) == views);
        let mut left_out = HashSet::new();
        for (key, value) in of_views(true).chain(of_views(false)) {
            let name_and_type = (key.qtype, key.name_len, key.name_hash);
            if key.view == DEFAULT_VIEW && left_out.contains(&name_and_type) {
                if self.written.remove(key).is_some() {
                    map.remove(key);
                    stats.removed += 1;
                }
                stats.userspace_only += 1;
                continue;
            }
            let before = self.written.get(key);
            if before == Some(value) {
                continue;
            }
            if value.is_override == 0 && before.is_none() && is_override(map, key) {
                stats.overrides_kept += 1;
                continue;
            }
            if !map.insert(*key, value) {
                stats.userspace_only += 1;
                if key.view != DEFAULT_VIEW {
                    left_out.insert(name_and_type);
                }
                continue;
            }
            self.written.insert(*key, *value);
            stats.written += 1;
        }
    }
}

/// What a table makes of the maps (`MapWriter::plan`): each answer-map entry, and a signing
/// job for each entry in a signed zone.
pub struct WritePlan<'t> {
    wanted: HashMap<MapKey, MapEntry>,
    jobs: HashMap<MapKey, SigningJob<'t>>,
    /// What working it out found: entries only userspace can serve, sets of zones whose
    /// signer cannot sign for the map, and the time it took (until a write counts it).
    found: WriteStats,
}

/// Removes a signature's place from the map (one already gone is fine).
fn remove_place(signature_map: &mut SignatureMap<'_>, place: &MapKey) -> Result<(), MapError> {
    match signature_map.remove(place) {
        Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Points the entry under `key` (if wanted) at the signature with `serial` (0: none).
fn name_signature(wanted: &mut HashMap<MapKey, MapEntry>, key: &MapKey, serial: u32) {
    if let Some(entry) = wanted.get_mut(key) {
        entry.signature = serial;
    }
}

/// Puts `value` under `key` unless a lower name holds the key already, and returns the set left
/// out, if any. Two names with one hash: the XDP program answers only the name its entry holds
/// and passes the other to userspace; the lower name keeps the entry, so the choice does not
/// depend on the order the table is walked in.
fn keep_lower_name(wanted: &mut HashMap<MapKey, MapEntry>, key: MapKey, value: MapEntry) -> Option<MapEntry> {
    match wanted.get_mut(&key) {
        None => {
            wanted.insert(key, value);
            None
        }
        Some(held) if held.name_words() <= value.name_words() => Some(value),
        Some(held) => Some(std::mem::replace(held, value)),
    }
}

/// Of `zones` (wire-form names and what goes with them), the closest that `name` is in: a
/// zone inside another one takes its own names.
fn closest_zone<'z, T>(name: &[u8], zones: &'z [(Vec<u8>, T)]) -> Option<&'z (Vec<u8>, T)> {
    zones.iter().filter(|(zone, _)| in_zone(name, zone)).max_by_key(|(zone, _)| zone.len())
}

/// Whether the wire-form `name` is `zone` or below it (compared label by label).
pub(crate) fn in_zone(name: &[u8], zone: &[u8]) -> bool {
    let mut at = 0;
    while at < name.len() {
        if name[at..] == *zone {
            return true;
        }
        at += usize::from(name[at]) + 1;
    }
    false
}

/// Whether `signature` is of the answer set `id` and not yet due for renewal at `now`.
fn not_due(signature: &HeldSignature, id: AnswerId, now: u64) -> bool {
    signature.covers(id) && signature.renew_at > now + 2 * RENEW_MARGIN_SECS
}

fn is_override(map: &AnswerSlots, key: &MapKey) -> bool {
    map.get(key).is_some_and(|v| v.is_override != 0)
}

/// The signer whose signatures go into the map for a zone: its loaded signer with one key.
/// During a rollover each answer set has an RRSIG per key, more than the program appends, so
/// the map gets none and userspace answers DO=1 queries.
fn map_signer(zone: &ZoneSigners) -> Option<&Arc<ZoneSigner>> {
    zone.1.as_ref().filter(|signer| signer.has_one_key())
}

#[cfg(test)]
mod tests {
    use switchyard_common::SIGNATURE_SIDE;

    use super::*;

    #[test]
    fn names_are_in_a_zone_only_on_label_boundaries() {
        let zone = b"\x07example\x03com\x00";
        assert!(in_zone(b"\x07example\x03com\x00", zone));
        assert!(in_zone(b"\x03www\x07example\x03com\x00", zone));
        assert!(!in_zone(b"\x0athe-sample\x03com\x00", zone));
        assert!(!in_zone(b"\x03www\x08xexample\x03com\x00", zone));
        assert!(!in_zone(b"\x03com\x00", zone));
        let zones = [(zone.to_vec(), "outer"), (b"\x02eu\x07example\x03com\x00".to_vec(), "inner")];
        let of = |name: &[u8]| closest_zone(name, &zones).map(|(_, which)| *which);
        assert_eq!(of(b"\x03www\x02eu\x07example\x03com\x00"), Some("inner"));
        assert_eq!(of(b"\x03www\x07example\x03com\x00"), Some("outer"));
        assert_eq!(of(b"\x03www\x07example\x03org\x00"), None);
    }

    /// A signature the writer holds with the serial of a set but made over other content (as
    /// when the 32-bit serials of the old and the new set collide) is neither kept for the set
    /// nor named by its entry; the set's own one is both.
    #[test]
    fn a_held_signature_of_other_content_with_the_same_serial_is_neither_kept_nor_named() {
        let signer = signatures::tests::signer(crate::dnssec::SigningAlgorithm::Ecdsap256sha256);
        let (key, set) = signatures::tests::www(&["198.18.10.1"]);
        let table = AnswerTable { entries: HashMap::from([(key.clone(), set.clone())]) };
        let mut writer = MapWriter::default();
        writer.set_signers(vec![(b"\x07example\x03com\x00".to_vec(), Some(signer.clone()))]);
        writer.resign_all = false;
        let (map_key, _) = to_map_entry(&key, &set).unwrap();
        let id = AnswerId::of(&key, &set);
        let job = SigningJob { key: map_key, answer: (&key, &set), id, signer };
        let own = signatures::sign(&job, unix_now(), 0).unwrap();
        let named = |writer: &mut MapWriter| {
            let mut stats = WriteStats::default();
            let (mut wanted, jobs) = writer.wanted(&table, &HashSet::new(), &mut stats);
            writer.keep_held_signatures(&jobs, &mut wanted, &mut stats);
            wanted[&map_key].signature
        };

        let due = |writer: &mut MapWriter| {
            let plan = writer.plan(&table, &HashSet::new());
            writer.due_for_signing(&plan).len()
        };
        let other = MapSignature { digest: own.digest ^ 1, ..own };
        writer.signatures.set_current(map_key, other.held());
        assert_eq!(due(&mut writer), 1, "signed anew, not kept");
        let ahead = named(&mut writer);
        assert_ne!(
            signature_place(&map_key, ahead),
            signature_place(&map_key, other.held().serial),
            "not pointed at it"
        );
        assert_eq!(ahead, id.serial | SIGNATURE_SIDE, "but at the other, empty place");

        writer.signatures.set_current(map_key, own.held());
        assert_eq!(due(&mut writer), 0, "its own signature is kept");
        assert_eq!(named(&mut writer), id.serial);
    }

    #[test]
    fn of_two_names_under_one_key_the_lower_keeps_it_in_either_order() {
        let a = PackedName::new(b"\x01a\x07example\x00").unwrap();
        let b = PackedName::new(b"\x01b\x07example\x00").unwrap();
        // A forged key standing for both names, as a 64-bit hash collision would.
        let key = MapKey { view: 0, qtype: 1, name_len: a.len, name_hash: 42 };
        let set =
            |name: &PackedName| MapEntry::new(1, 30, name, &[[198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]);
        for (first, second) in [(&a, &b), (&b, &a)] {
            let mut wanted = HashMap::new();
            assert!(keep_lower_name(&mut wanted, key, set(first)).is_none());
            let left_out = keep_lower_name(&mut wanted, key, set(second)).expect("one name is left out");
            assert_eq!(wanted[&key].name_words(), a.words, "the lower name keeps the entry");
            assert_eq!(left_out.name_words(), b.words);
            assert_eq!(entry_name(&key, &left_out), "b.example.");
        }
    }
}
