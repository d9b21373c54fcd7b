//! `HealthMonitor`: owns the probe tasks and publishes site states.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::health::config::{ConfigError, HealthConfig};
use crate::health::haproxy::{BackendView, status_is_up};
use crate::health::outcome::ProbeOutcome;
use crate::health::runner;
use crate::health::site_runtime::SiteRuntime;
use crate::health::status::HealthStatus;
use crate::health::tracker::Transition;
use crate::policy::SiteState;

/// Site name → state, as published to subscribers.
pub type SiteMap = BTreeMap<String, SiteState>;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("invalid health config: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot build HTTP client for {check}: {source}")]
    HttpClient { check: String, source: reqwest::Error },
    #[error("unknown site '{0}'")]
    UnknownSite(String),
    #[error("site '{0}' is probed here; only remote sites can be set")]
    NotRemote(String),
}

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
        config.validate()?;
        let plan = runner::plan(config)?;
        let initial: SiteMap = plan.sites.iter().map(|site| (site.name.clone(), site.published)).collect();
        let (publisher, _) = watch::channel(initial);
        let shared = Arc::new(Shared { sites: Mutex::new(plan.sites), publisher });
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

    /// Every check's current status.
    pub fn status(&self) -> HealthStatus {
        HealthStatus { sites: self.shared.lock().iter().map(SiteRuntime::status).collect() }
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

    /// Stops all probe tasks.
    pub fn shutdown(self) {}
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Where a probe result belongs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CheckSlot {
    Server { site: usize, server: usize },
    Database { site: usize },
}

pub(crate) struct Shared {
    sites: Mutex<Vec<SiteRuntime>>,
    publisher: watch::Sender<SiteMap>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<SiteRuntime>> {
        // A panic elsewhere must not stop health checking.
        self.sites.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn record(&self, slot: CheckSlot, outcome: ProbeOutcome) {
        let mut sites = self.lock();
        match slot {
            CheckSlot::Server { site, server } => {
                let runtime = &mut sites[site];
                let check = &mut runtime.servers[server];
                let cause = outcome.describe();
                if let Some(change) = check.tracker.record(outcome) {
                    log_change(&runtime.name, "web server", &check.name, change, &cause);
                }
                self.refresh(runtime);
            }
            CheckSlot::Database { site } => {
                let runtime = &mut sites[site];
                let Some(check) = runtime.database.as_mut() else {
                    return;
                };
                let cause = outcome.describe();
                if let Some(change) = check.tracker.record(outcome) {
                    log_change(&runtime.name, "database", &check.name, change, &cause);
                }
                self.refresh(runtime);
            }
        }
    }

    /// Applies one HAProxy stats fetch to the fetch check and to every
    /// server of the site checked through HAProxy.
    pub fn record_haproxy(&self, site: usize, fetched: Result<(BackendView, std::time::Duration), String>) {
        let mut sites = self.lock();
        let runtime = &mut sites[site];
        let fetch_outcome = match &fetched {
            Ok((_, latency)) => ProbeOutcome::Ok { latency: *latency },
            Err(cause) => ProbeOutcome::failed(cause.clone()),
        };
        if let Some(check) = runtime.haproxy.as_mut() {
            let cause = fetch_outcome.describe();
            if let Some(change) = check.tracker.record(fetch_outcome) {
                log_change(&runtime.name, "haproxy stats", &check.name, change, &cause);
            }
        }
        runtime.haproxy_load = fetched.as_ref().ok().and_then(|(view, _)| view.load);
        for check in runtime.servers.iter_mut().filter(|s| s.kind == "haproxy") {
            let outcome = match &fetched {
                Err(cause) => ProbeOutcome::failed(format!("haproxy stats: {cause}")),
                Ok((view, latency)) => match view.servers.get(&check.target) {
                    None => ProbeOutcome::failed(format!("'{}' not in haproxy backend", check.target)),
                    Some(status) if status_is_up(status) => ProbeOutcome::Ok { latency: *latency },
                    Some(status) => ProbeOutcome::failed(format!("haproxy status {status}")),
                },
            };
            let cause = outcome.describe();
            if let Some(change) = check.tracker.record(outcome) {
                log_change(&runtime.name, "web server", &check.name, change, &cause);
            }
        }
        self.refresh(runtime);
    }

    /// Recomputes a probed site's state and publishes it if it moved enough.
    fn refresh(&self, runtime: &mut SiteRuntime) {
        let next = runtime.computed();
        if !runtime.worth_publishing(&next) {
            return;
        }
        if next.available != runtime.published.available {
            let cause = runtime.availability_cause();
            if next.available {
                tracing::info!(site = %runtime.name, cause = %cause, "site available");
            } else {
                tracing::warn!(site = %runtime.name, cause = %cause, "site unavailable");
            }
        }
        runtime.published = next;
        self.publish(runtime);
    }

    fn publish(&self, runtime: &SiteRuntime) {
        let (name, state) = (&runtime.name, runtime.published);
        self.publisher.send_if_modified(|map| match map.get_mut(name) {
            Some(current) if *current == state => false,
            Some(current) => {
                *current = state;
                true
            }
            None => {
                map.insert(name.clone(), state);
                true
            }
        });
    }
}

fn log_change(site: &str, what: &str, check: &str, change: Transition, cause: &str) {
    match change {
        Transition::Up => tracing::info!(site, check, cause, "{what} up"),
        Transition::Down => tracing::warn!(site, check, cause, "{what} down"),
    }
}
