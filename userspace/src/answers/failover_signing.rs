//! Failover answers signed ahead. A site's failure changes the answer sets of every service
//! it serves, and in a signed zone every changed set needs a new signature: for 100,000 of
//! them, seconds of every core. While the sites are steady, the sets that one site's change of
//! availability (a failure, a recovery, a drain) would give are signed into the zone signers'
//! caches on threads of the lowest priority, so that when it happens the map write finds
//! their signatures made and the program serves signed answers for the new sites as soon as
//! they are written. Signature order does not depend on address order, so the sets that only
//! load or response time reorder need nothing new.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use hickory_proto::rr::Record;
use tracing::info;

use super::{AnswerKey, AnswerTable, Served, Views, Zones};
use crate::{
    bpf::signatures::{self, AnswerId},
    dnssec::{
        ZoneSigner,
        signer::{SignError, SignedAhead, unix_now},
        spread,
        status::SignedAheadStatus,
    },
    policy::Policy,
    site::SiteMap,
};

/// Signing ahead runs only on what the rest of the daemon leaves of the cores.
const AHEAD_NICENESS: i32 = 19;

/// What a pass foresees from: the controller's policy as it stands and the answers served.
pub struct Foresight {
    pub policy: Policy,
    /// The site states the policy saw for the served answers (after drains and weights).
    pub effective: SiteMap,
    pub views: Arc<Views>,
    pub served: Arc<Served>,
    /// Keys an operator overrides: their answers do not follow the sites.
    pub overrides: HashSet<AnswerKey>,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassReport {
    /// Site changes foreseen: one per site.
    pub changes: usize,
    /// Answer sets of signed zones they would give that are not served now.
    pub sets: usize,
    /// Of those, signed now, and found signed already.
    pub made: usize,
    pub cached: usize,
    /// Left unsigned because the signature cache was as full as signing ahead may make it.
    pub no_room: usize,
    pub failed: usize,
    /// Stopped before the end (a map write needed the cores).
    pub stopped: bool,
}

/// One RRset to sign ahead, and its zone's signer.
struct Job {
    signer: Arc<ZoneSigner>,
    rrset: Vec<Record>,
}

/// The signers of the zones that sign failover answers ahead.
pub fn ahead_signers(zones: &Zones) -> impl Iterator<Item = &Arc<ZoneSigner>> {
    zones.zones.iter().filter_map(|zone| zone.signing.signer()).filter(|signer| signer.signs_ahead())
}

/// Each site's availability: what a pass foresees from.
pub fn availability(states: &SiteMap) -> Vec<(String, bool)> {
    states.iter().map(|(name, state)| (name.clone(), state.available)).collect()
}

/// Signs ahead every answer set of a signed zone that one site's change of availability would
/// give, until done or `stop` is set.
pub fn sign_ahead(foresight: &Foresight, stop: &AtomicBool) -> PassReport {
    let mut report = PassReport { changes: foresight.effective.len(), ..PassReport::default() };
    let jobs = foreseen(foresight, stop);
    let now = unix_now();
    let outcomes = spread::over_cores(&jobs, AHEAD_NICENESS, |job| {
        (!stop.load(Ordering::Relaxed)).then(|| job.signer.sign_ahead(&job.rrset, now))
    });
    // Per zone as well, for its status.
    let mut zones: Vec<(&Arc<ZoneSigner>, PassReport)> =
        ahead_signers(&foresight.served.zones).map(|signer| (signer, PassReport::default())).collect();
    for (job, outcome) in jobs.iter().zip(&outcomes) {
        report.count(outcome);
        if let Some((_, zone)) = zones.iter_mut().find(|(signer, _)| Arc::ptr_eq(signer, &job.signer)) {
            zone.count(outcome);
        }
    }
    // Also when stopped before any set was found.
    report.stopped |= stop.load(Ordering::Relaxed);
    let at = unix_now();
    for (signer, zone) in zones {
        let ready = zone.made + zone.cached;
        signer.note_ahead(SignedAheadStatus {
            at,
            sets: zone.sets,
            ready,
            no_room: zone.no_room,
            stopped: report.stopped,
        });
    }
    report
}

impl PassReport {
    /// Counts one set and what became of it (`None`: left when the pass was stopped).
    fn count(&mut self, outcome: &Option<Result<SignedAhead, SignError>>) {
        self.sets += 1;
        match outcome {
            None => self.stopped = true,
            Some(Ok(SignedAhead::Made)) => self.made += 1,
            Some(Ok(SignedAhead::Cached)) => self.cached += 1,
            Some(Ok(SignedAhead::NoRoom)) => self.no_room += 1,
            Some(Err(_)) => self.failed += 1,
        }
    }
}

/// The RRsets of signed zones that the policy would answer with if any one site changed
/// availability, and that the served table does not have (each once); fewer once `stop` is
/// set.
fn foreseen(foresight: &Foresight, stop: &AtomicBool) -> Vec<Job> {
    if ahead_signers(&foresight.served.zones).next().is_none() {
        return Vec::new();
    }
    let zones = &foresight.served.zones;
    let served = &foresight.served.table;
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for site in foresight.effective.keys() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut changed = foresight.effective.clone();
        if let Some(state) = changed.get_mut(site) {
            state.available = !state.available;
        }
        // A copy, so that the hysteresis of the served policy is not moved by what-ifs.
        let decisions = foresight.policy.clone().evaluate(&changed);
        let table = AnswerTable::from_policy(&decisions, &foresight.views);
        for (key, set) in &table.entries {
            if foresight.overrides.contains(key) {
                continue;
            }
            let id = AnswerId::of(key, set);
            if served.entries.get(key).is_some_and(|now| AnswerId::of(key, now) == id) {
                continue;
            }
            // The zone the name is in, which may have no key or not sign ahead.
            let zone_signer = zones.zone_of_wire(&key.name).and_then(|zone| zone.signing.signer());
            let Some(signer) = zone_signer.filter(|signer| signer.signs_ahead()) else { continue };
            let Some(rrset) = signatures::rrset(key, set).filter(|r| !r.is_empty()) else { continue };
            if seen.insert((id.serial, id.digest)) {
                jobs.push(Job { signer: signer.clone(), rrset });
            }
        }
    }
    jobs
}

/// The controller's side: at most one pass at a time, started when what it foresees from
/// changed, stopped when a map write signs.
#[derive(Default)]
pub struct FailoverSigning {
    /// Set to stop the pass under way.
    running: Option<Arc<AtomicBool>>,
    /// The site availability the last pass foresaw from; `None` to make the next one due.
    foreseen_from: Option<Vec<(String, bool)>>,
    /// Passes started, for the tests.
    pub(super) started: Arc<AtomicU64>,
}

impl FailoverSigning {
    /// Whether a pass is due for these effective site states.
    pub fn due(&self, effective: &SiteMap) -> bool {
        self.foreseen_from.as_ref() != Some(&availability(effective))
    }

    /// Makes the next pass due whatever the sites (the answers or signers changed otherwise).
    pub fn forget(&mut self) {
        self.foreseen_from = None;
    }

    /// Stops the pass under way, if any: what it signed stays cached.
    pub fn stop(&mut self) {
        if let Some(stop) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
        }
    }

    /// Starts a pass on a thread of its own at the lowest priority, the working out of the
    /// sets as well as their signing (the previous pass stopped).
    pub fn start(&mut self, foresight: Foresight) {
        self.stop();
        let from = availability(&foresight.effective);
        let stop = Arc::new(AtomicBool::new(false));
        let running = stop.clone();
        let pass = std::thread::Builder::new().name("sign-ahead".into()).spawn(move || {
            spread::lower_this_threads_priority(AHEAD_NICENESS);
            let started = Instant::now();
            let report = sign_ahead(&foresight, &stop);
            let from: Vec<String> = (foresight.effective.iter())
                .map(|(name, state)| format!("{name} {}", if state.available { "up" } else { "down" }))
                .collect();
            info!(
                from = %from.join(", "),
                site_changes = report.changes,
                answer_sets = report.sets,
                signed = report.made,
                already_signed = report.cached,
                no_room = report.no_room,
                failed = report.failed,
                stopped = report.stopped,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "failover answers signed ahead"
            );
        });
        match pass {
            Ok(_) => {
                self.foreseen_from = Some(from);
                self.running = Some(running);
                self.started.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "no thread to sign failover answers ahead; they are signed when served")
            }
        }
    }
}

impl Drop for FailoverSigning {
    /// A pass has no use once its controller is gone.
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::SiteState;

    #[test]
    fn a_pass_is_due_when_a_site_changes_availability_not_when_it_reorders() {
        let state = |available| SiteState { available, load: 0, rtt_us: 0 };
        let mut sites = SiteMap::from([("a".to_string(), state(true)), ("b".to_string(), state(true))]);
        let mut failover = FailoverSigning::default();
        assert!(failover.due(&sites), "the first pass");
        failover.foreseen_from = Some(availability(&sites));
        assert!(!failover.due(&sites));
        sites.get_mut("a").unwrap().load = 900;
        sites.get_mut("b").unwrap().rtt_us = 5_000;
        assert!(!failover.due(&sites), "load and response time reorder, the sets stay");
        sites.get_mut("b").unwrap().available = false;
        assert!(failover.due(&sites));
        failover.foreseen_from = Some(availability(&sites));
        failover.forget();
        assert!(failover.due(&sites), "after a reload, an operator change or a signing write");
    }
}
