//! What flows between the health monitor and the peer service: our own site's state out to
//! the peers, and the peers' reports in as the state of the sites marked `remote = true`.

use std::sync::Arc;

use tokio::{sync::watch, task::JoinHandle};
use tracing::warn;

use crate::{health::HealthMonitor, operator::Versioned, peers::PeerViews, site::SiteState};

/// Copies our own site's state from `monitor` into `tx`, with the operator's drain and weight
/// of our site applied (the other sites then drain it too), until aborted. A reload that
/// replaces the monitor starts another of these on the same `tx`, so the heartbeats never notice.
pub fn follow_own_state_as_operated(
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
pub fn remote_sites(
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
