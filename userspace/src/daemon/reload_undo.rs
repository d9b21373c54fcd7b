//! Undoing a reload whose later step failed: each step taken goes back to the running config,
//! by the same code that took it with the two configs swapped. The answers go first, so that
//! the XDP map is written again from them; sockets for the old addresses are bound again.
//! A step that cannot go back is logged: the daemon keeps serving, and the failed reload's
//! error tells the operator what to fix.

use tracing::{info, warn};

use super::{
    reload::{Before, Done, Parts, move_metrics, put_rrl, reconfigure_peers, set_server_settings},
    reload_peers,
    sockets::bind_when_free,
    zone_serials,
};
use crate::{answers::Zones, config::Config};

/// Takes back every step in `done`; `(old, new)` are the running config and the refused one,
/// `served` the zone serials the refused one was given.
pub async fn undo(
    parts: &mut Parts<'_>,
    (old, new): (&Config, &Config),
    before: Before,
    served: &zone_serials::Serials,
    done: &Done,
) {
    if !done.any() {
        return;
    }
    let running = parts.reloadable.monitor.load_full();
    let mut all_back = true;
    let mut went_back = |result: Result<(), String>, what: &str| {
        if let Err(error) = result {
            warn!(%error, "{what} not taken back after the failed reload");
            all_back = false;
        }
    };
    if done.answers {
        let mut answers = before.answers;
        // The refused config's serials may have been served: a zone whose content it changed
        // goes back to the old content under a higher serial still, never a lower one.
        if let Some(serials) = zone_serials::after_undo(old, served, &before.serials) {
            answers = answers.with_zones(Zones::from_config(old, &serials.by_zone()));
            zone_serials::save(&zone_serials::path(&old.server), &serials);
        }
        went_back(parts.answers.restore(old, answers, &running.sites()).map_err(|e| e.to_string()), "answers");
    }
    if let Some(applied) = done.xdp {
        let cookies = parts.cookies.published();
        let views = &before.views;
        went_back(
            super::reload_xdp::undo(parts.datapath, parts.answers, views, (old, new), cookies, applied).await,
            "XDP",
        );
        parts.cookies.follow_datapath(parts.datapath.as_mut());
    }
    // The limits in force before, live changes included; also when the XDP step failed: a
    // successor program shares the rate limiter's pinned maps and was given the new limits.
    if done.xdp.is_some() {
        went_back(put_rrl(parts, old, &before.rrl).map_err(|e| e.to_string()), "rate limiting");
    }
    if done.server_settings {
        set_server_settings(parts, old);
        parts.cookies.restore(before.cookies);
    }
    match done.peers {
        Some(true) => went_back(restart_peers(parts, (old, new), &running).await, "peer service"),
        Some(false) => {
            // The bridge follows the running monitor again only if the reload had replaced it.
            let monitor = done.new_monitor.then_some(&running);
            went_back(reconfigure_peers(parts.peers.reborrow(), new, old, monitor).map_err(|e| e.to_string()), "peers");
        }
        None => {}
    }
    if done.metrics {
        went_back(take_back_metrics(parts, (old, new)).await, "metrics");
    }
    if done.listeners {
        let o = &old.server;
        let listened = parts.listeners.reconfigure(&o.listen, o.dns_port, o.udp_threads(), parts.registry).await;
        went_back(listened.map_err(|e| e.to_string()), "DNS listeners");
    }
    if all_back {
        info!("the failed reload was taken back: the running config keeps serving");
    }
}

/// The peer service of the running config, started again in place of the refused one's. The
/// old socket is bound again as soon as the refused service's task let go of it.
async fn restart_peers(
    parts: &mut Parts<'_>,
    (old, new): (&Config, &Config),
    running: &std::sync::Arc<crate::health::HealthMonitor>,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let socket = loop {
        match reload_peers::prepare(new, old, parts.registry) {
            Ok(socket) => break socket,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let configs = (new, old, running);
    let restarted =
        reload_peers::restart(parts.peers.reborrow(), socket, configs, (parts.registry, parts.reloadable)).await;
    restarted.map_err(|e| e.to_string())
}

/// Metrics served on the running config's address again (its socket was closed by the reload).
async fn take_back_metrics(parts: &mut Parts<'_>, (old, new): (&Config, &Config)) -> Result<(), String> {
    let (listener, result) = match old.server.metrics {
        Some(address) => match bind_when_free(|| std::net::TcpListener::bind(address)).await {
            Ok(listener) => (Some(listener), Ok(())),
            Err(e) => (None, Err(format!("binding {address}: {e}"))),
        },
        None => (None, Ok(())),
    };
    move_metrics((&mut *parts.metrics.0, parts.metrics.1), listener, new.server.metrics, parts.registry);
    result
}
