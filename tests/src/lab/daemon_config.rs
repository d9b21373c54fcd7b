//! The Switchyard config of one site's DNS server: its own site probed through HAProxy's stats
//! and the database check page (site a fetches the page itself, site b reads HAProxy's check of
//! it), the other site known from its DNS server's heartbeats, and the site's database kept in
//! step with the other site's.

use std::{path::Path, time::Duration};

use switchyard::{config::fixture::ConfigText, health::ProbeSettings};

use super::{
    addresses::{DatabaseCheck, HEARTBEAT_PORT, STATS, STATUS_PORT, SYNC_PORT, SitePlan, WAN_IF, WEB_PORTS},
    database::ITEMS,
    haproxy::{BACKEND, DB_BACKEND, TIMING},
    web::server_name,
};

/// Fast enough that the story's failovers take well under a second.
pub const PROBE_INTERVAL_MS: u64 = 100;
pub const PROBE_TIMEOUT_MS: u64 = 300;
pub const RISE: u32 = 2;
pub const FALL: u32 = 2;
pub const PEER_PERIOD_MS: u64 = 100;
pub const LIVE_PERIODS: u64 = 3;

/// The longest a site's own DNS server may take to count its database down once the check
/// page lost its keyword: this daemon's worst case for a check (`ProbeSettings::
/// worst_case_detection`), after, through HAProxy, HAProxy's own `fall` failed checks `inter`
/// apart (a page without its keyword fails a check at once).
pub fn database_detection(site: &SitePlan) -> Duration {
    let probing = ProbeSettings {
        interval: Duration::from_millis(PROBE_INTERVAL_MS),
        timeout: Duration::from_millis(PROBE_TIMEOUT_MS),
        rise: RISE,
        fall: FALL,
    }
    .worst_case_detection();
    match site.database_check {
        DatabaseCheck::Page => probing,
        DatabaseCheck::Haproxy => probing + Duration::from_millis(TIMING.inter_ms * u64::from(TIMING.fall)),
    }
}

pub struct DaemonFiles<'a> {
    pub instance: &'a str,
    pub peer_key: &'a Path,
    /// `Some` when database sync is on: (database, sync key).
    pub sync: Option<(&'a Path, &'a Path)>,
}

pub fn config(site: &SitePlan, files: &DaemonFiles) -> String {
    let (own, other) = (site.name, site.other());
    let (node, listen) = (format!("dns-{own}1"), r#"listen = ["0.0.0.0", "::"]"#);
    let metrics = format!("metrics = \"{}:{STATUS_PORT}\"", site.dns4);
    let mut config = ConfigText::new()
        .server(files.instance, &[listen, &format!("site = {own:?}"), &format!("node = {node:?}"), &metrics])
        .xdp(WAN_IF, "native")
        .zone_with(&["ns1.example.com.", "ns2.example.com."], "")
        .table(
            "[probe]",
            &[
                &format!("interval_ms = {PROBE_INTERVAL_MS}"),
                &format!("timeout_ms = {PROBE_TIMEOUT_MS}"),
                &format!("rise = {RISE}"),
                &format!("fall = {FALL}"),
            ],
        )
        .site(own, &[site.vip4], &[site.vip6]);
    for i in 0..WEB_PORTS.len() {
        config = config.table("[[site.server]]", &[&format!("name = {:?}", server_name(i)), "check = \"haproxy\""]);
    }
    config = config.haproxy(&format!("http://{STATS}/stats;csv"), BACKEND);
    config = match site.database_check {
        DatabaseCheck::Page => config.database(&format!("http://{}/dbcheck", site.vip4), &site.db_name()),
        DatabaseCheck::Haproxy => config.database_from_haproxy(DB_BACKEND, &site.db_name()),
    };
    let mut text = config
        .remote_site(other.name, &[other.vip4])
        .line(&format!("aaaa = [{:?}]", other.vip6))
        .peers(&format!("{}:{HEARTBEAT_PORT}", site.dns4), &files.peer_key.display().to_string())
        .lines(&[&format!("period_ms = {PEER_PERIOD_MS}"), &format!("live_periods = {LIVE_PERIODS}")])
        .peer(other.name, &format!("dns-{}1", other.name), &format!("{}:{HEARTBEAT_PORT}", other.dns4))
        .service("www.example.com.", 1, &["a", "b"])
        .line("when_all_down = \"answer_all\"")
        .fixed_service("ns1.example.com.", &["198.18.0.11"], &[])
        .fixed_service("ns2.example.com.", &["198.18.0.21"], &[])
        .build();
    if let Some((database, key)) = files.sync {
        text.push_str(&format!(
            r#"
[sync]
database = "{database}"
listen = "{dns4}:{SYNC_PORT}"
key_file = "{key}"
interval_ms = 100
[[sync.table]]
name = "{ITEMS}"
[[sync.peer]]
site = "{peer}"
url = "http://{peer_dns4}:{SYNC_PORT}"
"#,
            database = database.display(),
            dns4 = site.dns4,
            key = key.display(),
            peer = other.name,
            peer_dns4 = other.dns4,
        ));
    }
    text
}
