//! `HealthMonitor`: owns the probe tasks and publishes site states.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::health::config::HealthConfig;
use crate::health::error::HealthError;
use crate::health::plan;
use crate::health::runner;
use crate::health::shared::Shared;
use crate::health::site_runtime::SiteRuntime;
use crate::health::status::HealthStatus;

/// Check verdicts and site states carried from an earlier monitor (see `start_restored`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Restored {
    /// Every site's state as it was published.
    pub sites: SiteMap,
    /// Each check's verdict, by `site/kind/name`.
    pub checks: std::collections::BTreeMap<String, bool>,
}
use crate::site::{SiteMap, SiteState};

/// Probes every local site and keeps the published site states current.
/// Dropping it stops all probe tasks.
pub struct HealthMonitor {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl HealthMonitor {
    /// Validates `config` and spawns one task per check on the current Tokio
    /// runtime (panics outside a runtime, like `tokio::spawn`).
    pub fn start(config: &HealthConfig) -> Result<HealthMonitor, HealthError> {
        HealthMonitor::start_restored(config, &Restored::default())
    }

    /// Like `start`, from what an earlier run (or the monitor a reload replaces) knew: each
    /// check starts with its saved verdict and each remote site with its saved state, so the
    /// answers do not move until fresh probes or heartbeats say otherwise.
    pub fn start_restored(config: &HealthConfig, restored: &Restored) -> Result<HealthMonitor, HealthError> {
        config.validate()?;
        let mut plan = plan::plan(config)?;
        for site in &mut plan.sites {
            site.restore(restored);
        }
        let initial: SiteMap = plan.sites.iter().map(|site| (site.name.clone(), site.published)).collect();
        let (publisher, _) = watch::channel(initial);
        let shared = Arc::new(Shared::new(plan.sites, publisher));
        let tasks = plan.probes.into_iter().map(|probe| tokio::spawn(runner::run(shared.clone(), probe))).collect();
        Ok(HealthMonitor { shared, tasks })
    }

    /// A receiver that sees every published change of any site.
    pub fn subscribe(&self) -> watch::Receiver<SiteMap> {
        self.shared.publisher.subscribe()
    }

    /// The states currently published.
    pub fn sites(&self) -> SiteMap {
        self.shared.publisher.borrow().clone()
    }

    /// What a successor needs to start where this monitor is: each check's verdict and each
    /// site's state.
    pub fn snapshot(&self) -> Restored {
        let mut restored = Restored { sites: self.sites(), checks: Default::default() };
        for site in self.shared.lock().iter() {
            for check in site.checks() {
                if let Some(up) = check.tracker.up() {
                    restored.checks.insert(check.key(&site.name), up);
                }
            }
        }
        restored
    }

    /// Every check's current status.
    pub fn status(&self) -> HealthStatus {
        HealthStatus { sites: self.shared.lock().iter().map(SiteRuntime::status).collect() }
    }

    /// Why a site probed here is available or not, naming the checks (and the database
    /// sources) that decided; `None` for remote and static sites and unknown names.
    pub fn explain(&self, site: &str) -> Option<String> {
        let sites = self.shared.lock();
        let runtime = sites.iter().find(|s| s.name == site)?;
        let probed = !runtime.remote && !runtime.servers.is_empty();
        probed.then(|| runtime.availability_cause())
    }

    /// Sets the state of a site marked `remote = true` (learnt from a peer).
    pub fn set_remote(&self, site: &str, state: SiteState) -> Result<(), HealthError> {
        let mut sites = self.shared.lock();
        let runtime = sites.iter_mut().find(|s| s.name == site).ok_or_else(|| HealthError::UnknownSite(site.into()))?;
        if !runtime.remote {
            return Err(HealthError::NotRemote(site.into()));
        }
        if runtime.published.available != state.available {
            let word = if state.available { "available" } else { "unavailable" };
            tracing::info!(site, cause = "set from peer", "remote site {word}");
        }
        if runtime.published != state {
            runtime.published = state;
            self.shared.publish(runtime);
        }
        Ok(())
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
