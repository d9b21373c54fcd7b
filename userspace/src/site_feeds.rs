//! What flows between the health monitor and the peer service: our own site's state out to
//! the peers, and the peers' reports in as the state of the sites marked `remote = true`.

use std::sync::Arc;

use tokio::{sync::watch, task::JoinHandle};
use tracing::warn;

use crate::{
    health::{HealthMonitor, SiteMap},
    peers::PeerViews,
    policy::SiteState,
};

/// Our own site's state as the monitor publishes it, for the heartbeats we send.
pub fn own_state(monitor: &HealthMonitor, site: &str) -> (watch::Receiver<SiteState>, JoinHandle<()>) {
    let pick = |map: &SiteMap| map.get(site).copied().unwrap_or(SiteState::UNAVAILABLE);
    let mut sites = monitor.subscribe();
    let (tx, rx) = watch::channel(pick(&sites.borrow_and_update()));
    let site = site.to_string();
    let task = tokio::spawn(async move {
        while sites.changed().await.is_ok() {
            let state = sites.borrow_and_update().get(&site).copied().unwrap_or(SiteState::UNAVAILABLE);
            tx.send_if_modified(|current| std::mem::replace(current, state) != state);
        }
    });
    (rx, task)
}

/// Sets every remote site from the peers' views: the reported state while the peer is alive,
/// unavailable otherwise (also before it was ever heard).
pub fn remote_sites(monitor: Arc<HealthMonitor>, remote: Vec<String>, mut views: watch::Receiver<PeerViews>) -> JoinHandle<()> {
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
