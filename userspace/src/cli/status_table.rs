//! `switchyard status` for people: the daemon, then one row per site and check, then peers.

use std::fmt::Write;

use crate::{
    daemon::admin::Status,
    health::{CheckStatus, DatabaseStatus},
    peers::PeersStatus,
};

pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "instance   {}", s.instance);
    let _ = writeln!(out, "xdp        {} on [{}]", s.xdp_mode, s.xdp_interfaces.join(", "));
    let _ = writeln!(out, "services   {}", s.services);
    let _ = writeln!(out, "map        {} entries", s.map_entries);
    if !s.sites.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<16} {:<12} {:>6} {:>9}  {:<8} {:>6}  source",
            "site", "state", "load", "rtt_us", "drained", "weight"
        );
        for site in &s.sites {
            let state = if site.state.available { "available" } else { "unavailable" };
            let source = if site.remote {
                "peer"
            } else if site.is_static() {
                "static"
            } else {
                "probed"
            };
            let setting = s.site_settings.get(&site.name).copied().unwrap_or_default();
            let drained = if setting.drained { "yes" } else { "no" };
            let _ = writeln!(
                out,
                "{:<16} {:<12} {:>6} {:>9}  {:<8} {:>6}  {source}",
                site.name, state, site.state.load, site.state.rtt_us, drained, setting.weight
            );
            for check in site.checks() {
                let _ = writeln!(out, "{}", check_row(check));
                for server in &check.haproxy_servers {
                    let _ = writeln!(out, "      haproxy: {}", server.describe());
                }
            }
            if let Some(database) = &site.database_state {
                let _ = writeln!(out, "{}", database_row(database));
            }
        }
    }
    if let Some(peers) = &s.peers {
        out.push_str(&peers_table(peers));
    }
    out
}

fn check_row(check: &CheckStatus) -> String {
    let up = match check.up {
        Some(true) => "up",
        Some(false) => "down",
        None => "unknown",
    };
    let rtt = check.rtt_ewma_us.map_or("-".to_string(), |r| r.to_string());
    let last = check.last_result.as_deref().unwrap_or("-");
    format!("  {:<14} {:<12} {:>6} {:>9}  {} {} ({})", check.name, up, "", rtt, check.kind, check.target, last)
}

/// "  database db-b down, decided by haproxy (combine = all): haproxy backend dbcheck: …"
fn database_row(database: &DatabaseStatus) -> String {
    let state = if database.up { "ok" } else { "down" };
    let sources: Vec<&str> = database.decided_by.iter().map(|source| source.name()).collect();
    let combine = database.combine.map(|c| format!(" (combine = {})", c.name())).unwrap_or_default();
    format!("  database {} {state}, decided by {}{combine}: {}", database.name, sources.join(" and "), database.cause)
}

fn peers_table(p: &PeersStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\npeers      we are {}/{} on {}, period {} ms, N = {}, {} heartbeats sent",
        p.site, p.node, p.listen, p.period_ms, p.live_periods, p.heartbeats_sent
    );
    let _ = writeln!(out, "{:<16} {:<12} {:<6} {:>10} {:>9}  reported", "peer", "node", "alive", "last_ms", "accepted");
    for peer in &p.peers {
        let age = peer.last_heartbeat_age_ms.map_or("-".to_string(), |a| a.to_string());
        let reported = match peer.reported_state {
            Some(s) => {
                format!("{} load {} rtt {} µs", if s.available { "available" } else { "unavailable" }, s.load, s.rtt_us)
            }
            None => "-".to_string(),
        };
        let alive = if peer.alive { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{:<16} {:<12} {:<6} {:>10} {:>9}  {reported}",
            peer.site, peer.node, alive, age, peer.heartbeats_accepted
        );
    }
    out
}
