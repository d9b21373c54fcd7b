//! Health-check configuration as read from `[probe]` and `[[site]]` tables.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::site::SiteAddresses;

/// Defaults chosen so that a dead server is noticed and one more interval
/// passes in well under a second (see `ProbeSettings::worst_case_detection`):
/// with fast failures (refused, reset, 503) detection takes about
/// `fall * interval` = 400 ms; with a hanging server at most
/// `interval + fall * max(interval, timeout)` = 600 ms.
pub const DEFAULT_INTERVAL_MS: u64 = 200;
pub const DEFAULT_TIMEOUT_MS: u64 = 200;
pub const DEFAULT_RISE: u32 = 2;
pub const DEFAULT_FALL: u32 = 2;

const MIN_INTERVAL_MS: u64 = 10;
const MAX_TIMEOUT_MS: u64 = 60_000;

/// Everything the health monitor needs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Probe defaults for every check (`[probe]`).
    #[serde(default)]
    pub probe: ProbeOverrides,
    #[serde(default, rename = "site")]
    pub sites: Vec<SiteConfig>,
}

/// Optional probe timing; unset fields fall back to the enclosing level
/// (check → `[site.probe]` → `[probe]` → built-in defaults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeOverrides {
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    /// Consecutive successes that bring a down check up.
    pub rise: Option<u32>,
    /// Consecutive failures that bring an up check down.
    pub fall: Option<u32>,
}

/// One site: a load balancer, web servers and a database.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    /// IPv4 addresses this site contributes to answers.
    #[serde(default)]
    pub a: Vec<Ipv4Addr>,
    /// IPv6 addresses this site contributes to answers.
    #[serde(default)]
    pub aaaa: Vec<Ipv6Addr>,
    /// Not probed here; its state comes from `HealthMonitor::set_remote`.
    #[serde(default)]
    pub remote: bool,
    /// Fixed load in per-mille; wins over the load HAProxy reports.
    #[serde(default)]
    pub load: Option<u32>,
    #[serde(default, rename = "server")]
    pub servers: Vec<WebServerConfig>,
    #[serde(default)]
    pub database: Option<DatabaseConfig>,
    #[serde(default)]
    pub haproxy: Option<HaproxyConfig>,
    #[serde(default)]
    pub probe: ProbeOverrides,
}

/// How a web server is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// TCP connect to `address`.
    Tcp,
    /// HTTP(S) GET of `url`, expecting `expect_status`.
    Http,
    /// The server's status in the site's HAProxy stats (`[site.haproxy]`).
    Haproxy,
}

impl CheckKind {
    /// As written in the config.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Haproxy => "haproxy",
        }
    }
}

/// One web server of a site (`[[site.server]]`) and how it is checked.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebServerConfig {
    pub name: String,
    pub check: CheckKind,
    /// `check = "tcp"`: IP and port (no name lookup, so DNS never depends on DNS).
    #[serde(default)]
    pub address: Option<SocketAddr>,
    /// `check = "http"`: http:// or https:// URL.
    #[serde(default)]
    pub url: Option<String>,
    /// `check = "http"`: expected status, default 200.
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// `check = "haproxy"`: the server's name in HAProxy, default `name`.
    #[serde(default)]
    pub haproxy_name: Option<String>,
    /// `check = "http"`: accept any certificate (self-signed internal servers).
    #[serde(default)]
    pub tls_skip_verify: bool,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
}

/// How the site's database is checked: a page that makes a web server query the database
/// (`url`; it must answer `expect_status` with a body containing `keyword`), the site's HAProxy
/// checking that page itself (`haproxy_backend`), or both, combined as `combine` says.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// The database page, fetched by this daemon.
    #[serde(default)]
    pub url: Option<String>,
    /// The database server's name; the default keyword.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub keyword: Option<String>,
    #[serde(default)]
    pub expect_status: Option<u16>,
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// A backend of the site's HAProxy (`[site.haproxy]`) whose health check is the database
    /// page: the database is available while at least one of its servers is UP.
    #[serde(default)]
    pub haproxy_backend: Option<String>,
    /// Required when both `url` and `haproxy_backend` are set.
    #[serde(default)]
    pub combine: Option<Combine>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
}

/// How the database's two sources, the page and HAProxy's check of it, make one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Both must pass.
    All,
    /// Either is enough.
    Any,
}

impl Combine {
    /// As written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Combine::All => "all",
            Combine::Any => "any",
        }
    }
}

/// HAProxy's CSV stats page (`…/stats;csv`) and the backend to read.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HaproxyConfig {
    pub url: String,
    pub backend: String,
    #[serde(default)]
    pub tls_skip_verify: bool,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
}

/// Fully resolved probe timing of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ProbeSettings {
    #[serde(rename = "interval_ms", serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub interval: Duration,
    #[serde(rename = "timeout_ms", serialize_with = "as_millis", deserialize_with = "from_millis")]
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_millis() as u64)
}

/// The reverse of `as_millis`, so that a status read back over the admin socket parses.
fn from_millis<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            interval: Duration::from_millis(DEFAULT_INTERVAL_MS),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
        }
    }
}

impl ProbeSettings {
    /// Settings after applying `overrides` on top of `self`.
    pub fn with(self, overrides: ProbeOverrides) -> Self {
        ProbeSettings {
            interval: overrides.interval_ms.map_or(self.interval, Duration::from_millis),
            timeout: overrides.timeout_ms.map_or(self.timeout, Duration::from_millis),
            rise: overrides.rise.unwrap_or(self.rise),
            fall: overrides.fall.unwrap_or(self.fall),
        }
    }

    /// Longest time from a server hanging until it is marked down: the next
    /// probe starts within one interval, then `fall` probes each take the
    /// timeout, and a probe starts no earlier than one interval after the
    /// previous one started.
    pub fn worst_case_detection(&self) -> Duration {
        self.interval + self.interval.max(self.timeout) * (self.fall.max(1) - 1) + self.timeout
    }
}

impl WebServerConfig {
    pub fn overrides(&self) -> ProbeOverrides {
        ProbeOverrides { interval_ms: self.interval_ms, timeout_ms: self.timeout_ms, rise: self.rise, fall: self.fall }
    }

    /// The name HAProxy knows this server by.
    pub fn haproxy_name(&self) -> &str {
        self.haproxy_name.as_deref().unwrap_or(&self.name)
    }
}

impl DatabaseConfig {
    pub fn overrides(&self) -> ProbeOverrides {
        ProbeOverrides { interval_ms: self.interval_ms, timeout_ms: self.timeout_ms, rise: self.rise, fall: self.fall }
    }

    /// The keyword the page must contain: `keyword`, else the database name.
    pub fn effective_keyword(&self) -> Option<&str> {
        self.keyword.as_deref().or(self.name.as_deref())
    }

    /// The name in logs, status and metrics: `name`, else "database".
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("database")
    }
}

impl HaproxyConfig {
    pub fn overrides(&self) -> ProbeOverrides {
        ProbeOverrides { interval_ms: self.interval_ms, timeout_ms: self.timeout_ms, rise: self.rise, fall: self.fall }
    }
}

impl HealthConfig {
    /// Probe settings of a site, before per-check overrides.
    pub fn site_settings(&self, site: &SiteConfig) -> ProbeSettings {
        ProbeSettings::default().with(self.probe).with(site.probe)
    }

    /// Addresses per site, as `crate::policy::Policy::new` wants them.
    pub fn site_addresses(&self) -> BTreeMap<String, SiteAddresses> {
        self.sites
            .iter()
            .map(|site| (site.name.clone(), SiteAddresses { a: site.a.clone(), aaaa: site.aaaa.clone() }))
            .collect()
    }

    /// Checks the whole configuration; the error names the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_overrides("probe", self.probe)?;
        let mut names = BTreeSet::new();
        for (index, site) in self.sites.iter().enumerate() {
            let at = format!("site[{index}]");
            if site.name.trim().is_empty() {
                return Err(invalid(format!("{at}.name"), "must not be empty"));
            }
            if !names.insert(site.name.as_str()) {
                return Err(invalid(format!("{at}.name"), format!("duplicate site '{}'", site.name)));
            }
            site.validate(&format!("site[{index}] ('{}')", site.name))?;
            let settings = self.site_settings(site);
            for (server_index, server) in site.servers.iter().enumerate() {
                check_timing(&format!("{at}.server[{server_index}]"), settings.with(server.overrides()))?;
            }
            if let Some(database) = &site.database {
                check_timing(&format!("{at}.database"), settings.with(database.overrides()))?;
            }
            if let Some(haproxy) = &site.haproxy {
                check_timing(&format!("{at}.haproxy"), settings.with(haproxy.overrides()))?;
            }
        }
        Ok(())
    }
}

impl SiteConfig {
    /// No checks and not remote: nothing can take it down, so it is always available.
    pub fn is_static(&self) -> bool {
        !self.remote && self.servers.is_empty() && self.database.is_none() && self.haproxy.is_none()
    }

    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        check_overrides(&format!("{at}.probe"), self.probe)?;
        if let Some(load) = self.load
            && load > 1000
        {
            return Err(invalid(format!("{at}.load"), format!("{load} is over 1000 per-mille")));
        }
        if self.remote {
            for (present, field) in [
                (!self.servers.is_empty(), "server"),
                (self.database.is_some(), "database"),
                (self.haproxy.is_some(), "haproxy"),
            ] {
                if present {
                    return Err(invalid(format!("{at}.{field}"), "a remote site is not probed here"));
                }
            }
            return Ok(());
        }
        if self.is_static() {
            return Ok(());
        }
        if self.servers.is_empty() {
            return Err(invalid(format!("{at}.server"), "a probed site needs at least one server"));
        }
        let mut names = BTreeSet::new();
        for (index, server) in self.servers.iter().enumerate() {
            let at = format!("{at}.server[{index}]");
            if !names.insert(server.name.as_str()) {
                return Err(invalid(format!("{at}.name"), format!("duplicate server '{}'", server.name)));
            }
            server.validate(&at, self.haproxy.is_some())?;
        }
        if let Some(database) = &self.database {
            database.validate(&format!("{at}.database"), self.haproxy.is_some())?;
        }
        if let Some(haproxy) = &self.haproxy {
            check_url(&format!("{at}.haproxy.url"), &haproxy.url)?;
            if haproxy.backend.trim().is_empty() {
                return Err(invalid(format!("{at}.haproxy.backend"), "must not be empty"));
            }
        }
        Ok(())
    }
}

impl WebServerConfig {
    fn validate(&self, at: &str, site_has_haproxy: bool) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(invalid(format!("{at}.name"), "must not be empty"));
        }
        let check = self.check.name();
        let wrong = |field: &str| invalid(format!("{at}.{field}"), format!("not used by check = \"{check}\""));
        let missing = |field: &str| invalid(format!("{at}.{field}"), format!("required by check = \"{check}\""));
        match self.check {
            CheckKind::Tcp => {
                if self.address.is_none() {
                    return Err(missing("address"));
                }
                if self.url.is_some() {
                    return Err(wrong("url"));
                }
                if self.expect_status.is_some() {
                    return Err(wrong("expect_status"));
                }
            }
            CheckKind::Http => {
                let Some(url) = &self.url else {
                    return Err(missing("url"));
                };
                check_url(&format!("{at}.url"), url)?;
                if self.address.is_some() {
                    return Err(wrong("address"));
                }
                if let Some(status) = self.expect_status {
                    check_status(&format!("{at}.expect_status"), status)?;
                }
            }
            CheckKind::Haproxy => {
                if !site_has_haproxy {
                    return Err(invalid(format!("{at}.check"), "\"haproxy\" needs a [site.haproxy] table"));
                }
                if self.address.is_some() {
                    return Err(wrong("address"));
                }
                if self.url.is_some() {
                    return Err(wrong("url"));
                }
                if self.expect_status.is_some() {
                    return Err(wrong("expect_status"));
                }
            }
        }
        if self.check != CheckKind::Haproxy && self.haproxy_name.is_some() {
            return Err(wrong("haproxy_name"));
        }
        Ok(())
    }
}

impl DatabaseConfig {
    fn validate(&self, at: &str, site_has_haproxy: bool) -> Result<(), ConfigError> {
        self.validate_sources(at, site_has_haproxy)?;
        match &self.url {
            Some(url) => self.validate_page(at, url),
            None => self.validate_without_page(at),
        }
    }

    /// At least one source; with two, the operator says how they combine.
    fn validate_sources(&self, at: &str, site_has_haproxy: bool) -> Result<(), ConfigError> {
        if let Some(backend) = &self.haproxy_backend {
            if backend.trim().is_empty() {
                return Err(invalid(format!("{at}.haproxy_backend"), "must not be empty"));
            }
            if !site_has_haproxy {
                return Err(invalid(
                    format!("{at}.haproxy_backend"),
                    "needs a [site.haproxy] table: the stats page HAProxy reports the backend on",
                ));
            }
        }
        match (&self.url, &self.haproxy_backend, self.combine) {
            (None, None, _) => Err(invalid(
                format!("{at}.url"),
                "set url (the database page, checked here) or haproxy_backend (HAProxy's check of it)",
            )),
            (Some(_), Some(backend), None) => Err(invalid(
                format!("{at}.combine"),
                format!(
                    "both url (the database page, checked here) and haproxy_backend (HAProxy's backend \
                     '{backend}') are set: say how to combine them, combine = \"all\" (both must pass) or \
                     combine = \"any\" (either is enough)"
                ),
            )),
            (None, Some(_), Some(_)) | (Some(_), None, Some(_)) => {
                Err(invalid(format!("{at}.combine"), "only used when both url and haproxy_backend are set"))
            }
            _ => Ok(()),
        }
    }

    fn validate_page(&self, at: &str, url: &str) -> Result<(), ConfigError> {
        check_url(&format!("{at}.url"), url)?;
        match self.effective_keyword() {
            None => return Err(invalid(format!("{at}.keyword"), "set keyword or name")),
            Some("") => return Err(invalid(format!("{at}.keyword"), "must not be empty")),
            Some(_) => {}
        }
        if let Some(status) = self.expect_status {
            check_status(&format!("{at}.expect_status"), status)?;
        }
        Ok(())
    }

    /// Only HAProxy's check: what the page must hold is in HAProxy's config (`http-check
    /// expect`), and the backend is read with each fetch of the stats page.
    fn validate_without_page(&self, at: &str) -> Result<(), ConfigError> {
        let page_only = [
            (self.keyword.is_some(), "keyword", "HAProxy's `http-check expect string` checks the page"),
            (self.expect_status.is_some(), "expect_status", "HAProxy's `http-check expect` checks the page"),
            (self.tls_skip_verify, "tls_skip_verify", "this daemon does not fetch the page"),
            (self.interval_ms.is_some(), "interval_ms", "the backend is read with [site.haproxy]'s fetches"),
            (self.timeout_ms.is_some(), "timeout_ms", "the backend is read with [site.haproxy]'s fetches"),
        ];
        for (present, field, why) in page_only {
            if present {
                return Err(invalid(format!("{at}.{field}"), format!("only used with url: {why}")));
            }
        }
        Ok(())
    }
}

fn check_url(field: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(field.to_string(), format!("'{url}': {e}")))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(invalid(field.to_string(), format!("scheme '{other}' is not http or https"))),
    }
}

fn check_status(field: &str, status: u16) -> Result<(), ConfigError> {
    if (100..=599).contains(&status) {
        Ok(())
    } else {
        Err(invalid(field.to_string(), format!("{status} is not an HTTP status")))
    }
}

fn check_overrides(at: &str, overrides: ProbeOverrides) -> Result<(), ConfigError> {
    check_timing(at, ProbeSettings::default().with(overrides))
}

fn check_timing(at: &str, settings: ProbeSettings) -> Result<(), ConfigError> {
    let interval = settings.interval.as_millis() as u64;
    let timeout = settings.timeout.as_millis() as u64;
    if interval < MIN_INTERVAL_MS {
        return Err(invalid(format!("{at}.interval_ms"), format!("must be at least {MIN_INTERVAL_MS}")));
    }
    if timeout == 0 || timeout > MAX_TIMEOUT_MS {
        return Err(invalid(format!("{at}.timeout_ms"), format!("must be 1..={MAX_TIMEOUT_MS}")));
    }
    if settings.rise == 0 {
        return Err(invalid(format!("{at}.rise"), "must be at least 1"));
    }
    if settings.fall == 0 {
        return Err(invalid(format!("{at}.fall"), "must be at least 1"));
    }
    Ok(())
}

/// A configuration mistake, naming the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    pub field: String,
    pub reason: String,
}

fn invalid(field: String, reason: impl Into<String>) -> ConfigError {
    ConfigError { field, reason: reason.into() }
}
