//! Turns the configuration into probe tasks and runs them.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Url};
use tokio::time::Instant;

use crate::health::config::{CheckKind, HealthConfig, ProbeSettings};
use crate::health::error::HealthError;
use crate::health::haproxy::parse_backend;
use crate::health::http_probe::{HttpExpectation, STATS_BODY_LIMIT, build_client, fetch_text, probe_http};
use crate::health::shared::{CheckSlot, Shared};
use crate::health::site_runtime::{CheckRuntime, SiteRuntime};
use crate::health::tcp_probe::probe_tcp;
use crate::site::SiteState;

pub(crate) struct Plan {
    pub sites: Vec<SiteRuntime>,
    pub probes: Vec<Probe>,
}

pub(crate) struct Probe {
    settings: ProbeSettings,
    kind: ProbeKind,
}

enum ProbeKind {
    Tcp { slot: CheckSlot, address: SocketAddr },
    Http { slot: CheckSlot, client: Client, url: Url, expect: HttpExpectation },
    Haproxy { site: usize, client: Client, url: Url, backend: String },
}

/// Builds the runtime state of every site and the probes to run.
/// Expects a validated config.
pub(crate) fn plan(config: &HealthConfig) -> Result<Plan, HealthError> {
    let mut sites = Vec::new();
    let mut probes = Vec::new();
    for (site_index, site) in config.sites.iter().enumerate() {
        let defaults = config.site_settings(site);
        let mut runtime = SiteRuntime {
            name: site.name.clone(),
            remote: site.remote,
            static_load: site.load,
            servers: Vec::new(),
            database: None,
            haproxy: None,
            haproxy_load: None,
            published: if site.is_static() {
                SiteState { available: true, load: site.load.unwrap_or(0), rtt_us: 0 }
            } else {
                SiteState::UNAVAILABLE
            },
        };
        for (server_index, server) in site.servers.iter().enumerate() {
            let settings = defaults.with(server.overrides());
            let slot = CheckSlot::Server { site: site_index, server: server_index };
            let check_name = format!("{}/{}", site.name, server.name);
            let (kind, target) = match server.check {
                CheckKind::Tcp => {
                    let address = server.address.expect("validated: tcp has address");
                    probes.push(Probe { settings, kind: ProbeKind::Tcp { slot, address } });
                    ("tcp", address.to_string())
                }
                CheckKind::Http => {
                    let url = parse_url(server.url.as_deref().expect("validated: http has url"));
                    let client = client_for(&check_name, settings, server.tls_skip_verify)?;
                    let expect = HttpExpectation { status: server.expect_status.unwrap_or(200), keyword: None };
                    probes.push(Probe { settings, kind: ProbeKind::Http { slot, client, url: url.clone(), expect } });
                    ("http", url.to_string())
                }
                // Fed by the site's HAProxy fetch; the target is the HAProxy server name.
                CheckKind::Haproxy => ("haproxy", server.haproxy_name().to_string()),
            };
            runtime.servers.push(CheckRuntime::new(&server.name, kind, target, settings));
        }
        if let Some(database) = &site.database {
            let settings = defaults.with(database.overrides());
            let url = parse_url(&database.url);
            let client = client_for(&format!("{}/database", site.name), settings, database.tls_skip_verify)?;
            let expect = HttpExpectation {
                status: database.expect_status.unwrap_or(200),
                keyword: database.effective_keyword().map(str::to_string),
            };
            let slot = CheckSlot::Database { site: site_index };
            let name = database.name.as_deref().unwrap_or("database");
            runtime.database = Some(CheckRuntime::new(name, "database", url.to_string(), settings));
            probes.push(Probe { settings, kind: ProbeKind::Http { slot, client, url, expect } });
        }
        if let Some(haproxy) = &site.haproxy {
            let settings = defaults.with(haproxy.overrides());
            let url = parse_url(&haproxy.url);
            let client = client_for(&format!("{}/haproxy", site.name), settings, haproxy.tls_skip_verify)?;
            runtime.haproxy = Some(CheckRuntime::new(&haproxy.backend, "haproxy_stats", url.to_string(), settings));
            let kind = ProbeKind::Haproxy { site: site_index, client, url, backend: haproxy.backend.clone() };
            probes.push(Probe { settings, kind });
        }
        sites.push(runtime);
    }
    Ok(Plan { sites, probes })
}

fn parse_url(url: &str) -> Url {
    Url::parse(url).expect("validated URL")
}

fn client_for(check: &str, settings: ProbeSettings, tls_skip_verify: bool) -> Result<Client, HealthError> {
    build_client(settings.timeout, tls_skip_verify)
        .map_err(|source| HealthError::HttpClient { check: check.to_string(), source })
}

/// Probes forever. A probe starts one interval after the previous one
/// started, or right after it ended if it took longer; every probe is
/// bounded by its timeout, so a hanging target never stalls the loop.
pub(crate) async fn run(shared: Arc<Shared>, probe: Probe) {
    let Probe { settings, kind } = probe;
    loop {
        let started = Instant::now();
        match &kind {
            ProbeKind::Tcp { slot, address } => {
                shared.record(*slot, probe_tcp(*address, settings.timeout).await);
            }
            ProbeKind::Http { slot, client, url, expect } => {
                shared.record(*slot, probe_http(client, url, expect, settings.timeout).await);
            }
            ProbeKind::Haproxy { site, client, url, backend } => {
                let fetched =
                    fetch_text(client, url, STATS_BODY_LIMIT, settings.timeout).await.and_then(|(text, latency)| {
                        parse_backend(&text, backend).map(|view| (view, latency)).map_err(|e| e.to_string())
                    });
                shared.record_haproxy(*site, fetched);
            }
        }
        tokio::time::sleep_until(started + settings.interval).await;
    }
}
