//! The site's load balancer: HAProxy from Debian, its own config, run in the site's namespace.

use std::path::Path;

use super::{
    addresses::{DatabaseCheck, STATS, SitePlan, WEB_PORTS},
    process::Process,
    web::server_name,
};
use crate::{
    haproxy::{self, CheckTiming},
    netns::Netns,
};

/// Backend name: what the daemon's `[site.haproxy]` reads from the stats.
pub const BACKEND: &str = "web";
/// The backend whose health check is the database page (site b's daemon reads it).
pub const DB_BACKEND: &str = "dbcheck";
/// HAProxy's checks of both backends: every 100 ms, two results to change its mind.
pub const TIMING: CheckTiming = CheckTiming { inter_ms: 100, rise: 2, fall: 2 };

/// Frontend on the site's VIP (both families), the two web app instances behind it with fast
/// health checks, the database check backend where the site's daemon reads the database from
/// HAProxy, and the CSV stats on the site's loopback.
pub fn config(site: &SitePlan) -> String {
    let servers: String = WEB_PORTS
        .iter()
        .enumerate()
        .map(|(i, port)| format!("    server {} 127.0.0.1:{port} check\n", server_name(i)))
        .collect();
    let database = match site.database_check {
        DatabaseCheck::Page => String::new(),
        DatabaseCheck::Haproxy => {
            let servers: Vec<_> = WEB_PORTS
                .iter()
                .enumerate()
                .map(|(i, port)| (server_name(i), format!("127.0.0.1:{port}").parse().unwrap()))
                .collect();
            haproxy::database_backend(DB_BACKEND, "/dbcheck", &site.db_name(), &servers, TIMING) + "\n"
        }
    };
    format!(
        "{defaults}    # A request whose server went away is tried once more on the other one.
    retries 1
    option redispatch 1

frontend www
    bind {vip4}:80
    bind [{vip6}]:80
    default_backend {BACKEND}

backend {BACKEND}
    option httpchk GET /health
    default-server inter {inter} fastinter {inter} downinter {inter} rise {rise} fall {fall}
{servers}
{database}{stats}",
        defaults = haproxy::DEFAULTS,
        vip4 = site.vip4,
        vip6 = site.vip6,
        inter = TIMING.inter_ms,
        rise = TIMING.rise,
        fall = TIMING.fall,
        stats = haproxy::stats_section(STATS.parse().unwrap()),
    )
}

/// Writes the config into `dir` and runs HAProxy in `ns`, waiting until its stats page answers.
pub fn start(ns: &Netns, site: &SitePlan, dir: &Path) -> Result<Process, String> {
    haproxy::start(ns, site.name, &config(site), dir, STATS.parse().unwrap())
}
