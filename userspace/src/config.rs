//! The daemon's TOML configuration: parsing, defaults and validation.
//!
//! Every problem is reported as one line naming the file, the key and what is wrong, before
//! anything is attached or bound.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use hickory_proto::rr::Name;
use ipnet::IpNet;
use serde::Deserialize;

pub(crate) mod address_lists;
mod cookies;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixture;
mod geo_views;
mod host;
#[cfg(test)]
mod host_tests;
#[cfg(test)]
mod reference_tests;
pub mod rrl;
mod server;
#[cfg(test)]
mod server_tests;
mod sites;
mod sync;
mod times;
#[cfg(test)]
mod times_tests;
#[cfg(test)]
mod zone_tests;

pub use self::cookies::{CookiesSection, SecretFileError, SharedSecret, read_secret_file};
pub use self::server::{check_instance_name, overlap as listen_overlap};
pub use self::sync::{SyncPeer, SyncSection, SyncTable};
pub use self::times::{MAX_TTL, ttl_problem};

use crate::{
    health::{ProbeOverrides, SiteConfig},
    peers::PeersConfig,
    policy::{LoadOrdering, RttOrdering, ServiceConfig as PolicyService, WhenAllDown},
};

/// A configuration problem: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("config error in {file}: {key}: {problem}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub xdp: XdpSection,
    #[serde(default)]
    pub zone: Vec<ZoneConfig>,
    #[serde(default)]
    pub view: Vec<ViewConfig>,
    /// Probe defaults for every health check (`[probe]`).
    #[serde(default)]
    pub probe: ProbeOverrides,
    /// The sites services are answered from (`[[site]]`).
    #[serde(default)]
    pub site: Vec<SiteConfig>,
    /// Heartbeats to and from the DNS servers of the other sites.
    #[serde(default)]
    pub peers: Option<PeersConfig>,
    /// Keeping tables of this site's SQLite database in step with the other sites.
    #[serde(default)]
    pub sync: Option<SyncSection>,
    #[serde(default)]
    pub service: Vec<ServiceConfig>,
    /// DNS server cookies (`[cookies]`).
    #[serde(default)]
    pub cookies: CookiesSection,
    /// Response rate limiting per client prefix (`[rrl]`).
    #[serde(default)]
    pub rrl: rrl::RrlSection,
    /// The geolocation database that views selecting countries or continents read.
    #[serde(default)]
    pub geo: Option<crate::geo::GeoConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Names this daemon's pinned maps and admin socket, so several can run on one host.
    #[serde(default = "default_instance")]
    pub instance: String,
    #[serde(default = "default_dns_port")]
    pub dns_port: u16,
    /// Addresses the userspace server binds (UDP and TCP).
    #[serde(default = "default_listen")]
    pub listen: Vec<IpAddr>,
    /// Threads answering UDP per listen address (the XDP path is not among them); unset means
    /// one per CPU the daemon may run on (`udp_threads()`), decided at start, so that a reload
    /// of an unchanged file never sees a different value.
    #[serde(default)]
    pub udp_threads: Option<usize>,
    /// UDP payload size we advertise in EDNS responses (RFC 9715 suggests 1232).
    #[serde(default = "default_edns_payload")]
    pub edns_udp_payload: u16,
    /// Directory of the admin socket.
    #[serde(default = "default_run_dir")]
    pub run_dir: PathBuf,
    /// Directory under bpffs where the maps are pinned (one subdirectory per instance).
    #[serde(default = "default_pin_root")]
    pub pin_root: PathBuf,
    /// This daemon's own site (a `[[site]]` probed here); required with `[peers]`.
    #[serde(default)]
    pub site: Option<String>,
    /// This daemon's name within its site, sent in heartbeats; required with `[peers]`.
    #[serde(default)]
    pub node: Option<String>,
    /// Address of the Prometheus metrics endpoint (`GET /metrics`); none when unset.
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
    /// Name server identifier (RFC 5001) sent to a query that asks for it; none when unset.
    #[serde(default)]
    pub nsid: Option<String>,
    /// Answer to CHAOS TXT `id.server` and `hostname.bind`; those are refused when unset.
    #[serde(default)]
    pub chaos_id: Option<String>,
    /// Answer to CHAOS TXT `version.bind` and `version.server`; refused when unset.
    #[serde(default)]
    pub chaos_version: Option<String>,
    /// How log lines are written to standard error.
    #[serde(default)]
    pub log_format: LogFormat,
}

/// `text`: one human-readable line per event, coloured only on a terminal; `json`: one JSON
/// object per line, for journald and log shippers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native where the driver supports it, generic otherwise.
    #[default]
    Auto,
    Native,
    Skb,
    /// Userspace only.
    Off,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XdpSection {
    #[serde(default)]
    pub interfaces: Vec<String>,
    #[serde(default)]
    pub mode: XdpMode,
    /// Capacity of the answer map (entries: names × types × views). The kernel allocates it at
    /// start: about 300 bytes per entry.
    #[serde(default = "default_max_entries")]
    pub max_entries: u32,
    /// The program stops answering (every query goes to the stack, counted `pass_stale`) when
    /// the daemon's liveness stamp is older than this: a daemon that died without cleanup
    /// does not leave its answers behind. Longer than a planned restart takes.
    #[serde(default = "default_stale_after_ms")]
    pub stale_after_ms: u64,
}

impl XdpSection {
    pub fn stale_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.stale_after_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    /// TTL of the SOA and NS records.
    #[serde(default = "default_zone_ttl")]
    pub ttl: u32,
    pub ns: Vec<String>,
    pub soa: SoaConfig,
    /// Online signing of this zone (`[zone.dnssec]`); unsigned when absent.
    #[serde(default)]
    pub dnssec: Option<crate::dnssec::DnssecConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaConfig {
    pub mname: String,
    pub rname: String,
    #[serde(default = "default_serial")]
    pub serial: u32,
    #[serde(default = "default_refresh")]
    pub refresh: i32,
    #[serde(default = "default_retry")]
    pub retry: i32,
    #[serde(default = "default_expire")]
    pub expire: i32,
    /// Negative-caching TTL (RFC 2308).
    #[serde(default = "default_minimum")]
    pub minimum: u32,
}

/// The name of the view of clients no `[[view]]` selects (view id `DEFAULT_VIEW`), as
/// `switchyard map --view` and the status page call it: no `[[view]]` may take it.
pub const DEFAULT_VIEW_NAME: &str = "default";

/// Client locality: clients whose address falls in one of the prefixes, or in a network of the
/// selected countries and continents, get this view's answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    pub name: String,
    #[serde(default)]
    pub prefixes: Vec<IpNet>,
    /// ISO 3166-1 alpha-2 codes, looked up in `[geo]`.
    #[serde(default)]
    pub countries: Vec<String>,
    /// GeoIP2 continent codes (`crate::geo::CONTINENTS`), looked up in `[geo]`.
    #[serde(default)]
    pub continents: Vec<String>,
    /// The `[geo]` networks of those countries and continents, read by `Config::load_for_host`.
    #[serde(skip)]
    pub geo_prefixes: Vec<IpNet>,
}

/// A name answered either from fixed address lists (`a`/`aaaa`) or from sites chosen by their
/// health (`sites`, `views` and the ordering options of `crate::policy::ServiceConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    #[serde(default = "default_service_ttl")]
    pub ttl: u32,
    #[serde(default, deserialize_with = "address_lists::ipv4")]
    pub a: Vec<Ipv4Addr>,
    #[serde(default, deserialize_with = "address_lists::ipv6")]
    pub aaaa: Vec<Ipv6Addr>,
    /// Preferred site order for clients without a matching view.
    #[serde(default)]
    pub sites: Vec<String>,
    /// Preferred site order per `[[view]]`, e.g. `views = { near-b = ["b", "a"] }`.
    #[serde(default)]
    pub views: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub when_all_down: WhenAllDown,
    #[serde(default)]
    pub by_load: Option<LoadOrdering>,
    #[serde(default)]
    pub by_rtt: Option<RttOrdering>,
    #[serde(default = "default_reorder_hold")]
    pub reorder_hold: u32,
    /// Weighted first answer, e.g. `first_weights = { a = 3, b = 1 }`.
    #[serde(default)]
    pub first_weights: BTreeMap<String, u32>,
}

impl ServiceConfig {
    /// Answered from sites (as opposed to fixed address lists).
    pub fn is_site_based(&self) -> bool {
        !self.sites.is_empty()
    }

    /// The policy's view of a site-based service.
    pub fn to_policy(&self) -> PolicyService {
        PolicyService {
            name: self.name.clone(),
            ttl: self.ttl,
            sites: self.sites.clone(),
            when_all_down: self.when_all_down,
            by_load: self.by_load,
            by_rtt: self.by_rtt,
            reorder_hold: self.reorder_hold,
            views: self.views.clone(),
            first_weights: self.first_weights.clone(),
        }
    }
}

fn default_instance() -> String {
    "default".into()
}
fn default_dns_port() -> u16 {
    53
}
fn default_listen() -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)]
}
fn default_edns_payload() -> u16 {
    1232
}
fn default_run_dir() -> PathBuf {
    "/run/switchyard".into()
}
fn default_pin_root() -> PathBuf {
    "/sys/fs/bpf/switchyard".into()
}
fn default_max_entries() -> u32 {
    DEFAULT_MAX_ENTRIES
}
fn default_stale_after_ms() -> u64 {
    DEFAULT_STALE_AFTER_MS
}

/// Default `[xdp] stale_after_ms`: a few seconds, longer than a planned restart.
pub const DEFAULT_STALE_AFTER_MS: u64 = 3000;
/// `[xdp] max_entries` when the config does not say: answer map entries (one per name, view and
/// address type).
pub const DEFAULT_MAX_ENTRIES: u32 = 65_536;
/// `stale_after_ms` bounds: at least a few stamp periods, at most an hour.
const STALE_AFTER_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;

impl Default for XdpSection {
    fn default() -> Self {
        XdpSection {
            interfaces: Vec::new(),
            mode: XdpMode::default(),
            max_entries: default_max_entries(),
            stale_after_ms: default_stale_after_ms(),
        }
    }
}
fn default_zone_ttl() -> u32 {
    3600
}
fn default_serial() -> u32 {
    1
}
// Refresh, retry and expire mean nothing to Switchyard (no secondaries transfer its zones), but
// zone checkers hold every zone to them: Zonemaster takes these without a remark (refresh 4 h
// and retry 1 h, its lowest; expire 2 weeks as RFC 1912 suggests). The negative TTL stays at a
// minute, under the 5 minutes Zonemaster notes: it is how long a resolver keeps a name or an
// address family unanswered, e.g. AAAA while every site with IPv6 addresses was down.
fn default_refresh() -> i32 {
    14400
}
fn default_retry() -> i32 {
    3600
}
fn default_expire() -> i32 {
    1209600
}
fn default_minimum() -> u32 {
    60
}
fn default_service_ttl() -> u32 {
    30
}
fn default_reorder_hold() -> u32 {
    3
}

/// More threads than this would only wait on one socket's queue.
const MAX_UDP_THREADS: usize = 256;

impl ServerConfig {
    /// UDP threads per listen address: as configured, else one per CPU (at most 256).
    pub fn udp_threads(&self) -> usize {
        self.udp_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_UDP_THREADS))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            instance: default_instance(),
            dns_port: default_dns_port(),
            listen: default_listen(),
            udp_threads: None,
            edns_udp_payload: default_edns_payload(),
            run_dir: default_run_dir(),
            pin_root: default_pin_root(),
            site: None,
            node: None,
            metrics: None,
            nsid: None,
            chaos_id: None,
            chaos_version: None,
            log_format: LogFormat::default(),
        }
    }
}

impl ServerConfig {
    /// The NSID and CHAOS strings fit their records: one TXT string of at most 255 bytes,
    /// and an NSID a resolver will log (printable ASCII, as most servers send).
    fn validate_identity(&self) -> Result<(), (String, String)> {
        let fields = [
            ("server.nsid", &self.nsid),
            ("server.chaos_id", &self.chaos_id),
            ("server.chaos_version", &self.chaos_version),
        ];
        for (field, value) in fields {
            let Some(value) = value else { continue };
            if value.is_empty() || value.len() > 255 {
                return Err((field.into(), "must be 1 to 255 bytes".into()));
            }
            if !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Err((field.into(), "must be printable ASCII".into()));
            }
        }
        Ok(())
    }

    pub fn pin_dir(&self) -> PathBuf {
        self.pin_root.join(&self.instance)
    }
    pub fn admin_socket(&self) -> PathBuf {
        self.run_dir.join(format!("{}.sock", self.instance))
    }
}

/// A prefix as written must be its network: `198.18.0.1/24` is refused, naming `198.18.0.0/24`.
fn no_host_bits(net: &IpNet) -> Result<(), String> {
    if net.trunc() == *net { Ok(()) } else { Err(format!("{net} has host bits set: write {}", net.trunc())) }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            key: "(file)".into(),
            problem: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Reads and validates a config file, then checks what only this host can tell: that its
    /// interfaces and key files exist. What `switchyard run` and `check` and a reload accept.
    pub fn load_for_host(path: &Path) -> Result<Config, ConfigError> {
        let config = Config::load(path)?;
        config.check_interfaces(path)?;
        config.check_local_addresses(path)?;
        config.check_admin_socket(path)?;
        config.check_peer_keys(path)?;
        config.check_sync_key(path)?;
        config.check_sync_database(path)?;
        config.check_check_files(path)?;
        config.check_dnssec_keys(path)?;
        config.check_cookie_secret(path)?;
        let mut config = config;
        config.expand_geo_views(path)?;
        Ok(config)
    }

    /// Parses and validates config text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let error = |key: String, problem: String| ConfigError { file: file.into(), key, problem };
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| error(line_of(text, e.span()), e.message().to_string()))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let key = if key == "." { line_of(text, inner.span()) } else { key };
            error(key, inner.message().to_string())
        })?;
        config.validate().map_err(|(key, problem)| error(key, problem))?;
        Ok(config)
    }

    /// A zone inside a signed zone must be signed too: its names would otherwise be unsigned
    /// answers under a signed parent that proves no delegation (validators call them bogus),
    /// and the map writer would sign them with the parent's key. `zones` are the parsed names.
    fn validate_nested_signing(&self, zones: &[Name]) -> Result<(), (String, String)> {
        for (i, (zone, name)) in self.zone.iter().zip(zones).enumerate() {
            let signed_parent = (self.zone.iter().zip(zones))
                .position(|(other, parent)| other.dnssec.is_some() && parent != name && parent.zone_of(name));
            if let (None, Some(parent)) = (&zone.dnssec, signed_parent) {
                let problem = format!("{} is inside the signed zone[{parent}] and must be signed too", zone.name);
                return Err((format!("zone[{i}].dnssec"), problem));
            }
        }
        Ok(())
    }

    /// The answer map is allocated at start: a config whose services would not fit is refused
    /// here, before anything is attached, rather than failing part-way through writing it.
    fn validate_map_capacity(&self) -> Result<(), (String, String)> {
        if self.xdp.mode == XdpMode::Off {
            return Ok(());
        }
        if self.xdp.max_entries == 0 {
            return Err(("xdp.max_entries".into(), "must be at least 1".into()));
        }
        let needed = crate::answers::AnswerTable::capacity_needed(self, &crate::answers::Views::from_config(self));
        if needed > self.xdp.max_entries as usize {
            let problem = format!(
                "is {}, and the services need {needed} answer map entries (one per name and address family, in \
                 each of its views); raise it",
                self.xdp.max_entries
            );
            return Err(("xdp.max_entries".into(), problem));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), (String, String)> {
        check_instance_name(&self.server.instance).map_err(|problem| ("server.instance".to_string(), problem))?;
        self.server.validate_sockets()?;
        if self.zone.is_empty() {
            return Err(("zone".into(), "at least one [[zone]] is required".into()));
        }
        let mut zones = Vec::new();
        for (i, zone) in self.zone.iter().enumerate() {
            let name = parse_name(&zone.name).map_err(|p| (format!("zone[{i}].name"), p))?;
            // `Name`'s equality ignores case.
            if let Some(first) = zones.iter().position(|z: &Name| *z == name) {
                return Err((format!("zone[{i}].name"), format!("{} is zone[{first}] already", zone.name)));
            }
            if zone.ns.is_empty() {
                return Err((format!("zone[{i}].ns"), "at least one name server is required".into()));
            }
            for (j, ns) in zone.ns.iter().enumerate() {
                parse_name(ns).map_err(|p| (format!("zone[{i}].ns[{j}]"), p))?;
            }
            parse_name(&zone.soa.mname).map_err(|p| (format!("zone[{i}].soa.mname"), p))?;
            parse_name(&zone.soa.rname).map_err(|p| (format!("zone[{i}].soa.rname"), p))?;
            zone.validate_times(&format!("zone[{i}]"))?;
            if let Some(dnssec) = &zone.dnssec {
                dnssec.validate(&format!("zone[{i}].dnssec"))?;
            }
            zones.push(name);
        }
        self.validate_nested_signing(&zones)?;
        let views: BTreeSet<&str> = self.view.iter().map(|v| v.name.as_str()).collect();
        if views.len() != self.view.len() {
            return Err(("view".into(), "view names must be unique".into()));
        }
        self.validate_view_names()?;
        self.validate_geo_views()?;
        let mut services = BTreeSet::new();
        for (i, service) in self.service.iter().enumerate() {
            let key = format!("service[{i}].name");
            let name = parse_name(&service.name).map_err(|p| (key.clone(), p))?;
            if !zones.iter().any(|z| z.zone_of(&name)) {
                return Err((key, format!("{} is outside every configured zone", service.name)));
            }
            if !services.insert(name.to_lowercase()) {
                return Err((key, format!("{} is configured twice", service.name)));
            }
        }
        self.validate_service_ttls()?;
        self.validate_sites()?;
        self.validate_sync()?;
        self.validate_port_clashes()?;
        if self.server.udp_threads.is_some_and(|n| !(1..=MAX_UDP_THREADS).contains(&n)) {
            return Err(("server.udp_threads".into(), format!("must be 1 to {MAX_UDP_THREADS}")));
        }
        if !STALE_AFTER_MS.contains(&self.xdp.stale_after_ms) {
            let (min, max) = (STALE_AFTER_MS.start(), STALE_AFTER_MS.end());
            return Err(("xdp.stale_after_ms".into(), format!("must be {min} to {max}")));
        }
        if self.server.edns_udp_payload < 512 {
            return Err(("server.edns_udp_payload".into(), "must be at least 512".into()));
        }
        self.validate_xdp_interfaces()?;
        self.validate_map_capacity()?;
        self.server.validate_identity()?;
        self.cookies.validate()?;
        self.rrl.validate()?;
        Ok(())
    }
}

impl Config {
    /// Checks that every XDP interface exists in this network namespace. Separate from parsing
    /// because the CLI reads configs of daemons that run in other namespaces.
    pub fn check_interfaces(&self, file: &Path) -> Result<(), ConfigError> {
        if self.xdp.mode == XdpMode::Off {
            return Ok(());
        }
        for (i, iface) in self.xdp.interfaces.iter().enumerate() {
            if !interface_exists(iface) {
                return Err(ConfigError {
                    file: file.display().to_string(),
                    key: format!("xdp.interfaces[{i}]"),
                    problem: format!("no interface named {iface:?} in this network namespace"),
                });
            }
        }
        Ok(())
    }
}

impl Config {
    /// Checks that every signed zone's key file is private, readable and of its algorithm.
    pub fn check_dnssec_keys(&self, file: &Path) -> Result<(), ConfigError> {
        for (i, zone) in self.zone.iter().enumerate() {
            let Some(dnssec) = &zone.dnssec else { continue };
            let mut tags = Vec::new();
            for (j, path) in dnssec.key_paths().into_iter().enumerate() {
                let key = match dnssec.key_file {
                    Some(_) => format!("zone[{i}].dnssec.key_file"),
                    None => format!("zone[{i}].dnssec.key_files[{j}]"),
                };
                let error =
                    |problem: String| ConfigError { file: file.display().to_string(), key: key.clone(), problem };
                let signing = crate::dnssec::SigningKeyFile::read_for(path, dnssec.algorithm)
                    .map_err(|e| error(e.to_string()))?;
                let tag = signing.key_tag(path).map_err(|e| error(e.to_string()))?;
                if tags.contains(&tag) {
                    // Validators tell keys apart by their tag first; two alike would make every
                    // answer's signatures ambiguous, so a rollover takes a freshly made key.
                    return Err(error(format!("{} has key tag {tag}, like another key of this zone", path.display())));
                }
                tags.push(tag);
            }
        }
        Ok(())
    }
}

/// Asks the kernel (in our network namespace) rather than sysfs, which may show another one.
fn interface_exists(name: &str) -> bool {
    let Ok(c_name) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated string; the call only reads it.
    unsafe { libc::if_nametoindex(c_name.as_ptr()) != 0 }
}

/// Parses an absolute domain name ("example.com." or "example.com").
pub fn parse_name(text: &str) -> Result<Name, String> {
    let mut name = Name::from_ascii(text).map_err(|e| format!("{text:?} is not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// "line N" for a byte span, for errors that have no key path.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => format!("line {}", text[..span.start.min(text.len())].lines().count().max(1)),
        None => "(document)".into(),
    }
}
