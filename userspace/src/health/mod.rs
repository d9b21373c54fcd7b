//! Health checking of sites: web servers, database, load balancer view.
//!
//! `HealthMonitor::start` spawns one Tokio task per check and publishes a
//! `BTreeMap<site, SiteState>` through a `watch` channel whenever a site's
//! availability changes, or its load/RTT moves noticeably (load by 25
//! per-mille, RTT by more than max(1 ms, 10 %)).
//!
//! Rules:
//! - a site with no checks (no servers, no database, no HAProxy) that is not
//!   remote is static: always available;
//! - a site is available while at least `min_servers_up` web servers (default
//!   one) are up and its database check (if configured) passes; an inverted
//!   check (`invert = true`) is up while its probe fails; the database check: the page fetched here, HAProxy's
//!   check of it (a backend with a server UP), or both combined (`all`/`any`);
//! - the first result of a check decides its state at once; afterwards
//!   `rise` consecutive successes bring it up and `fall` failures bring it down;
//! - `rtt_us` is the lowest smoothed (EWMA, weight 1/4) latency among the
//!   servers that are up; `load` is the site's configured `load`, else
//!   HAProxy's backend `scur * 1000 / slim`, else the mean `load=N` the
//!   external checks of up servers printed, else 0;
//! - every probe is bounded by its timeout (connect, redirects at most 3,
//!   body reads at most 64 KiB for the keyword, 4 MiB for HAProxy stats).
//!
//! Defaults: interval 200 ms, timeout 200 ms, rise 2, fall 2. A refused,
//! reset or 503 server is down after about 400 ms; a hanging one after at
//! most 600 ms (`ProbeSettings::worst_case_detection`).
//!
//! Configuration (all durations in milliseconds; unknown fields rejected):
//!
//! ```toml
//! [probe]                       # optional defaults for every check
//! exec_concurrency = 8          # external checks at once, daemon-wide
//! interval_ms = 200
//! timeout_ms = 200
//! rise = 2
//! fall = 2
//!
//! [[site]]
//! name = "a"
//! a = ["198.18.1.10"]           # addresses carried for the answers
//! aaaa = ["fd00:1::10"]
//! load = 300                    # optional fixed load, per-mille
//! min_servers_up = 1            # web servers that must be up
//!
//! [[site.server]]
//! name = "web1"
//! check = "http"                # "http" | "tcp" | "haproxy" | "exec"
//! url = "https://198.18.1.11:8443/health"
//! host = "www.example.com"      # SNI, Host and the name verified; the URL holds the address
//! method = "GET"
//! headers = { "X-Probe" = "1" }
//! expect_status = "200-299"     # 200, "200-299" or [200, "300-399"]; default 200
//! keyword = "ok"                # or body_regex = "..."
//! ca_file = "/etc/switchyard/ca.pem"
//! client_cert = "/etc/switchyard/probe.pem"
//! client_key = "/etc/switchyard/probe.key"
//! tls_skip_verify = false       # default false
//! invert = false                # up while the probe fails
//!
//! [[site.server]]
//! name = "app"
//! check = "exec"                # exit 0 = up; first output line load=N feeds the load
//! command = ["/usr/local/bin/check-app", "--port", "8080"]
//!
//! [[site.server]]
//! name = "web2"
//! check = "tcp"
//! address = "198.18.1.12:8080"  # IP:port, no name lookup
//! fall = 3                      # per-check interval_ms/timeout_ms/rise/fall
//!
//! [[site.server]]
//! name = "web3"
//! check = "haproxy"             # state taken from [site.haproxy]
//! haproxy_name = "web-3"        # default: name
//!
//! [site.database]
//! url = "http://198.18.1.11:8080/dbcheck"
//! name = "db-a"                 # database server; the default keyword
//! keyword = "db-a"              # optional; 200 without it = database down
//! haproxy_backend = "dbcheck"   # optional: HAProxy's check of the page, from its stats
//! combine = "all"               # with both sources: "all" must pass, or "any"
//!
//! [site.haproxy]                # optional
//! url = "http://198.18.1.1:8404/stats;csv"
//! backend = "web"
//!
//! [site.probe]                  # optional overrides for this site
//! timeout_ms = 150
//!
//! [[site]]
//! name = "b"
//! remote = true                 # not probed; see HealthMonitor::set_remote
//! a = ["198.18.2.10"]
//!
//! [[site]]
//! name = "c"                    # no checks: static, always available
//! a = ["198.18.3.10"]
//! ```

mod config;
mod database;
mod error;
mod exec_probe;
mod expect_status;
mod haproxy;
mod host_check;
mod http_check;
mod http_error;
mod http_probe;
mod monitor;
mod outcome;
mod plan;
mod runner;
mod shared;
mod site_runtime;
mod status;
mod tcp_probe;
mod tracker;

#[cfg(test)]
mod tests;

pub use config::{
    CheckKind, Combine, ConfigError, DEFAULT_FALL, DEFAULT_INTERVAL_MS, DEFAULT_RISE, DEFAULT_TIMEOUT_MS,
    DatabaseConfig, HaproxyConfig, HealthConfig, ProbeOverrides, ProbeSettings, SiteConfig, WebServerConfig,
};
pub use database::{DatabaseSource, DatabaseStatus};
pub use error::HealthError;
pub use exec_probe::{DEFAULT_EXEC_CONCURRENCY, ExecCheck, ExecResult, StderrLog, probe_exec};
pub use expect_status::ExpectStatus;
pub use haproxy::{BackendView, ServerView, StatsError, StatsPage, check_passes, parse_stats, status_is_up};
pub use http_check::{BodyMatch, HttpCheck, HttpCheckConfig, TlsOptions};
pub use http_probe::{ClientError, KEYWORD_BODY_LIMIT, build_client, plain_client, probe_http};
pub use monitor::{HealthMonitor, Restored};
pub use outcome::ProbeOutcome;
pub use status::{CheckStatus, HealthStatus, SiteStatus};
pub use tcp_probe::probe_tcp;
pub use tracker::{CheckTracker, Transition};
