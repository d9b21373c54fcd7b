//! `switchyard status` for people: the daemon, then one row per site and check, then peers.

use std::fmt::Write;

use crate::{
    daemon::admin::Status,
    health::{CheckStatus, DatabaseStatus},
    peers::{DropCounters, DropReason, PeersStatus},
};

pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "instance   {}", s.instance);
    if let Some(file) = &s.config_file {
        let _ = writeln!(out, "config     {}", file.display());
    }
    let _ = writeln!(out, "xdp        {}", xdp_line(s));
    let _ = writeln!(out, "services   {}", s.services);
    let _ = writeln!(out, "map        {} entries", s.map_entries);
    if !s.sites.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<16} {:<12} {:>6} {:>9}  {:<8} {:>6}  source",
            "site", "state", "load", "rtt_us", "drained", "weight"
        );
        for site in &s.sites {
            let setting = s.site_settings.get(&site.name).copied().unwrap_or_default();
            // What the answers follow: a drained site counts as unavailable whatever its checks say.
            let state = match (setting.drained, site.state.available) {
                (true, _) => "drained",
                (false, true) => "available",
                (false, false) => "unavailable",
            };
            let source = if site.remote {
                "peer"
            } else if site.is_static() {
                "static"
            } else {
                "probed"
            };
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
    if !s.signed_zones.is_empty() {
        out.push_str(&signed_zones_table(&s.signed_zones));
    }
    if !s.overrides.is_empty() {
        out.push_str(&overrides_table(&s.overrides));
    }
    out
}

/// One row per override: what is answered instead of the policy's answer, in which view.
fn overrides_table(overrides: &[crate::operator::Override]) -> String {
    let mut out = format!("\n{:<32} {:<5} {:<12} {:>6}  addresses (set by hand)\n", "override", "type", "view", "ttl");
    for o in overrides {
        let addrs: Vec<String> = o.addrs.iter().map(ToString::to_string).collect();
        let (qtype, view) = (o.qtype.to_string(), crate::operator::view_name(&o.view));
        let _ = writeln!(out, "{:<32} {:<5} {:<12} {:>6}  {}", o.name, qtype, view, o.ttl, addrs.join(", "));
    }
    out
}

/// One row per signed zone: its algorithm, the tags of the keys signing it, its signatures and
/// how much of a site's failover is signed ahead.
fn signed_zones_table(zones: &[crate::dnssec::status::SignedZoneStatus]) -> String {
    let header = ("signed zone", "algorithm", "key tags", "signed RRsets", "signatures made");
    let mut out = format!(
        "\n{:<24} {:<16} {:<14} {:<14} {:<16} failover signed ahead\n",
        header.0, header.1, header.2, header.3, header.4
    );
    for zone in zones {
        let tags: Vec<String> = zone.key_tags.iter().map(u16::to_string).collect();
        let _ = match &zone.problem {
            Some(problem) => writeln!(out, "{:<24} unavailable: {problem}", zone.zone),
            None => writeln!(
                out,
                "{:<24} {:<16} {:<14} {:<14} {:<16} {}",
                zone.zone,
                zone.algorithm,
                tags.join(","),
                zone.signatures_cached,
                zone.signatures_made,
                signed_ahead(zone)
            ),
        };
    }
    out
}

/// "6/6 sets", "4/6 sets (stopped)", "off": the answer sets of a site's failover (one site's
/// change of availability) with signatures made, of those the last pass found.
fn signed_ahead(zone: &crate::dnssec::status::SignedZoneStatus) -> String {
    match (zone.signs_failover_ahead, &zone.signed_ahead) {
        (false, _) => "off".into(),
        (true, None) => "not yet".into(),
        (true, Some(ahead)) => {
            let mut text = format!("{}/{} sets", ahead.ready, ahead.sets);
            if ahead.no_room > 0 {
                text += &format!(" ({} without room)", ahead.no_room);
            }
            if ahead.stopped {
                text += " (stopped)";
            }
            text
        }
    }
}

/// "native on veth0, veth1", or "off: userspace answers every query".
fn xdp_line(s: &Status) -> String {
    if s.xdp_mode == "off" || s.xdp_interfaces.is_empty() {
        "off: userspace answers every query".to_string()
    } else {
        format!("{} on {}", s.xdp_mode, s.xdp_interfaces.join(", "))
    }
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
    let _ = writeln!(out, "datagrams  {} dropped{}", p.drops.total(), drop_reasons(&p.drops));
    let _ = writeln!(
        out,
        "{:<16} {:<12} {:<6} {:>10} {:>9} {:>8}  reported",
        "peer", "node", "alive", "last_ms", "accepted", "dropped"
    );
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
            "{:<16} {:<12} {:<6} {:>10} {:>9} {:>8}  {reported}",
            peer.site,
            peer.node,
            alive,
            age,
            peer.heartbeats_accepted,
            peer.drops.total()
        );
    }
    out
}

/// " (bad_mac 2, stale 1)" for the reasons that occurred; empty when none did.
fn drop_reasons(drops: &DropCounters) -> String {
    let counted: Vec<String> = DropReason::ALL
        .iter()
        .filter(|reason| drops.get(**reason) > 0)
        .map(|reason| format!("{} {}", reason.as_str(), drops.get(*reason)))
        .collect();
    if counted.is_empty() { String::new() } else { format!(" ({})", counted.join(", ")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::PeerStatus;

    fn status() -> Status {
        Status {
            config_file: None,
            instance: "t".into(),
            xdp_mode: "off".into(),
            xdp_interfaces: Vec::new(),
            services: 1,
            map_entries: 0,
            sites: Vec::new(),
            peers: None,
            site_settings: Default::default(),
            signed_zones: Vec::new(),
            overrides: Vec::new(),
        }
    }

    #[test]
    fn overrides_are_listed_with_their_view_and_addresses() {
        let mut s = status();
        assert!(!render(&s).contains("override"), "no table without overrides");
        s.overrides = vec![crate::operator::Override {
            name: "www.example.com.".into(),
            qtype: crate::operator::Qtype::A,
            view: Some("eu".into()),
            ttl: 15,
            addrs: vec!["192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap()],
        }];
        let shown = render(&s);
        let row = shown.lines().find(|l| l.starts_with("www.example.com.")).expect("a row");
        for part in ["A", "eu", "15", "192.0.2.7, 192.0.2.8"] {
            assert!(row.contains(part), "{part}: {row}");
        }
    }

    #[test]
    fn signed_zones_show_their_keys_or_why_they_cannot_sign() {
        use crate::dnssec::status::SignedZoneStatus;
        let mut s = status();
        assert!(!render(&s).contains("signed zone"), "no table without signed zones");
        s.signed_zones = vec![
            SignedZoneStatus {
                zone: "example.com.".into(),
                algorithm: "ecdsap256sha256".into(),
                key_tags: vec![12345, 54321],
                signatures_cached: 7,
                signatures_made: 9,
                signs_failover_ahead: true,
                signed_ahead: Some(crate::dnssec::status::SignedAheadStatus {
                    at: 1,
                    sets: 6,
                    ready: 4,
                    no_room: 2,
                    stopped: false,
                }),
                problem: None,
            },
            SignedZoneStatus {
                zone: "example.org.".into(),
                algorithm: String::new(),
                key_tags: Vec::new(),
                signatures_cached: 0,
                signatures_made: 0,
                signs_failover_ahead: false,
                signed_ahead: None,
                problem: Some("key file gone".into()),
            },
        ];
        let text = render(&s);
        let row = text.lines().find(|l| l.starts_with("example.com.")).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["example.com.", "ecdsap256sha256", "12345,54321", "7", "9", "4/6", "sets", "(2", "without", "room)"]
        );
        assert!(text.contains("example.org.") && text.contains("unavailable: key file gone"), "{text}");
    }

    #[test]
    fn xdp_off_reads_as_words() {
        let text = render(&status());
        assert!(text.contains("xdp        off: userspace answers every query"), "{text}");
        let mut on = status();
        (on.xdp_mode, on.xdp_interfaces) = ("native".into(), vec!["veth0".into(), "veth1".into()]);
        assert!(render(&on).contains("xdp        native on veth0, veth1"));
    }

    #[test]
    fn peers_show_their_dropped_datagrams() {
        let mut drops = DropCounters::default();
        drops.count(DropReason::BadMac);
        drops.count(DropReason::BadMac);
        drops.count(DropReason::Stale);
        let peer = PeerStatus {
            site: "b".into(),
            node: "dns-b1".into(),
            address: "198.18.0.2:5300".parse().unwrap(),
            alive: true,
            last_heartbeat_age_ms: Some(120),
            periods_missed: 0,
            periods_since_heartbeat: Some(0),
            reported_state: None,
            boot_id: Some(1),
            last_sequence: Some(9),
            heartbeats_accepted: 9,
            drops: DropCounters { stale: 1, ..DropCounters::default() },
        };
        let peers = PeersStatus {
            site: "a".into(),
            node: "dns-a1".into(),
            listen: "198.18.0.1:5300".parse().unwrap(),
            period_ms: 1000,
            live_periods: 3,
            liveness_rule: Default::default(),
            boot_id: 2,
            heartbeats_sent: 10,
            key_ids: vec![1],
            peers: vec![peer],
            drops,
        };
        let text = render(&Status { peers: Some(peers), ..status() });
        assert!(text.contains("datagrams  3 dropped (bad_mac 2, stale 1)"), "{text}");
        let row = text.lines().find(|l| l.starts_with("b ")).expect("peer row");
        assert_eq!(row.split_whitespace().nth(5), Some("1"), "the peer's own drops: {row}");
    }
}
