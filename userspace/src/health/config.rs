//! Health-check configuration as read from `[probe]` and `[[site]]` tables.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::expect_status::ExpectStatus;
use crate::health::http_check::{HttpCheckConfig, TlsOptions};
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
    /// External checks (`check = "exec"`) running at once, for the whole daemon; `[probe]` only.
    #[serde(default)]
    pub exec_concurrency: Option<usize>,
}

/// One site: a load balancer, web servers and a database.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    /// IPv4 addresses this site contributes to answers.
    #[serde(default, deserialize_with = "crate::config::address_lists::ipv4")]
    pub a: Vec<Ipv4Addr>,
    /// IPv6 addresses this site contributes to answers.
    #[serde(default, deserialize_with = "crate::config::address_lists::ipv6")]
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
    /// Web servers that must be up for the site to be available; default 1.
    #[serde(default)]
    pub min_servers_up: Option<usize>,
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
    /// A program (`command`) that exits 0 while the server is up.
    Exec,
}

impl CheckKind {
    /// As written in the config.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
            CheckKind::Haproxy => "haproxy",
            CheckKind::Exec => "exec",
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
    /// `check = "haproxy"`: the server's name in HAProxy, default `name`.
    #[serde(default)]
    pub haproxy_name: Option<String>,
    /// `check = "exec"`: the program (an absolute path) and its arguments.
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `check = "http"`: accepted statuses, default 200.
    #[serde(default)]
    pub expect_status: Option<ExpectStatus>,
    #[serde(default)]
    pub keyword: Option<String>,
    #[serde(default)]
    pub body_regex: Option<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// `check = "http"`: accept any certificate.
    #[serde(default)]
    pub tls_skip_verify: bool,
    /// Up while the check fails, down while it passes.
    #[serde(default)]
    pub invert: bool,
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
    pub body_regex: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub expect_status: Option<ExpectStatus>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
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
        ProbeOverrides {
            interval_ms: self.interval_ms,
            timeout_ms: self.timeout_ms,
            rise: self.rise,
            fall: self.fall,
            exec_concurrency: None,
        }
    }

    /// The name HAProxy knows this server by.
    pub fn haproxy_name(&self) -> &str {
        self.haproxy_name.as_deref().unwrap_or(&self.name)
    }

    /// The HTTP check's fields; `None` unless `check = "http"` with a URL.
    pub fn http_check(&self) -> Option<HttpCheckConfig> {
        let url = self.url.clone().filter(|_| self.check == CheckKind::Http)?;
        Some(HttpCheckConfig {
            url,
            host: self.host.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            expect_status: self.expect_status.clone(),
            keyword: self.keyword.clone(),
            body_regex: self.body_regex.clone(),
            tls: TlsOptions {
                ca_file: self.ca_file.clone(),
                client_cert: self.client_cert.clone(),
                client_key: self.client_key.clone(),
                skip_verify: self.tls_skip_verify,
            },
        })
    }

    /// Fields set that only an HTTP check uses, by name.
    fn http_only_fields(&self) -> Vec<&'static str> {
        let set = [
            ("url", self.url.is_some()),
            ("host", self.host.is_some()),
            ("method", self.method.is_some()),
            ("headers", !self.headers.is_empty()),
            ("expect_status", self.expect_status.is_some()),
            ("keyword", self.keyword.is_some()),
            ("body_regex", self.body_regex.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("client_cert", self.client_cert.is_some()),
            ("client_key", self.client_key.is_some()),
            ("tls_skip_verify", self.tls_skip_verify),
        ];
        set.into_iter().filter(|(_, present)| *present).map(|(field, _)| field).collect()
    }
}

impl DatabaseConfig {
    pub fn overrides(&self) -> ProbeOverrides {
        ProbeOverrides {
            interval_ms: self.interval_ms,
            timeout_ms: self.timeout_ms,
            rise: self.rise,
            fall: self.fall,
            exec_concurrency: None,
        }
    }

    /// The keyword the page must contain: `keyword`, else the database name (unless the body
    /// must match `body_regex` instead).
    pub fn effective_keyword(&self) -> Option<&str> {
        if self.body_regex.is_some() {
            return self.keyword.as_deref();
        }
        self.keyword.as_deref().or(self.name.as_deref())
    }

    /// The database page's HTTP check; `None` without `url`.
    pub fn http_check(&self) -> Option<HttpCheckConfig> {
        Some(HttpCheckConfig {
            url: self.url.clone()?,
            host: self.host.clone(),
            method: self.method.clone(),
            headers: self.headers.clone(),
            expect_status: self.expect_status.clone(),
            keyword: self.effective_keyword().map(str::to_string),
            body_regex: self.body_regex.clone(),
            tls: TlsOptions {
                ca_file: self.ca_file.clone(),
                client_cert: self.client_cert.clone(),
                client_key: self.client_key.clone(),
                skip_verify: self.tls_skip_verify,
            },
        })
    }

    /// The name in logs, status and metrics: `name`, else "database".
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("database")
    }
}

impl HaproxyConfig {
    pub fn overrides(&self) -> ProbeOverrides {
        ProbeOverrides {
            interval_ms: self.interval_ms,
            timeout_ms: self.timeout_ms,
            rise: self.rise,
            fall: self.fall,
            exec_concurrency: None,
        }
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
    /// Web servers that must be up for the site to be available.
    pub fn servers_needed(&self) -> usize {
        self.min_servers_up.unwrap_or(1)
    }

    /// No checks and not remote: nothing can take it down, so it is always available.
    pub fn is_static(&self) -> bool {
        !self.remote && self.servers.is_empty() && self.database.is_none() && self.haproxy.is_none()
    }

    fn validate(&self, at: &str) -> Result<(), ConfigError> {
        check_overrides(&format!("{at}.probe"), self.probe)?;
        if self.probe.exec_concurrency.is_some() {
            return Err(invalid(format!("{at}.probe.exec_concurrency"), "set it in [probe]: one bound for the daemon"));
        }
        if let Some(load) = self.load
            && load > 1000
        {
            return Err(invalid(format!("{at}.load"), format!("{load} is over 1000 per-mille")));
        }
        if self.remote {
            for (present, field) in [
                (self.min_servers_up.is_some(), "min_servers_up"),
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
        if let Some(needed) = self.min_servers_up
            && !(1..=self.servers.len()).contains(&needed)
        {
            return Err(invalid(
                format!("{at}.min_servers_up"),
                format!("must be 1 to the number of servers ({})", self.servers.len()),
            ));
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
        if self.check != CheckKind::Tcp && self.address.is_some() {
            return Err(wrong("address"));
        }
        if self.check != CheckKind::Exec && !self.command.is_empty() {
            return Err(wrong("command"));
        }
        match self.check {
            CheckKind::Tcp | CheckKind::Haproxy | CheckKind::Exec => {
                if self.check == CheckKind::Tcp && self.address.is_none() {
                    return Err(missing("address"));
                }
                if self.check == CheckKind::Haproxy && !site_has_haproxy {
                    return Err(invalid(format!("{at}.check"), "\"haproxy\" needs a [site.haproxy] table"));
                }
                if self.check == CheckKind::Exec {
                    check_command(&format!("{at}.command"), &self.command)?;
                }
                if let Some(field) = self.http_only_fields().first() {
                    return Err(wrong(field));
                }
            }
            CheckKind::Http => {
                let Some(http) = self.http_check() else {
                    return Err(missing("url"));
                };
                http.validate(at)?;
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
            Some(_) => self.validate_page(at),
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

    fn validate_page(&self, at: &str) -> Result<(), ConfigError> {
        if self.body_regex.is_none() && self.effective_keyword().is_none() {
            return Err(invalid(format!("{at}.keyword"), "set keyword, body_regex or name"));
        }
        if self.effective_keyword() == Some("") {
            return Err(invalid(format!("{at}.keyword"), "must not be empty"));
        }
        self.http_check().expect("with url").validate(at)
    }

    /// Only HAProxy's check: what the page must hold is in HAProxy's config (`http-check
    /// expect`), and the backend is read with each fetch of the stats page.
    fn validate_without_page(&self, at: &str) -> Result<(), ConfigError> {
        let not_fetched = "this daemon does not fetch the page";
        let page_only = [
            (self.keyword.is_some(), "keyword", "HAProxy's `http-check expect string` checks the page"),
            (self.body_regex.is_some(), "body_regex", "HAProxy's `http-check expect rstring` checks the page"),
            (self.expect_status.is_some(), "expect_status", "HAProxy's `http-check expect` checks the page"),
            (self.host.is_some(), "host", not_fetched),
            (self.method.is_some(), "method", not_fetched),
            (!self.headers.is_empty(), "headers", not_fetched),
            (self.ca_file.is_some(), "ca_file", not_fetched),
            (self.client_cert.is_some(), "client_cert", not_fetched),
            (self.client_key.is_some(), "client_key", not_fetched),
            (self.tls_skip_verify, "tls_skip_verify", not_fetched),
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

/// A program named by an absolute path (no search of PATH, no shell), and its arguments.
fn check_command(field: &str, command: &[String]) -> Result<(), ConfigError> {
    let Some(program) = command.first() else {
        return Err(invalid(field.to_string(), "required by check = \"exec\": [\"/path/to/program\", \"arg\", ...]"));
    };
    if !program.starts_with('/') {
        return Err(invalid(
            field.to_string(),
            format!("the program {program:?} must be an absolute path (no shell, no PATH search)"),
        ));
    }
    Ok(())
}

fn check_overrides(at: &str, overrides: ProbeOverrides) -> Result<(), ConfigError> {
    if let Some(limit) = overrides.exec_concurrency
        && !(1..=256).contains(&limit)
    {
        return Err(invalid(format!("{at}.exec_concurrency"), "must be 1 to 256"));
    }
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

pub(crate) fn invalid(field: String, reason: impl Into<String>) -> ConfigError {
    ConfigError { field, reason: reason.into() }
}

impl HealthConfig {
    /// Every HTTP check (web servers and database pages), with the table it is written in.
    pub fn http_checks(&self) -> Vec<(String, HttpCheckConfig)> {
        let mut checks = Vec::new();
        for (index, site) in self.sites.iter().enumerate() {
            for (server_index, server) in site.servers.iter().enumerate() {
                if let Some(http) = server.http_check() {
                    checks.push((format!("site[{index}] ('{}').server[{server_index}]", site.name), http));
                }
            }
            if let Some(http) = site.database.as_ref().and_then(DatabaseConfig::http_check) {
                checks.push((format!("site[{index}] ('{}').database", site.name), http));
            }
        }
        checks
    }
}
