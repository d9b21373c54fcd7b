//! The `[sync]` part of a reload: the section added, removed or changed. What can fail before
//! anything changes (the key file, the new endpoint's port) is checked in `prepare`; `switch`
//! then stops the old service (a batch being applied finishes or is rolled back whole, to be
//! sent again) and starts the new one, or starts the old one again if the new one cannot start.

use std::{net::TcpListener, sync::Arc};

use tracing::{info, warn};

use super::{reload::ReloadError, reloadable::Reloadable, sockets::Registry};
use crate::{
    config::Config,
    sync::{SyncConfig, SyncService},
};

/// The new sync service's settings and endpoint socket; `None` when `[sync]` was removed.
pub struct Prepared(Option<(SyncConfig, TcpListener)>);

/// Whether `[sync]` (or the site it syncs as) differs between the two configs.
pub fn changed(old: &Config, new: &Config) -> bool {
    // Debug output compares every field without asking each config type for PartialEq.
    let settings = |c: &Config| c.sync.as_ref().map(|s| format!("{s:?}{:?}", c.server.site));
    settings(old) != settings(new)
}

/// Reads the new key and takes the endpoint's socket: the running one's when the address
/// stays (connections wait in it meanwhile), else a new one bound here.
pub fn prepare(old: &Config, new: &Config, registry: &Registry) -> Result<Prepared, ReloadError> {
    let Some(section) = &new.sync else {
        return Ok(Prepared(None));
    };
    let config = new
        .sync_config(std::path::Path::new(""))
        .map_err(|e| ReloadError::Sync(format!("{}: {}", e.key, e.problem)))?
        .expect("[sync] is configured");
    let listen = section.listen;
    let kept = old.sync.as_ref().is_some_and(|s| s.listen == listen);
    let listener = match kept.then(|| registry.copy_tcp(listen)).flatten() {
        Some(listener) => listener,
        None => TcpListener::bind(listen).map_err(|e| ReloadError::Sync(format!("binding {listen}: {e}")))?,
    };
    listener.set_nonblocking(true).map_err(|e| ReloadError::Sync(format!("{listen}: {e}")))?;
    Ok(Prepared(Some((config, listener))))
}

/// Stops `running` and starts what `prepared` holds in its place; readers of the sync status
/// (admin socket, metrics) follow through `reloadable`.
pub async fn switch(
    running: &mut Option<SyncService>,
    Prepared(next): Prepared,
    (old, registry, reloadable): (&Config, &Registry, &Reloadable),
) -> Result<(), ReloadError> {
    if let Some(service) = running.take() {
        service.stop().await;
    }
    let old_listen = old.sync.as_ref().map(|s| s.listen);
    let Some((config, listener)) = next else {
        forget(registry, old_listen);
        reloadable.sync.store(None);
        info!("database sync stopped");
        return Ok(());
    };
    let listen = listener.local_addr().ok();
    let copy = listener.try_clone();
    match SyncService::start(config, listener).await {
        Ok(service) => {
            if listen != old_listen {
                forget(registry, old_listen);
                if let Ok(copy) = &copy {
                    registry.add(copy).map_err(|e| ReloadError::Sync(e.to_string()))?;
                }
            }
            reloadable.sync.store(Some(Arc::new(service.node())));
            *running = Some(service);
            info!(?listen, "database sync started with the new settings");
            Ok(())
        }
        Err(e) => {
            warn!(error = %format!("{e:#}"), "the new database sync did not start; the old one starts again");
            restart_old(running, old, registry, reloadable).await;
            Err(ReloadError::Sync(format!("{e:#}")))
        }
    }
}

/// Starts the old config's sync service again on its socket (kept in the registry).
async fn restart_old(running: &mut Option<SyncService>, old: &Config, registry: &Registry, reloadable: &Reloadable) {
    let Some(section) = &old.sync else { return };
    let Some(listener) = registry.copy_tcp(section.listen) else { return };
    let started = match old.sync_config(std::path::Path::new("")) {
        Ok(Some(config)) => SyncService::start(config, listener).await.map_err(|e| format!("{e:#}")),
        Ok(None) => return,
        Err(e) => Err(e.problem),
    };
    match started {
        Ok(service) => {
            reloadable.sync.store(Some(Arc::new(service.node())));
            *running = Some(service);
        }
        Err(e) => {
            reloadable.sync.store(None);
            warn!(error = %e, "database sync not started again: restart the daemon");
        }
    }
}

fn forget(registry: &Registry, listen: Option<std::net::SocketAddr>) {
    if let Some(listen) = listen {
        registry.remove_tcp(listen);
    }
}
