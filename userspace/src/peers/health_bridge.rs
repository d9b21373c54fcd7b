//! The bridge between the health monitor and the peer service: our own site's state out to
//! the peers, and the peers' reports in as the state of the sites marked `remote = true`.

use std::sync::Arc;

use tokio::{sync::watch, task::JoinHandle};
use tracing::warn;

use crate::{health::HealthMonitor, operator::Versioned, peers::PeerViews, site::SiteState};

/// The two tasks between the health monitor and the peer service, restarted on the new monitor
/// when a reload replaces it.
pub struct HealthBridge {
    own_site: String,
    own_tx: Arc<watch::Sender<SiteState>>,
    /// Our site's drain and weight go out in the heartbeats too.
    operator: watch::Receiver<Versioned>,
    views: watch::Receiver<PeerViews>,
    tasks: Vec<JoinHandle<()>>,
}

impl HealthBridge {
    /// Not running until `start`. `own_tx` feeds the heartbeats we send; `views` are the
    /// peers' reports.
    pub fn new(
        own_site: &str,
        own_tx: watch::Sender<SiteState>,
        operator: watch::Receiver<Versioned>,
        views: watch::Receiver<PeerViews>,
    ) -> HealthBridge {
        HealthBridge { own_site: own_site.to_string(), own_tx: Arc::new(own_tx), operator, views, tasks: vec![] }
    }

    /// Starts both tasks on `monitor`, stopping those of an earlier monitor first.
    pub fn start(&mut self, monitor: &Arc<HealthMonitor>, remote: Vec<String>) {
        self.stop();
        let (site, tx, operator) = (&self.own_site, self.own_tx.clone(), self.operator.clone());
        self.tasks.push(follow_own_state(monitor, site, tx, operator));
        self.tasks.push(remote_sites(monitor.clone(), remote, self.views.clone()));
    }

    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

/// Copies our own site's state from `monitor` into `tx`, with the operator's drain and weight
/// of our site applied (the other sites then drain it too), until aborted. A reload that
/// replaces the monitor starts another of these on the same `tx`, so the heartbeats never notice.
fn follow_own_state(
    monitor: &HealthMonitor,
    site: &str,
    tx: Arc<watch::Sender<SiteState>>,
    mut operator: watch::Receiver<Versioned>,
) -> JoinHandle<()> {
    let mut sites = monitor.subscribe();
    let site = site.to_string();
    tokio::spawn(async move {
        let mut operator_open = true;
        loop {
            let measured = sites.borrow_and_update().get(&site).copied().unwrap_or(SiteState::UNAVAILABLE);
            let state = operator.borrow_and_update().state.site(&site).apply(measured);
            tx.send_if_modified(|current| std::mem::replace(current, state) != state);
            tokio::select! {
                changed = sites.changed() => if changed.is_err() { return },
                changed = operator.changed(), if operator_open => operator_open = changed.is_ok(),
            }
        }
    })
}

/// Sets every remote site from the peers' views: the reported state while the peer is alive,
/// unavailable otherwise (also before it was ever heard).
fn remote_sites(
    monitor: Arc<HealthMonitor>,
    remote: Vec<String>,
    mut views: watch::Receiver<PeerViews>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let current = views.borrow_and_update().clone();
            for site in &remote {
                let state = current.get(site).map_or(SiteState::UNAVAILABLE, |v| v.effective_state());
                if let Err(e) = monitor.set_remote(site, state) {
                    warn!(site, error = %e, "remote site state not set");
                }
            }
            if views.changed().await.is_err() {
                return;
            }
        }
    })
}
