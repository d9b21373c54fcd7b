//! Undoing a reload whose later step failed: each step taken goes back to the running config,
//! by the same code that took it with the two configs swapped. The answers go first, so that
//! the XDP map is written again from them; sockets for the old addresses are bound again.
//! A step that cannot go back is logged: the daemon keeps serving, and the failed reload's
//! error tells the operator what to fix.

use tracing::{info, warn};

use super::{
    reload::{Before, Done, Parts, apply_rrl, move_metrics, reconfigure_peers, set_server_settings},
    reload_peers,
    sockets::bind_when_free,
};
use crate::config::Config;

/// Takes back every step in `done`; `(old, new)` are the running config and the refused one.
pub async fn undo(parts: &mut Parts<'_>, (old, new): (&Config, &Config), before: Before, done: &Done) {
    let running = parts.reloadable.monitor.load_full();
    if done.answers
        && let Err(e) = parts.answers.restore(old, before.answers, &running.sites())
    {
        warn!(error = %e, "answers not taken back after the failed reload");
    }
    if let Some(applied) = done.xdp {
        let cookies = parts.cookies.published();
        super::reload_xdp::undo(parts.datapath, parts.answers, &before.views, (old, new), cookies, applied).await;
        parts.cookies.follow_datapath(parts.datapath.as_mut());
    }
    if done.rrl
        && let Err(e) = apply_rrl(parts, old)
    {
        warn!(error = %e, "rate limiting not taken back after the failed reload");
    }
    if done.server_settings {
        set_server_settings(parts, old);
    }
    match done.peers {
        Some(true) => restart_peers(parts, (old, new), &running).await,
        Some(false) => {
            if let Err(e) = reconfigure_peers(parts.peers.reborrow(), new, old, Some(&running)) {
                warn!(error = %e, "peers not taken back after the failed reload");
            }
        }
        None => {}
    }
    if done.metrics {
        take_back_metrics(parts, (old, new)).await;
    }
    if done.listeners {
        let o = &old.server;
        if let Err(e) = parts.listeners.reconfigure(&o.listen, o.dns_port, o.udp_threads(), parts.registry).await {
            warn!(error = %e, "DNS listeners not taken back after the failed reload");
        }
    }
    info!("the failed reload was taken back: the running config keeps serving");
}

/// The peer service of the running config, started again in place of the refused one's.
async fn restart_peers(
    parts: &mut Parts<'_>,
    (old, new): (&Config, &Config),
    running: &std::sync::Arc<crate::health::HealthMonitor>,
) {
    let restarted = match reload_peers::prepare(new, old, parts.registry) {
        Ok(socket) => {
            let configs = (new, old, running);
            reload_peers::restart(parts.peers.reborrow(), socket, configs, (parts.registry, parts.reloadable)).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = restarted {
        warn!(error = %e, "peer service not taken back after the failed reload");
    }
}

/// Metrics served on the running config's address again (its socket was closed by the reload).
async fn take_back_metrics(parts: &mut Parts<'_>, (old, new): (&Config, &Config)) {
    let listener = match old.server.metrics {
        Some(address) => match bind_when_free(|| std::net::TcpListener::bind(address)).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                warn!(%address, error = %e, "metrics not served again after the failed reload");
                None
            }
        },
        None => None,
    };
    move_metrics((&mut *parts.metrics.0, parts.metrics.1), listener, new.server.metrics, parts.registry);
}
