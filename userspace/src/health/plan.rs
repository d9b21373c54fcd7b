//! Turns the configuration into the runtime state of every site and the probes to run: one
//! function per kind of check.

use std::sync::Arc;

use reqwest::{Client, Url};
use tokio::sync::Semaphore;

use crate::health::http_check::HttpCheckConfig;

use crate::health::config::{
    CheckKind, DatabaseConfig, HaproxyConfig, HealthConfig, ProbeOverrides, ProbeSettings, SiteConfig, WebServerConfig,
};
use crate::health::database::DatabaseRuntime;
use crate::health::error::HealthError;
use crate::health::exec_probe::{DEFAULT_EXEC_CONCURRENCY, ExecCheck};
use crate::health::http_probe::{build_client, plain_client};
use crate::health::runner::{Probe, ProbeKind};
use crate::health::shared::CheckSlot;
use crate::health::site_runtime::{CheckRole, CheckRuntime, SiteRuntime};

pub(crate) struct Plan {
    pub sites: Vec<SiteRuntime>,
    pub probes: Vec<Probe>,
}

/// Builds the runtime state of every site and the probes to run.
/// Expects a validated config.
pub(crate) fn plan(config: &HealthConfig) -> Result<Plan, HealthError> {
    let mut plan = Plan { sites: Vec::new(), probes: Vec::new() };
    let exec_slots = Arc::new(Semaphore::new(config.probe.exec_concurrency.unwrap_or(DEFAULT_EXEC_CONCURRENCY)));
    for (index, site) in config.sites.iter().enumerate() {
        let runtime = plan_site(&mut plan.probes, index, site, config.site_settings(site), &exec_slots)?;
        plan.sites.push(runtime);
    }
    Ok(plan)
}

/// The site's runtime state; its probes go to `probes`. `defaults` are the site's settings
/// before each check's own overrides.
fn plan_site(
    probes: &mut Vec<Probe>,
    index: usize,
    site: &SiteConfig,
    defaults: ProbeSettings,
    exec_slots: &Arc<Semaphore>,
) -> Result<SiteRuntime, HealthError> {
    let mut runtime = SiteRuntime::new(site);
    for (server_index, server) in site.servers.iter().enumerate() {
        let slot = CheckSlot::Server { site: index, server: server_index };
        let settings = defaults.with(server.overrides());
        let target = match server.check {
            CheckKind::Tcp => tcp_server(probes, slot, server, settings),
            CheckKind::Http => http_server(probes, slot, &site.name, server, settings)?,
            CheckKind::Exec => exec_server(probes, slot, &site.name, server, settings, exec_slots.clone()),
            // Fed by the site's HAProxy fetch; the target is the HAProxy server name.
            CheckKind::Haproxy => server.haproxy_name().to_string(),
        };
        let mut check = CheckRuntime::new(&server.name, CheckRole::Server(server.check), target, settings);
        check.inverted = server.invert;
        runtime.servers.push(check);
    }
    if let Some(database) = &site.database {
        let fetch = site.haproxy.as_ref().map(|haproxy| defaults.with(haproxy.overrides()));
        runtime.database = Some(database_checks(probes, index, &site.name, database, defaults, fetch)?);
    }
    if let Some(haproxy) = &site.haproxy {
        runtime.haproxy = Some(haproxy_check(probes, index, &site.name, haproxy, defaults)?);
    }
    Ok(runtime)
}

/// A TCP connect probe; returns the target shown in the status.
fn tcp_server(probes: &mut Vec<Probe>, slot: CheckSlot, server: &WebServerConfig, settings: ProbeSettings) -> String {
    let address = server.address.expect("validated: tcp has address");
    probes.push(Probe { settings, kind: ProbeKind::Tcp { slot, address } });
    address.to_string()
}

/// An external check of a web server; returns the target shown in the status (the command).
fn exec_server(
    probes: &mut Vec<Probe>,
    slot: CheckSlot,
    site: &str,
    server: &WebServerConfig,
    settings: ProbeSettings,
    slots: Arc<Semaphore>,
) -> String {
    let (program, args) = server.command.split_first().expect("validated: exec has a command");
    let check = ExecCheck { program: program.into(), args: args.to_vec(), label: format!("{site}/{}", server.name) };
    probes.push(Probe { settings, kind: ProbeKind::Exec { slot, check, slots } });
    server.command.join(" ")
}

/// An HTTP probe of a web server; returns the target shown in the status.
fn http_server(
    probes: &mut Vec<Probe>,
    slot: CheckSlot,
    site: &str,
    server: &WebServerConfig,
    settings: ProbeSettings,
) -> Result<String, HealthError> {
    let http = server.http_check().expect("validated: http has url");
    let (client, check) = http_probe(&format!("{site}/{}", server.name), &http, settings)?;
    probes.push(Probe { settings, kind: ProbeKind::Http { slot, client, check: Box::new(check) } });
    Ok(target(&http))
}

/// The client and check of one HTTP probe.
fn http_probe(
    name: &str,
    http: &HttpCheckConfig,
    settings: ProbeSettings,
) -> Result<(Client, crate::health::http_check::HttpCheck), HealthError> {
    let check = http.check();
    let client = build_client(settings.timeout, &http.tls, check.connect_to.as_ref())
        .map_err(|source| HealthError::HttpClient { check: name.to_string(), source })?;
    Ok((client, check))
}

/// The URL probed, with the name presented when that differs: "https://198.18.1.11/ (as www.example.com)".
fn target(http: &HttpCheckConfig) -> String {
    let url = parse_url(&http.url).to_string();
    match &http.host {
        Some(host) => format!("{url} (as {host})"),
        None => url,
    }
}

/// The database's sources: the page (an HTTP GET whose body must hold the keyword) and
/// HAProxy's check of it, fed by the site's stats fetch, which runs with `fetch` settings.
fn database_checks(
    probes: &mut Vec<Probe>,
    index: usize,
    site: &str,
    database: &DatabaseConfig,
    defaults: ProbeSettings,
    fetch: Option<ProbeSettings>,
) -> Result<DatabaseRuntime, HealthError> {
    let settings = defaults.with(database.overrides());
    let name = database.display_name();
    let mut runtime = DatabaseRuntime { name: name.to_string(), combine: database.combine, page: None, haproxy: None };
    if let Some(http) = database.http_check() {
        let (client, check) = http_probe(&format!("{site}/database"), &http, settings)?;
        runtime.page = Some(CheckRuntime::new(name, CheckRole::Database, target(&http), settings));
        let slot = CheckSlot::Database { site: index };
        probes.push(Probe { settings, kind: ProbeKind::Http { slot, client, check: Box::new(check) } });
    }
    if let Some(backend) = &database.haproxy_backend {
        // Read with every stats fetch; rise and fall are the database's own.
        let fetch = fetch.expect("validated: haproxy_backend needs [site.haproxy]");
        let rise_fall = ProbeOverrides { rise: Some(settings.rise), fall: Some(settings.fall), ..Default::default() };
        let check = CheckRuntime::new(name, CheckRole::DatabaseHaproxy, backend.clone(), fetch.with(rise_fall));
        runtime.haproxy = Some(check);
    }
    Ok(runtime)
}

/// The fetch of HAProxy's stats, which also feeds the servers checked through HAProxy.
fn haproxy_check(
    probes: &mut Vec<Probe>,
    index: usize,
    site: &str,
    haproxy: &HaproxyConfig,
    defaults: ProbeSettings,
) -> Result<CheckRuntime, HealthError> {
    let settings = defaults.with(haproxy.overrides());
    let url = parse_url(&haproxy.url);
    let client = plain_client(settings.timeout, haproxy.tls_skip_verify)
        .map_err(|source| HealthError::HttpClient { check: format!("{site}/haproxy"), source })?;
    let check = CheckRuntime::new(&haproxy.backend, CheckRole::HaproxyStats, url.to_string(), settings);
    let kind = ProbeKind::Haproxy { site: index, client, url };
    probes.push(Probe { settings, kind });
    Ok(check)
}

fn parse_url(url: &str) -> Url {
    Url::parse(url).expect("validated URL")
}
