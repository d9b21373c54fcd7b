//! The answer controller and its control loop: whenever site states change, evaluate the policy,
//! swap the new answers in under the userspace server and rewrite the XDP answer map.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use tokio::{sync::watch, time::MissedTickBehavior};
use tracing::{info, warn};

use crate::{
    answers::{
        self, AnswerStats, AnswerTable, Change, RewriteCounters, Served, SiteCondition, Timeline, Views, Zones,
        failover_signing::{FailoverSigning, Foresight, ahead_signers},
    },
    bpf::{
        datapath::Datapath,
        presign::presign,
        writer::{MapWriter, WritePlan, WriteStats},
    },
    config::Config,
    operator::{self, OperatorState, Versioned},
    policy::{self, Policy, PolicyConfigError},
    site::SiteMap,
};

/// The zones and views a controller answered from, kept across a reload until it is done.
pub struct SavedAnswers {
    views: Arc<Views>,
    zones: Arc<Zones>,
}

impl SavedAnswers {
    /// The same views with `zones` instead (the same zones under other serials).
    pub fn with_zones(self, zones: Zones) -> SavedAnswers {
        SavedAnswers { zones: Arc::new(zones), ..self }
    }
}

/// Owns the policy and the answer table, and is the XDP answer map's only writer.
pub struct AnswerController {
    policy: Policy,
    views: Arc<Views>,
    zones: Arc<Zones>,
    /// Answers of the services with fixed address lists (they change only with the config).
    fixed: AnswerTable,
    /// What the userspace server answers from: zones, views and the table, swapped whole.
    served: Arc<ArcSwap<Served>>,
    last_decisions: policy::Decisions,
    last_states: SiteMap,
    /// Signs ahead the answers a site's change of availability would give (signed zones only).
    failover: FailoverSigning,
    /// One writer for the daemon's lifetime: it remembers what it wrote.
    writer: MapWriter,
    map_entries: Arc<AtomicUsize>,
    rewrites: Arc<RewriteCounters>,
    /// Each service's current first site and answer changes, for the metrics.
    stats: Arc<AnswerStats>,
    /// Site conditions and answer changes over the last hours, for the status page.
    timeline: Arc<Timeline>,
    /// Drains, weights and overrides as last applied.
    operator: OperatorState,
    /// Keys the overrides took in the current table: written to the map as overrides.
    override_keys: HashSet<answers::AnswerKey>,
    /// Where operator changes come from, and where the applied generation is reported.
    operator_feed: Option<(watch::Receiver<Versioned>, watch::Sender<u64>)>,
    /// Set from a new table until the map is written: kept here rather than in `run`, which may
    /// be dropped (for a reload) while it signs ahead of the write.
    map_behind: bool,
    /// An operator generation applied but not yet reported: reported once its map write is
    /// made, by the next run if this one was dropped before.
    unreported: Option<u64>,
}

impl AnswerController {
    /// Builds the policy and computes the first table from `states`.
    pub fn new(
        config: &Config,
        views: Views,
        zones: Zones,
        states: &SiteMap,
    ) -> Result<AnswerController, PolicyConfigError> {
        let policy = Policy::new(&config.policy_config(), &config.site_addresses())?;
        let fixed = AnswerTable::from_config(config);
        let (views, zones) = (Arc::new(views), Arc::new(zones));
        let served = Served::new(zones.clone(), views.clone(), fixed.clone());
        let mut control = AnswerController {
            policy,
            views,
            zones,
            fixed,
            served: Arc::new(ArcSwap::from_pointee(served)),
            last_decisions: policy::Decisions::default(),
            last_states: states.clone(),
            failover: FailoverSigning::default(),
            writer: MapWriter::default(),
            map_entries: Arc::new(AtomicUsize::new(0)),
            rewrites: Arc::new(RewriteCounters::default()),
            stats: Arc::new(AnswerStats::default()),
            timeline: Arc::new(Timeline::default()),
            operator: OperatorState::default(),
            override_keys: HashSet::new(),
            operator_feed: None,
            map_behind: false,
            unreported: None,
        };
        control.evaluate(states, "start", false);
        Ok(control)
    }

    /// Follows operator changes from `feed` (applied at once) and reports each applied
    /// generation on `applied`.
    pub fn follow_operator(&mut self, mut feed: watch::Receiver<Versioned>, applied: watch::Sender<u64>) {
        let current = feed.borrow_and_update().clone();
        self.operator = current.state;
        let states = self.last_states.clone();
        self.evaluate(&states, "operator state", true);
        self.failover.forget();
        applied.send_replace(current.generation);
        self.operator_feed = Some((feed, applied));
    }

    /// Takes a reloaded config: a new policy, fixed answers, zones and views, evaluated and
    /// swapped in under the userspace server at once (the XDP map is written after). On an
    /// error nothing changes.
    pub fn reload(
        &mut self,
        config: &Config,
        views: Views,
        zones: Zones,
        states: &SiteMap,
    ) -> Result<(), PolicyConfigError> {
        self.install(config, SavedAnswers { views: Arc::new(views), zones: Arc::new(zones) }, states, "config reloaded")
    }

    /// The zones and views answered from now, for `restore` after a reload that failed later on.
    pub fn saved(&self) -> SavedAnswers {
        SavedAnswers { views: self.views.clone(), zones: self.zones.clone() }
    }

    /// Goes back to `config` (which this controller ran before) and what `saved` kept of it.
    pub fn restore(&mut self, config: &Config, saved: SavedAnswers, states: &SiteMap) -> Result<(), PolicyConfigError> {
        self.install(config, saved, states, "reload undone")
    }

    /// A new policy (which alone can fail, so first), fixed answers, zones and views.
    fn install(
        &mut self,
        config: &Config,
        next: SavedAnswers,
        states: &SiteMap,
        why: &str,
    ) -> Result<(), PolicyConfigError> {
        self.policy = Policy::new(&config.policy_config(), &config.site_addresses())?;
        self.fixed = AnswerTable::from_config(config);
        self.views = next.views;
        self.zones = next.zones;
        self.evaluate(states, why, true);
        self.last_states = states.clone();
        // The old pass signs for signers the new zones no longer have.
        self.failover.stop();
        self.failover.forget();
        Ok(())
    }

    /// The client views answers are keyed by now.
    pub fn views(&self) -> Arc<Views> {
        self.views.clone()
    }

    /// Map rewrite counts and times, for the metrics.
    pub fn rewrites(&self) -> Arc<RewriteCounters> {
        self.rewrites.clone()
    }

    /// Per-service answers and their change counts, for the metrics.
    pub fn answer_stats(&self) -> Arc<AnswerStats> {
        self.stats.clone()
    }

    pub fn timeline(&self) -> Arc<Timeline> {
        self.timeline.clone()
    }

    /// What the userspace server answers from.
    pub fn served(&self) -> Arc<ArcSwap<Served>> {
        self.served.clone()
    }

    /// Entries in the XDP answer map, for the status.
    pub fn map_entries(&self) -> Arc<AtomicUsize> {
        self.map_entries.clone()
    }

    /// Evaluates the policy on the site states after drains and weights; when a decision changed,
    /// logs each change with `cause`. Swaps a new table in (the decisions, then overrides on
    /// top) when anything changed or `force` is set. Returns whether it swapped.
    fn evaluate(&mut self, states: &SiteMap, cause: &str, force: bool) -> bool {
        let now_ms = crate::sync::wall_now_ms() as u64;
        for (name, state) in states {
            let condition = match (self.operator.site(name).drained, state.available) {
                (true, _) => SiteCondition::Drained,
                (false, true) => SiteCondition::Up,
                (false, false) => SiteCondition::Down,
            };
            self.timeline.note_site(now_ms, name, condition);
        }
        let effective = operator::effective_sites(states, &self.operator.sites);
        let decisions = self.policy.evaluate(&effective);
        let changes = policy::diff(&self.last_decisions, &decisions);
        if changes.is_empty() && !force {
            return false;
        }
        for change in &changes {
            let view = change.key.view.as_deref().unwrap_or("default");
            let addrs = change.decision.as_ref().map(|a| a.addrs.clone()).unwrap_or_default();
            info!(service = %change.key.service, family = ?change.key.family, view, ?addrs, cause, "answer changed");
            self.timeline.record(now_ms, Change::answer(&change.key, change.decision.as_ref()));
        }
        let mut table = self.fixed.clone();
        table.extend(AnswerTable::from_policy(&decisions, &self.views));
        // Overrides of names a reload removed wait in the operator state, unused.
        let configured: Vec<operator::Override> = (self.operator.overrides.iter())
            .filter(|o| o.wire_name().is_some_and(|name| self.zones.exists(&name)))
            .cloned()
            .collect();
        self.override_keys = operator::apply_overrides(&configured, &mut table, &self.views);
        self.served.store(Arc::new(Served::new(self.zones.clone(), self.views.clone(), table)));
        self.stats.record(&self.last_decisions, &decisions);
        self.last_decisions = decisions;
        true
    }

    /// Takes the answer map's contents (an earlier daemon's) as written, so that the next
    /// write changes only what differs.
    pub fn adopt_map(&mut self, datapath: &mut Datapath) -> anyhow::Result<()> {
        let maps = datapath.answer_maps()?;
        let entries = self.writer.adopt(maps.answers);
        let signatures = self.writer.adopt_signatures(&maps.signatures)?;
        info!(entries, signatures, "answer map read: later writes change only what differs");
        Ok(())
    }

    /// Mirrors the current table into the XDP maps (only the entries that changed), worked out
    /// once for the pass. When answer sets are due for signing, the signing starts on the
    /// blocking pool and their answers go to the map meanwhile, so that the program answers
    /// with the new sites while the signatures are made (DO=1 queries for the new sets go to
    /// userspace meanwhile); the control loop's task then waits without holding a thread, and
    /// the signed write takes the signatures as made.
    pub async fn write_map(&mut self, datapath: &mut Datapath) -> anyhow::Result<()> {
        let served = self.served.load_full();
        self.writer.set_signers(served.zones.signers());
        let mut plan = self.writer.plan(&served.table, &self.override_keys);
        let jobs = self.writer.due_for_signing(&plan);
        let signs = !jobs.is_empty();
        let mut first = None;
        if !signs {
            self.writer.use_presigned(Vec::new());
        } else {
            // The cores go to this signing (a pass ahead starts again once the write is made).
            self.failover.stop();
            let (due, started) = (jobs.len(), Instant::now());
            // Signing starts on the other cores while this thread writes the answers.
            let signing = presign(jobs);
            first = self.write_answers_first(datapath, &mut plan);
            let signed = signing.await;
            let made = signed.len();
            self.writer.use_presigned(signed);
            info!(
                due,
                signed = made,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "answer sets signed ahead of the map write"
            );
        }
        let mut maps = datapath.answer_maps()?;
        let written = self.writer.write_planned(maps.answers, Some(&mut maps.signatures), &mut plan);
        let mut stats = match written {
            Ok(stats) if signs => {
                // What a pass ahead foresees from changed with what was signed.
                self.failover.forget();
                stats
            }
            Ok(stats) => stats,
            Err(e) => {
                self.rewrites.failures.fetch_add(1, Ordering::Relaxed);
                return Err(e.into());
            }
        };
        // One rewrite per pass: what the answers-first write did counts too (an override left
        // alone is met by both writes, and counted once).
        if let Some(first) = first {
            stats.written += first.written;
            stats.removed += first.removed;
            stats.elapsed += first.elapsed;
        }
        self.rewrites.record(&stats);
        self.map_entries.store(served.table.entries.len() - stats.userspace_only, Ordering::Relaxed);
        info!(
            written = stats.written,
            removed = stats.removed,
            overrides_kept = stats.overrides_kept,
            userspace_only = stats.userspace_only,
            signed = stats.signed,
            signed_ahead = stats.signed_ahead,
            unsigned = stats.unsigned,
            elapsed_us = stats.elapsed.as_micros() as u64,
            "answer map written"
        );
        Ok(())
    }

    /// The answers of `plan` into the map ahead of their signatures; a failure is left to the
    /// signed write that follows.
    fn write_answers_first(&mut self, datapath: &mut Datapath, plan: &mut WritePlan<'_>) -> Option<WriteStats> {
        let written = datapath
            .answer_maps()
            .map_err(anyhow::Error::from)
            .and_then(|maps| Ok(self.writer.write_planned(maps.answers, None, plan)?));
        match written {
            Ok(stats) => {
                info!(
                    written = stats.written,
                    removed = stats.removed,
                    awaiting_signature = stats.unsigned,
                    elapsed_us = stats.elapsed.as_micros() as u64,
                    "answers written ahead of their signatures"
                );
                Some(stats)
            }
            Err(e) => {
                warn!(error = %e, "answers not written ahead of their signatures");
                None
            }
        }
    }

    /// What a pass signing failover answers ahead works from: the policy and answers as they
    /// stand.
    pub fn foresight(&self) -> Foresight {
        Foresight {
            policy: self.policy.clone(),
            effective: self.effective_sites(),
            views: self.views.clone(),
            served: self.served.load_full(),
            overrides: self.override_keys.clone(),
        }
    }

    /// The site states the current answers were decided on: the last ones after drains and
    /// weights.
    fn effective_sites(&self) -> SiteMap {
        operator::effective_sites(&self.last_states, &self.operator.sites)
    }

    /// Starts signing ahead the answers one site's change of availability would give, when a
    /// zone signs ahead and the sites or answers changed since the last pass.
    fn sign_failover_ahead(&mut self) {
        if ahead_signers(&self.served.load().zones).next().is_none() {
            self.failover.stop();
        } else if self.failover.due(&self.effective_sites()) {
            self.failover.start(self.foresight());
        }
    }

    /// Writes the map; on failure turns the fast path off so that XDP never serves answers older
    /// than userspace's, and back on once a write succeeds. Returns whether the map is stale.
    async fn bring_map_up_to_date(&mut self, dp: &mut Datapath, was_stale: bool) -> bool {
        match self.write_map(dp).await {
            Ok(()) if was_stale => match dp.set_enabled(true) {
                Ok(()) => {
                    info!("answer map up to date again; XDP fast path back on");
                    false
                }
                Err(e) => {
                    warn!(error = %e, "cannot turn the XDP fast path back on; retrying");
                    true
                }
            },
            Ok(()) => false,
            Err(e) => {
                if !was_stale {
                    warn!(error = %e, "answer map not written; XDP fast path off until it is, userspace serves");
                }
                if let Err(e) = dp.set_enabled(false) {
                    warn!(error = %e, "cannot turn the XDP fast path off");
                }
                true
            }
        }
    }

    /// Runs until the monitor goes away. Re-evaluates on every change of site states or of the
    /// operator state, and every `tick` (ordering by load or RTT only changes after several
    /// evaluations in a row). Safe to drop at any await: each evaluation completes before one,
    /// and a map write dropped while its signatures were made ahead is made by the next run.
    /// `explain` says why a site's availability changed, for the log of the answers it moved.
    pub async fn run(
        &mut self,
        mut states: watch::Receiver<SiteMap>,
        explain: Explain<'_>,
        mut datapath: Option<&mut Datapath>,
        tick: Duration,
    ) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut operator_changed = false;
        // Set while the map could not be written: retried every round, fast path off meanwhile.
        let mut map_stale = false;
        loop {
            let current = states.borrow_and_update().clone();
            let mut cause = describe_changes(&self.last_states, &current, explain);
            let mut applied = None;
            if operator_changed && let Some((feed, _)) = &mut self.operator_feed {
                let next = feed.borrow_and_update().clone();
                cause = describe_operator_changes(&self.operator, &next.state);
                self.operator = next.state;
                applied = Some(next.generation);
            }
            let cause = if cause.is_empty() { "ordering hold elapsed".to_string() } else { cause };
            let swapped = self.evaluate(&current, &cause, applied.is_some());
            self.unreported = applied.or(self.unreported);
            self.last_states = current;
            self.map_behind |= swapped || map_stale || self.writer.renewal_due();
            if let Some(dp) = datapath.as_deref_mut()
                && self.map_behind
            {
                map_stale = self.bring_map_up_to_date(dp, map_stale).await;
                self.map_behind = false;
            }
            if let (Some(generation), Some((_, report))) = (self.unreported.take(), &self.operator_feed) {
                report.send_replace(generation);
            }
            if applied.is_some() {
                self.failover.forget();
            }
            self.sign_failover_ahead();
            operator_changed = false;
            tokio::select! {
                changed = states.changed() => changed?,
                () = operator_change(&mut self.operator_feed) => operator_changed = true,
                _ = ticker.tick() => {}
            }
        }
    }
}

/// Resolves when the operator state changed; never without a feed (or once it is gone).
async fn operator_change(feed: &mut Option<(watch::Receiver<Versioned>, watch::Sender<u64>)>) {
    let open = match feed {
        Some((rx, _)) => rx.changed().await.is_ok(),
        None => false,
    };
    if !open {
        std::future::pending::<()>().await;
    }
}

/// "site a drained, override www.example.com. A default": what an operator changed.
fn describe_operator_changes(old: &OperatorState, new: &OperatorState) -> String {
    let mut parts = Vec::new();
    let names: std::collections::BTreeSet<&String> = old.sites.keys().chain(new.sites.keys()).collect();
    for name in names {
        let (before, after) = (old.site(name), new.site(name));
        if before.drained != after.drained {
            parts.push(format!("site {name} {}", if after.drained { "drained" } else { "undrained" }));
        }
        if before.weight != after.weight {
            parts.push(format!("site {name} weight {}→{}", before.weight, after.weight));
        }
    }
    if old.overrides != new.overrides {
        parts.push("answer overrides changed".to_string());
    }
    parts.join(", ")
}

/// Why a site is (un)available, by its name: e.g. which database source decided. `None` when
/// nothing more than its state is known.
pub type Explain<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// "site a unavailable (no web server up (…)), site b load 100→400": what moved between two
/// sets of site states, and why a site's availability changed where `explain` knows.
fn describe_changes(old: &SiteMap, new: &SiteMap, explain: Explain) -> String {
    let mut parts = Vec::new();
    for (name, state) in new {
        let before = old.get(name);
        if before.is_none_or(|before| before.available != state.available) {
            let word = if state.available { "available" } else { "unavailable" };
            match explain(name) {
                Some(why) => parts.push(format!("site {name} {word} ({why})")),
                None => parts.push(format!("site {name} {word}")),
            }
        }
        let Some(before) = before else {
            continue;
        };
        if before.load != state.load {
            parts.push(format!("site {name} load {}→{}", before.load, state.load));
        }
        if before.rtt_us != state.rtt_us {
            parts.push(format!("site {name} rtt {}→{} µs", before.rtt_us, state.rtt_us));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
#[path = "failover_signing_tests.rs"]
mod failover_signing_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::SiteState;

    fn state(available: bool, load: u32) -> SiteState {
        SiteState { available, load, rtt_us: 0 }
    }

    #[test]
    fn changes_name_the_site_and_what_moved() {
        let old = SiteMap::from([("a".into(), state(true, 0)), ("b".into(), state(true, 100))]);
        let new = SiteMap::from([("a".into(), state(false, 0)), ("b".into(), state(true, 400))]);
        let unknown = |_: &str| None;
        assert_eq!(describe_changes(&old, &new, &unknown), "site a unavailable, site b load 100→400");
        assert_eq!(describe_changes(&new, &new, &unknown), "");
        let why = |site: &str| (site == "a").then(|| "database db-a down, decided by page".to_string());
        assert_eq!(
            describe_changes(&old, &new, &why),
            "site a unavailable (database db-a down, decided by page), site b load 100→400"
        );
    }
}
