//! HAProxy from Debian's packages, run in a namespace with a config of our own (its own
//! service stays stopped), and the config lines of a database check backend.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use crate::{
    lab::{http::wait_listening, process::Process},
    netns::Netns,
};

/// How often HAProxy checks a backend's servers, and after how many results it changes its mind.
#[derive(Clone, Copy, Debug)]
pub struct CheckTiming {
    pub inter_ms: u64,
    pub rise: u32,
    pub fall: u32,
}

/// A backend whose health check is the database page: HAProxy GETs `uri` from each server and
/// marks it DOWN when the body lacks `keyword`. The database counts as available while one of
/// its servers is UP.
pub fn database_backend(
    name: &str,
    uri: &str,
    keyword: &str,
    servers: &[(String, SocketAddr)],
    t: CheckTiming,
) -> String {
    let servers: String = servers.iter().map(|(server, addr)| format!("    server {server} {addr} check\n")).collect();
    format!(
        "backend {name}
    option httpchk
    http-check send meth GET uri {uri}
    http-check expect string {keyword}
    default-server inter {inter} fastinter {inter} downinter {inter} rise {rise} fall {fall}
{servers}",
        inter = t.inter_ms,
        rise = t.rise,
        fall = t.fall,
    )
}

/// A `listen` section serving the CSV stats at `http://{address}/stats;csv`.
pub fn stats_section(address: SocketAddr) -> String {
    format!("listen stats\n    bind {address}\n    stats enable\n    stats uri /stats\n")
}

/// The `global` and `defaults` sections every config here starts with.
pub const DEFAULTS: &str = "global
    maxconn 512

defaults
    mode http
    timeout connect 300ms
    timeout client 5s
    timeout server 3s
";

/// `haproxy` on PATH or in /usr/sbin (root's PATH may lack it).
pub fn binary() -> Result<PathBuf, String> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/local/sbin"]) {
        let path = Path::new(dir).join("haproxy");
        if path.is_file() {
            return Ok(path);
        }
    }
    Err("haproxy not found: `cargo xtask demo` (or `cargo xtask test`) installs it from Debian's packages".into())
}

/// Writes `config` to `dir/haproxy-{name}.cfg` and runs HAProxy in the foreground (`-db`) in
/// `ns`, waiting until `stats` answers. Stopped by PID on drop.
pub fn start(ns: &Netns, name: &str, config: &str, dir: &Path, stats: SocketAddr) -> Result<Process, String> {
    let cfg = dir.join(format!("haproxy-{name}.cfg"));
    std::fs::write(&cfg, config).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let log = dir.join(format!("haproxy-{name}.log"));
    let args = ["-db", "-f", cfg.to_str().ok_or("config path is not UTF-8")?];
    let mut process = Process::start(ns, &format!("haproxy-{name}"), &binary()?, &args, log)?;
    wait_listening(ns, stats, || process.check_running())?;
    Ok(process)
}
