//! The Switchyard config of one site's DNS server: its own site probed through HAProxy's stats
//! and the database check page, the other site known from its DNS server's heartbeats, and the
//! site's database kept in step with the other site's.

use std::path::Path;

use super::{
    addresses::{HEARTBEAT_PORT, STATS, SYNC_PORT, SitePlan, WAN_IF, WEB_PORTS},
    database::ITEMS,
    haproxy::BACKEND,
    web::server_name,
};

/// Fast enough that the story's failovers take well under a second.
pub const PROBE_INTERVAL_MS: u64 = 100;
pub const PEER_PERIOD_MS: u64 = 100;
pub const LIVE_PERIODS: u64 = 3;

pub struct DaemonFiles<'a> {
    pub instance: &'a str,
    pub peer_key: &'a Path,
    /// `Some` when database sync is on: (database, sync key).
    pub sync: Option<(&'a Path, &'a Path)>,
}

pub fn config(site: &SitePlan, files: &DaemonFiles) -> String {
    let other = site.other();
    let servers: String = (0..WEB_PORTS.len())
        .map(|i| format!("[[site.server]]\nname = \"{}\"\ncheck = \"haproxy\"\n", server_name(i)))
        .collect();
    let mut text = format!(
        r#"[server]
instance = "{instance}"
listen = ["0.0.0.0", "::"]
site = "{own}"
node = "dns-{own}1"

[xdp]
interfaces = ["{WAN_IF}"]
mode = "native"

[[zone]]
name = "example.com."
ns = ["ns1.example.com.", "ns2.example.com."]
soa = {{ mname = "ns1.example.com.", rname = "hostmaster.example.com." }}

[probe]
interval_ms = {PROBE_INTERVAL_MS}
timeout_ms = 300
rise = 2
fall = 2

[[site]]
name = "{own}"
a = ["{vip4}"]
aaaa = ["{vip6}"]
{servers}[site.haproxy]
url = "http://{STATS}/stats;csv"
backend = "{BACKEND}"
[site.database]
url = "http://{vip4}/dbcheck"
name = "{db}"

[[site]]
name = "{peer}"
remote = true
a = ["{peer_vip4}"]
aaaa = ["{peer_vip6}"]

[peers]
listen = "{dns4}:{HEARTBEAT_PORT}"
period_ms = {PEER_PERIOD_MS}
live_periods = {LIVE_PERIODS}
key_files = ["{peer_key}"]
[[peers.peer]]
site = "{peer}"
node = "dns-{peer}1"
address = "{peer_dns4}:{HEARTBEAT_PORT}"

[[service]]
name = "www.example.com."
ttl = 1
sites = ["a", "b"]
when_all_down = "answer_all"

[[service]]
name = "ns1.example.com."
a = ["198.18.0.11"]

[[service]]
name = "ns2.example.com."
a = ["198.18.0.21"]
"#,
        instance = files.instance,
        own = site.name,
        vip4 = site.vip4,
        vip6 = site.vip6,
        db = site.db_name(),
        peer = other.name,
        peer_vip4 = other.vip4,
        peer_vip6 = other.vip6,
        dns4 = site.dns4,
        peer_dns4 = other.dns4,
        peer_key = files.peer_key.display(),
    );
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
