//! The `[sync]` part of a reload: the section added, removed or changed. What can fail before
//! anything changes (the key file, the new endpoint's port) is checked in `prepare`; `switch`
//! then stops the old service (a batch being applied finishes or is rolled back whole, to be
//! sent again) and starts the new one, or starts the old one again if the new one cannot start.

use std::{
    io::ErrorKind,
    net::{SocketAddr, TcpListener},
    sync::Arc,
};

use tracing::{info, warn};

use super::{
    reload::ReloadError,
    reloadable::Reloadable,
    sockets::{Registry, bind_when_free},
};
use crate::{
    config::Config,
    sync::{SyncConfig, SyncService},
};

/// The new sync service's settings and endpoint socket; `None` when `[sync]` was removed.
pub struct Prepared(Option<(SyncConfig, Endpoint)>);

/// Whether `[sync]` (or the site it syncs as) differs between the two configs.
pub fn changed(old: &Config, new: &Config) -> bool {
    // Debug output compares every field without asking each config type for PartialEq.
    let settings = |c: &Config| c.sync.as_ref().map(|s| format!("{s:?}{:?}", c.server.site));
    settings(old) != settings(new)
}

/// The new endpoint's socket.
enum Endpoint {
    Ready(TcpListener),
    /// The running endpoint holds this port (one of the two addresses is a wildcard): bound
    /// once the running service stopped.
    AfterStop(SocketAddr),
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
    let running = old.sync.as_ref().map(|s| s.listen);
    if running == Some(listen)
        && let Some(listener) = registry.copy_tcp(listen)
    {
        return Ok(Prepared(Some((config, Endpoint::Ready(listener)))));
    }
    let endpoint = match bind(listen) {
        Ok(listener) => Endpoint::Ready(listener),
        Err(e) if e.kind() == ErrorKind::AddrInUse && running.is_some_and(|r| r.port() == listen.port()) => {
            Endpoint::AfterStop(listen)
        }
        Err(e) => return Err(bind_error(listen, e)),
    };
    Ok(Prepared(Some((config, endpoint))))
}

fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

fn bind_error(listen: SocketAddr, e: std::io::Error) -> ReloadError {
    ReloadError::Sync(format!("binding {listen}: {e}"))
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
    let Some((config, endpoint)) = next else {
        forget(registry, old_listen);
        reloadable.sync.store(None);
        info!("database sync stopped");
        return Ok(());
    };
    let listener = match endpoint {
        Endpoint::Ready(listener) => listener,
        Endpoint::AfterStop(listen) => match bind_after(registry, old_listen, listen).await {
            Ok(listener) => listener,
            Err(e) => {
                restart_old(running, old, registry, reloadable).await;
                return Err(bind_error(listen, e));
            }
        },
    };
    let listen = listener.local_addr().ok();
    let copy = listener.try_clone();
    match SyncService::start(config, listener).await {
        Ok(service) => {
            if listen != old_listen {
                forget(registry, old_listen);
                // The running service matters more than a later hand-off of its socket.
                if let Err(e) = copy.and_then(|copy| registry.add(&copy)) {
                    warn!(error = %e, "the new sync endpoint is not kept for a hand-off: a new daemon cannot take over from this one until it is stopped");
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

/// Binds `listen` once the stopped endpoint on `old` (the same port) closed.
async fn bind_after(registry: &Registry, old: Option<SocketAddr>, listen: SocketAddr) -> std::io::Result<TcpListener> {
    forget(registry, old);
    bind_when_free(|| bind(listen)).await
}

/// Starts the old config's sync service again on its socket (kept in the registry, else
/// bound again).
async fn restart_old(running: &mut Option<SyncService>, old: &Config, registry: &Registry, reloadable: &Reloadable) {
    let Some(section) = &old.sync else { return };
    let listener = match registry.copy_tcp(section.listen) {
        Some(listener) => listener,
        None => match bind_when_free(|| bind(section.listen)).await {
            Ok(listener) => {
                let _ = registry.add(&listener);
                listener
            }
            Err(e) => {
                reloadable.sync.store(None);
                warn!(error = %e, "database sync not started again: restart the daemon");
                return;
            }
        },
    };
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

fn forget(registry: &Registry, listen: Option<SocketAddr>) {
    if let Some(listen) = listen {
        registry.remove_tcp(listen);
    }
}
