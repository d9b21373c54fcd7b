//! The control loop: whenever site states change, evaluate the policy, swap the new answers in
//! under the userspace server and rewrite the XDP answer map.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use tokio::{sync::watch, time::MissedTickBehavior};
use tracing::{info, warn};

use crate::{
    answers::{AnswerTable, Views},
    bpf::{datapath::Datapath, writer::MapWriter},
    config::Config,
    health::SiteMap,
    policy::{self, Policy, PolicyConfigError},
};

pub struct Control {
    policy: Policy,
    views: Views,
    /// Answers of the services with fixed address lists; they never change.
    fixed: AnswerTable,
    table: Arc<ArcSwap<AnswerTable>>,
    last_answers: policy::AnswerTable,
    last_states: SiteMap,
    /// One writer for the daemon's lifetime: it remembers what it wrote.
    writer: MapWriter,
    map_entries: Arc<AtomicUsize>,
}

impl Control {
    /// Builds the policy and computes the first table from `states`.
    pub fn new(config: &Config, views: Views, states: &SiteMap) -> Result<Control, PolicyConfigError> {
        let policy = Policy::new(&config.policy_config(), &config.site_addresses())?;
        let fixed = AnswerTable::from_config(config, &views);
        let mut control = Control {
            policy,
            views,
            fixed: fixed.clone(),
            table: Arc::new(ArcSwap::from_pointee(fixed)),
            last_answers: policy::AnswerTable::default(),
            last_states: states.clone(),
            writer: MapWriter::default(),
            map_entries: Arc::new(AtomicUsize::new(0)),
        };
        control.evaluate(states, "start");
        Ok(control)
    }

    /// The table the userspace server reads.
    pub fn table(&self) -> Arc<ArcSwap<AnswerTable>> {
        self.table.clone()
    }

    /// Entries in the XDP answer map, for the status.
    pub fn map_entries(&self) -> Arc<AtomicUsize> {
        self.map_entries.clone()
    }

    /// Evaluates the policy; when an answer changed, logs each change with `cause` and swaps
    /// the new table in. Returns whether anything changed.
    fn evaluate(&mut self, states: &SiteMap, cause: &str) -> bool {
        let answers = self.policy.evaluate(states);
        let changes = policy::diff(&self.last_answers, &answers);
        if changes.is_empty() {
            return false;
        }
        for change in &changes {
            let view = change.key.view.as_deref().unwrap_or("default");
            let addrs = change.answer.as_ref().map(|a| a.addrs.clone()).unwrap_or_default();
            info!(service = %change.key.service, family = ?change.key.family, view, ?addrs, cause, "answer changed");
        }
        let mut table = self.fixed.clone();
        table.extend(AnswerTable::from_policy(&answers, &self.views));
        self.table.store(Arc::new(table));
        self.last_answers = answers;
        true
    }

    /// Mirrors the current table into the XDP answer map (only the entries that changed).
    pub fn write_map(&mut self, datapath: &mut Datapath) -> anyhow::Result<()> {
        let table = self.table.load();
        let stats = self.writer.write(&mut datapath.answers()?, &table)?;
        self.map_entries.store(table.entries.len() - stats.userspace_only, Ordering::Relaxed);
        info!(
            written = stats.written,
            removed = stats.removed,
            overrides_kept = stats.overrides_kept,
            userspace_only = stats.userspace_only,
            elapsed_us = stats.elapsed.as_micros() as u64,
            "answer map written"
        );
        Ok(())
    }

    /// Runs until the monitor goes away. Re-evaluates on every change of site states and every
    /// `tick` (ordering by load or RTT only changes after several evaluations in a row).
    pub async fn run(
        &mut self,
        mut states: watch::Receiver<SiteMap>,
        mut datapath: Option<&mut Datapath>,
        tick: Duration,
    ) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let current = states.borrow_and_update().clone();
            let cause = describe_changes(&self.last_states, &current);
            let cause = if cause.is_empty() { "ordering hold elapsed".to_string() } else { cause };
            if self.evaluate(&current, &cause)
                && let Some(dp) = datapath.as_deref_mut()
                && let Err(e) = self.write_map(dp)
            {
                warn!(error = %e, "answer map not written; userspace answers are current");
            }
            self.last_states = current;
            tokio::select! {
                changed = states.changed() => changed?,
                _ = ticker.tick() => {}
            }
        }
    }
}

/// "site a unavailable, site b load 100→400": what moved between two sets of site states.
pub fn describe_changes(old: &SiteMap, new: &SiteMap) -> String {
    let mut parts = Vec::new();
    for (name, state) in new {
        let Some(before) = old.get(name) else {
            parts.push(format!("site {name} {}", if state.available { "available" } else { "unavailable" }));
            continue;
        };
        if before.available != state.available {
            parts.push(format!("site {name} {}", if state.available { "available" } else { "unavailable" }));
        }
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
mod tests {
    use super::*;
    use crate::policy::SiteState;

    fn state(available: bool, load: u32) -> SiteState {
        SiteState { available, load, rtt_us: 0 }
    }

    #[test]
    fn changes_name_the_site_and_what_moved() {
        let old = SiteMap::from([("a".into(), state(true, 0)), ("b".into(), state(true, 100))]);
        let new = SiteMap::from([("a".into(), state(false, 0)), ("b".into(), state(true, 400))]);
        assert_eq!(describe_changes(&old, &new), "site a unavailable, site b load 100→400");
        assert_eq!(describe_changes(&new, &new), "");
    }
}
