//! Prometheus metrics on `[server] metrics`, in the text exposition format.
//!
//! Written by hand rather than with the `prometheus-client` crate: every value is a snapshot
//! of state the daemon already keeps (atomics, the monitor's status, the pinned counters map),
//! so a registry of metric objects would only duplicate it; the format itself is a few lines.

use std::{
    fmt::{Display, Write},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use axum::{extract::State, http::header, response::IntoResponse, routing::get};
use tracing::warn;

use super::reloadable::Reloadable;
use crate::{
    answers::{AnswerStats, RewriteCounters, Timeline},
    bpf::counters,
    dns::counters::ServerCounters,
    health::{DatabaseSource, HealthStatus, check_passes},
    operator,
    peers::{DropReason, PeerHandle},
    policy::DecisionKey,
    sync::SyncNode,
};

pub struct Sources {
    pub reloadable: Arc<Reloadable>,
    /// The config file a reload re-reads (absolute, for `switchyard status`).
    pub config_file: std::path::PathBuf,
    pub counters: Arc<ServerCounters>,
    pub rewrites: Arc<RewriteCounters>,
    pub answers: Arc<AnswerStats>,
    pub timeline: Arc<Timeline>,
    pub map_entries: Arc<AtomicUsize>,
    pub operator: Arc<operator::Handle>,
    /// Response rate limiting, for `switchyard rrl`.
    pub rrl: Arc<crate::rrl::Rrl>,
    /// What the servers answer from, for the signed zones' status.
    pub served: Arc<arc_swap::ArcSwap<crate::answers::Served>>,
}

/// Serves `GET /metrics` and the status page until the task is aborted.
pub fn serve(listener: std::net::TcpListener, sources: Arc<Sources>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = super::metrics_listener::BoundedListener::new(tokio::net::TcpListener::from_std(listener)?);
    let router = super::status_page::routes().route("/metrics", get(metrics)).with_state(sources);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            warn!(error = %e, "metrics server stopped");
        }
    }))
}

async fn metrics(State(sources): State<Arc<Sources>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], render(&sources).await)
}

pub async fn render(s: &Sources) -> String {
    let mut out = Exposition::default();
    let config = s.reloadable.config.load();
    if config.xdp.mode != crate::config::XdpMode::Off {
        xdp(&mut out, &config.server.pin_dir());
    }
    userspace(&mut out, &s.counters);
    sites(&mut out, s);
    rewrites(&mut out, s);
    answers(&mut out, &s.answers, &s.operator.current().overrides);
    dnssec(&mut out, &crate::dnssec::status::of(&s.served.load().zones));
    if let Some(peers) = s.reloadable.peers.load_full() {
        self::peers(&mut out, &peers);
    }
    if let Some(sync) = s.reloadable.sync.load_full() {
        self::sync(&mut out, &sync).await;
    }
    out.0
}

fn xdp(out: &mut Exposition, pin_dir: &Path) {
    out.family("switchyard_xdp_packets_total", "counter", "Packets seen by the XDP program, by outcome.");
    match counters::read(pin_dir) {
        Ok(values) => {
            values.iter().for_each(|(name, v)| out.sample("switchyard_xdp_packets_total", &[("outcome", name)], v))
        }
        Err(e) => warn!(error = %e, "XDP counters not read for metrics"),
    }
}

fn userspace(out: &mut Exposition, counters: &ServerCounters) {
    let u = counters.snapshot();
    out.family(
        "switchyard_userspace_queries_total",
        "counter",
        "Queries received by the userspace server, by transport.",
    );
    out.sample("switchyard_userspace_queries_total", &[("transport", "udp")], u.udp);
    out.sample("switchyard_userspace_queries_total", &[("transport", "tcp")], u.tcp);
    out.family(
        "switchyard_userspace_responses_total",
        "counter",
        "Queries handled by the userspace server, by outcome.",
    );
    for (outcome, v) in [
        ("answered", u.answered),
        ("nodata", u.nodata),
        ("nxdomain", u.nxdomain),
        ("refused", u.refused),
        ("formerr", u.formerr),
        ("notimp", u.notimp),
        ("badvers", u.badvers),
        ("notauth", u.notauth),
        ("dropped", u.dropped),
        ("servfail", u.servfail),
        ("rrl_dropped", u.rrl_dropped),
        ("rrl_slipped", u.rrl_slipped),
        ("rrl_exempt", u.rrl_exempt),
    ] {
        out.sample("switchyard_userspace_responses_total", &[("outcome", outcome)], v);
    }
    out.family(
        "switchyard_userspace_cookie_valid_total",
        "counter",
        "Queries to the userspace server that carried a valid server cookie of ours.",
    );
    out.sample("switchyard_userspace_cookie_valid_total", &[], u.cookie_valid);
    out.family(
        "switchyard_userspace_tcp_refused_total",
        "counter",
        "TCP connections closed at once: the bound on connections in all or per client address was reached.",
    );
    out.sample("switchyard_userspace_tcp_refused_total", &[], u.tcp_refused);
}

fn dnssec(out: &mut Exposition, zones: &[crate::dnssec::status::SignedZoneStatus]) {
    if zones.is_empty() {
        return;
    }
    out.family("switchyard_dnssec_keys", "gauge", "Keys signing the zone (two during a rollover, 0 when unavailable).");
    out.family("switchyard_dnssec_signatures_cached", "gauge", "RRsets of the zone with signatures made.");
    out.family(
        "switchyard_dnssec_signatures_made_total",
        "counter",
        "Signatures made since the zone's keys were loaded.",
    );
    out.family(
        "switchyard_dnssec_failover_sets",
        "gauge",
        "Answer sets one site's change of availability would give, as the last pass signing ahead found them.",
    );
    out.family("switchyard_dnssec_failover_sets_ready", "gauge", "Of those, the sets with signatures made.");
    for zone in zones {
        let labels = [("zone", zone.zone.as_str())];
        out.sample("switchyard_dnssec_keys", &labels, zone.key_tags.len());
        out.sample("switchyard_dnssec_signatures_cached", &labels, zone.signatures_cached);
        out.sample("switchyard_dnssec_signatures_made_total", &labels, zone.signatures_made);
        if let Some(ahead) = &zone.signed_ahead {
            out.sample("switchyard_dnssec_failover_sets", &labels, ahead.sets);
            out.sample("switchyard_dnssec_failover_sets_ready", &labels, ahead.ready);
        }
    }
}

fn peers(out: &mut Exposition, peers: &PeerHandle) {
    let status = peers.status();
    out.family("switchyard_peer_heartbeats_sent_total", "counter", "Heartbeats sent to the peers.");
    out.sample("switchyard_peer_heartbeats_sent_total", &[], status.heartbeats_sent);
    out.family("switchyard_peer_alive", "gauge", "1 while the peer's DNS server is alive.");
    out.family("switchyard_peer_heartbeats_accepted_total", "counter", "Authentic heartbeats accepted from the peer.");
    out.family("switchyard_peer_last_heartbeat_age_seconds", "gauge", "Time since the peer's last heartbeat.");
    out.family(
        "switchyard_peer_datagrams_dropped_total",
        "counter",
        "Datagrams on the heartbeat socket that were not taken, by reason (from any sender).",
    );
    for reason in DropReason::ALL {
        out.sample("switchyard_peer_datagrams_dropped_total", &[("reason", reason.as_str())], status.drops.get(reason));
    }
    for p in &status.peers {
        let labels = [("site", p.site.as_str()), ("node", p.node.as_str())];
        out.sample("switchyard_peer_alive", &labels, u8::from(p.alive));
        out.sample("switchyard_peer_heartbeats_accepted_total", &labels, p.heartbeats_accepted);
        if let Some(age) = p.last_heartbeat_age_ms {
            out.sample("switchyard_peer_last_heartbeat_age_seconds", &labels, age as f64 / 1000.0);
        }
    }
}

async fn sync(out: &mut Exposition, sync: &SyncNode) {
    match sync.status().await {
        Ok(status) => sync_metrics(out, &status),
        Err(e) => warn!(error = %e, "sync status not read for metrics"),
    }
}

fn sync_metrics(out: &mut Exposition, status: &crate::sync::SyncStatus) {
    out.family("switchyard_sync_backlog", "gauge", "Captured changes the peer has not acknowledged.");
    out.family("switchyard_sync_lag_seconds", "gauge", "Age of the oldest change the peer has not acknowledged.");
    out.family("switchyard_sync_conflicts_total", "counter", "Conflicts found applying the peer's batches.");
    out.family(
        "switchyard_sync_divergent_rows",
        "gauge",
        "Rows that differed from the peer at the last anti-entropy check.",
    );
    out.family("switchyard_sync_repairs_total", "counter", "Rows repaired by anti-entropy with the peer.");
    for p in &status.peers {
        let labels = [("peer", p.site_id.as_str())];
        out.sample("switchyard_sync_backlog", &labels, p.backlog);
        out.sample("switchyard_sync_lag_seconds", &labels, p.lag_ms / 1000.0);
        out.sample("switchyard_sync_conflicts_total", &labels, p.conflicts);
        out.sample("switchyard_sync_divergent_rows", &labels, p.divergent_rows);
        out.sample("switchyard_sync_repairs_total", &labels, p.repairs_total);
    }
    out.family("switchyard_sync_quarantined_total", "counter", "Changes set aside in the quarantine.");
    out.sample("switchyard_sync_quarantined_total", &[], status.quarantined_total);
    out.family("switchyard_sync_quarantine_entries", "gauge", "Changes in the quarantine now.");
    out.sample("switchyard_sync_quarantine_entries", &[], status.quarantined_now);
    out.family("switchyard_sync_rejected_requests_total", "counter", "Requests the sync endpoint refused, by reason.");
    for (reason, count) in &status.rejected {
        out.sample("switchyard_sync_rejected_requests_total", &[("reason", reason.as_str())], *count);
    }
}

fn sites(out: &mut Exposition, s: &Sources) {
    let status = s.reloadable.monitor.load().status();
    let operator = s.operator.current();
    out.family(
        "switchyard_site_available",
        "gauge",
        "1 while the site can serve, as its checks or its peer say (before drains).",
    );
    out.family("switchyard_site_load_permille", "gauge", "The site's load, per mille.");
    out.family("switchyard_site_rtt_seconds", "gauge", "Smoothed probe RTT to the site.");
    out.family("switchyard_site_drained", "gauge", "1 while an operator drained the site.");
    out.family("switchyard_site_weight_percent", "gauge", "The operator's weight of the site.");
    for site in &status.sites {
        let labels = [("site", site.name.as_str())];
        let setting = operator.site(&site.name);
        out.sample("switchyard_site_available", &labels, u8::from(site.state.available));
        out.sample("switchyard_site_load_permille", &labels, site.state.load);
        out.sample("switchyard_site_rtt_seconds", &labels, site.state.rtt_us as f64 / 1e6);
        out.sample("switchyard_site_drained", &labels, u8::from(setting.drained));
        out.sample("switchyard_site_weight_percent", &labels, setting.weight);
    }
    checks(out, &status);
    databases(out, &status);
    out.family("switchyard_answer_overrides", "gauge", "Answers set by an operator (`switchyard map set`).");
    out.sample("switchyard_answer_overrides", &[], operator.overrides.len());
}

fn checks(out: &mut Exposition, status: &HealthStatus) {
    out.family(
        "switchyard_check_up",
        "gauge",
        "1 while the check passes, 0 while it fails (absent before its first result).",
    );
    out.family("switchyard_check_probes_total", "counter", "Probes run by the check.");
    out.family("switchyard_check_transitions_total", "counter", "Up/down changes of the check.");
    out.family("switchyard_check_latency_seconds", "gauge", "Latency of the check's last successful probe.");
    out.family("switchyard_check_rtt_ewma_seconds", "gauge", "Smoothed latency of the check's probes.");
    for site in &status.sites {
        for check in site.checks() {
            let labels = [("site", site.name.as_str()), ("check", check.name.as_str()), ("kind", check.kind.as_str())];
            if let Some(up) = check.up {
                out.sample("switchyard_check_up", &labels, u8::from(up));
            }
            out.sample("switchyard_check_probes_total", &labels, check.probes);
            out.sample("switchyard_check_transitions_total", &labels, check.transitions);
            if let Some(us) = check.last_latency_us {
                out.sample("switchyard_check_latency_seconds", &labels, us as f64 / 1e6);
            }
            if let Some(us) = check.rtt_ewma_us {
                out.sample("switchyard_check_rtt_ewma_seconds", &labels, us as f64 / 1e6);
            }
        }
    }
    haproxy_servers(out, status);
}

/// What HAProxy's stats said about the servers behind the checks read from them.
fn haproxy_servers(out: &mut Exposition, status: &HealthStatus) {
    out.family(
        "switchyard_check_haproxy_server_up",
        "gauge",
        "1 while HAProxy reports the server behind a check UP (its own health check passing).",
    );
    out.family(
        "switchyard_check_haproxy_last_check_info",
        "gauge",
        "HAProxy's status and own last health check of the server (check_status, check_code).",
    );
    for site in &status.sites {
        for check in site.checks() {
            for server in &check.haproxy_servers {
                let labels = [
                    ("site", site.name.as_str()),
                    ("check", &check.name),
                    ("kind", &check.kind),
                    ("server", &server.name),
                ];
                out.sample("switchyard_check_haproxy_server_up", &labels, u8::from(check_passes(&server.status)));
                let info = [
                    ("site", site.name.as_str()),
                    ("check", &check.name),
                    ("kind", &check.kind),
                    ("server", &server.name),
                    ("status", &server.status),
                    ("check_status", server.check_status.as_deref().unwrap_or("")),
                    ("check_code", server.check_code.as_deref().unwrap_or("")),
                ];
                out.sample("switchyard_check_haproxy_last_check_info", &info, 1);
            }
        }
    }
}

/// Each database's state and the sources that decided it.
fn databases(out: &mut Exposition, status: &HealthStatus) {
    out.family("switchyard_database_up", "gauge", "1 while the site's database check passes, from all its sources.");
    out.family(
        "switchyard_database_decided_by",
        "gauge",
        "1 for the source (page, haproxy) whose result decided the database's state, 0 for one that did not.",
    );
    for site in &status.sites {
        let Some(database) = &site.database_state else {
            continue;
        };
        let labels = [("site", site.name.as_str()), ("database", database.name.as_str())];
        out.sample("switchyard_database_up", &labels, u8::from(database.up));
        let configured = [
            (DatabaseSource::Page, site.database.is_some()),
            (DatabaseSource::Haproxy, site.database_haproxy.is_some()),
        ];
        for (source, _) in configured.into_iter().filter(|(_, present)| *present) {
            let labels =
                [("site", site.name.as_str()), ("database", database.name.as_str()), ("source", source.name())];
            out.sample("switchyard_database_decided_by", &labels, u8::from(database.decided_by.contains(&source)));
        }
    }
}

/// Per site-based service, family and view: the site the policy answers first, the addresses
/// clients get (an override's, when one replaces the policy's answer) and the answer's changes.
fn answers(out: &mut Exposition, stats: &AnswerStats, overrides: &[operator::Override]) {
    out.family(
        "switchyard_answer_first_site",
        "gauge",
        "1 for the site the policy answers a service with first (per family and view), before a weighted first answer.",
    );
    out.family(
        "switchyard_answer_addresses",
        "gauge",
        "Addresses in a service's answer as served (an override's, when set).",
    );
    out.family(
        "switchyard_answer_overridden",
        "gauge",
        "1 while an answer set by an operator (`switchyard map set`) replaces the policy's answer.",
    );
    out.family("switchyard_answer_changes_total", "counter", "Times the policy's answer for a service changed.");
    for (key, answer) in stats.snapshot() {
        let family = key.family.record_type();
        let view = key.view.as_deref().unwrap_or("default");
        let labels = [("service", &*key.service), ("family", family), ("view", view)];
        if let Some(site) = answer.sites.first() {
            let [service, family, view] = labels;
            out.sample("switchyard_answer_first_site", &[service, family, view, ("site", site)], 1);
        }
        let by_hand = override_of(overrides, &key);
        out.sample("switchyard_answer_addresses", &labels, by_hand.map_or(answer.addresses.len(), |o| o.addrs.len()));
        out.sample("switchyard_answer_overridden", &labels, u8::from(by_hand.is_some()));
        out.sample("switchyard_answer_changes_total", &labels, answer.changes);
    }
}

/// The override that replaces the answer `key` names, if one does.
fn override_of<'o>(overrides: &'o [operator::Override], key: &DecisionKey) -> Option<&'o operator::Override> {
    let name = crate::config::parse_name(&key.service).ok()?.to_lowercase().to_ascii();
    let view = key.view.as_deref();
    overrides.iter().find(|o| o.name == name && o.qtype.code() == key.family.code() && o.view.as_deref() == view)
}

fn rewrites(out: &mut Exposition, s: &Sources) {
    let r = &s.rewrites;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let rows: [(&str, &str, &str, f64); 7] = [
        ("switchyard_map_rewrites_total", "counter", "Rewrites of the XDP answer map.", get(&r.rewrites) as f64),
        (
            "switchyard_map_rewrite_failures_total",
            "counter",
            "Rewrites that failed (userspace kept serving).",
            get(&r.failures) as f64,
        ),
        (
            "switchyard_map_entries_written_total",
            "counter",
            "Answer map entries written.",
            get(&r.entries_written) as f64,
        ),
        (
            "switchyard_map_entries_removed_total",
            "counter",
            "Answer map entries removed.",
            get(&r.entries_removed) as f64,
        ),
        (
            "switchyard_map_rewrite_seconds_total",
            "counter",
            "Time spent rewriting the answer map.",
            get(&r.micros_total) as f64 / 1e6,
        ),
        (
            "switchyard_map_last_rewrite_seconds",
            "gauge",
            "Duration of the last rewrite.",
            get(&r.last_micros) as f64 / 1e6,
        ),
        (
            "switchyard_map_entries",
            "gauge",
            "Entries in the XDP answer map.",
            s.map_entries.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (name, kind, help, value) in rows {
        out.family(name, kind, help);
        out.sample(name, &[], value);
    }
}

#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.0, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_escaped_labels() {
        let mut out = Exposition::default();
        out.family("x_total", "counter", "An example.");
        out.sample("x_total", &[("site", "a\"b")], 3);
        out.sample("x_total", &[], 1.5);
        assert_eq!(
            out.0,
            "# HELP x_total An example.\n# TYPE x_total counter\nx_total{site=\"a\\\"b\"} 3\nx_total 1.5\n"
        );
    }

    #[test]
    fn signed_zones_report_their_keys_and_signatures() {
        let zone = crate::dnssec::status::SignedZoneStatus {
            zone: "example.com.".into(),
            algorithm: "ed25519".into(),
            key_tags: vec![1, 2],
            signatures_cached: 40,
            signatures_made: 52,
            signs_failover_ahead: true,
            signed_ahead: Some(crate::dnssec::status::SignedAheadStatus {
                at: 1,
                sets: 12,
                ready: 11,
                no_room: 1,
                stopped: false,
            }),
            problem: None,
        };
        let mut out = Exposition::default();
        dnssec(&mut out, &[]);
        assert!(out.0.is_empty(), "nothing without signed zones");
        dnssec(&mut out, &[zone]);
        assert!(out.0.contains("switchyard_dnssec_keys{zone=\"example.com.\"} 2\n"), "{}", out.0);
        assert!(out.0.contains("switchyard_dnssec_signatures_cached{zone=\"example.com.\"} 40\n"), "{}", out.0);
        assert!(out.0.contains("switchyard_dnssec_signatures_made_total{zone=\"example.com.\"} 52\n"), "{}", out.0);
        assert!(out.0.contains("switchyard_dnssec_failover_sets{zone=\"example.com.\"} 12\n"), "{}", out.0);
        assert!(out.0.contains("switchyard_dnssec_failover_sets_ready{zone=\"example.com.\"} 11\n"), "{}", out.0);
    }
}
