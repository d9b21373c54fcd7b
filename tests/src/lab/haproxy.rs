//! The site's load balancer: HAProxy from Debian, its own config, run in the site's namespace.

use std::path::Path;

use super::{
    addresses::{STATS, SitePlan, WEB_PORTS},
    process::Process,
    web::server_name,
};
use crate::netns::Netns;

/// Backend name: what the daemon's `[site.haproxy]` reads from the stats.
pub const BACKEND: &str = "web";

/// Frontend on the site's VIP (both families), the two web app instances behind it with fast
/// health checks, and the CSV stats on the site's loopback.
pub fn config(site: &SitePlan) -> String {
    let servers: String = WEB_PORTS
        .iter()
        .enumerate()
        .map(|(i, port)| format!("    server {} 127.0.0.1:{port} check\n", server_name(i)))
        .collect();
    format!(
        "global
    maxconn 512

defaults
    mode http
    timeout connect 300ms
    timeout client 5s
    timeout server 3s
    # A request whose server went away is tried once more on the other one.
    retries 1
    option redispatch 1

frontend www
    bind {vip4}:80
    bind [{vip6}]:80
    default_backend {BACKEND}

backend {BACKEND}
    option httpchk GET /health
    default-server inter 100 fastinter 100 downinter 100 rise 2 fall 2
{servers}
listen stats
    bind {STATS}
    stats enable
    stats uri /stats
",
        vip4 = site.vip4,
        vip6 = site.vip6,
    )
}

/// `haproxy` on PATH or in /usr/sbin (root's PATH may lack it).
fn binary() -> Result<std::path::PathBuf, String> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/local/sbin"]) {
        let path = Path::new(dir).join("haproxy");
        if path.is_file() {
            return Ok(path);
        }
    }
    Err("haproxy not found: `cargo xtask demo` (or `cargo xtask test`) installs it from Debian's packages".into())
}

/// Writes the config into `dir` and runs HAProxy in the foreground (`-db`) in `ns`, waiting
/// until its stats page answers.
pub fn start(ns: &Netns, site: &SitePlan, dir: &Path) -> Result<Process, String> {
    let cfg = dir.join(format!("haproxy-{}.cfg", site.name));
    std::fs::write(&cfg, config(site)).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let log = dir.join(format!("haproxy-{}.log", site.name));
    let mut process =
        Process::start(ns, &format!("haproxy-{}", site.name), &binary()?, &["-db", "-f", cfg.to_str().unwrap()], log)?;
    super::http::wait_listening(ns, STATS.parse().unwrap(), || process.check_running())?;
    Ok(process)
}
