//! Runs one probe: forever, one interval apart, recording each result.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Url};
use tokio::time::Instant;

use crate::health::config::ProbeSettings;
use crate::health::haproxy::parse_stats;
use crate::health::http_probe::{HttpExpectation, STATS_BODY_LIMIT, fetch_text, probe_http};
use crate::health::shared::{CheckSlot, Shared};
use crate::health::tcp_probe::probe_tcp;

/// One probe task: what to probe and how often.
pub(crate) struct Probe {
    pub settings: ProbeSettings,
    pub kind: ProbeKind,
}

pub(crate) enum ProbeKind {
    Tcp { slot: CheckSlot, address: SocketAddr },
    Http { slot: CheckSlot, client: Client, url: Url, expect: HttpExpectation },
    Haproxy { site: usize, client: Client, url: Url },
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
            ProbeKind::Haproxy { site, client, url } => {
                let fetched =
                    fetch_text(client, url, STATS_BODY_LIMIT, settings.timeout).await.and_then(|(text, latency)| {
                        parse_stats(&text).map(|page| (page, latency)).map_err(|e| e.to_string())
                    });
                shared.record_haproxy(*site, fetched);
            }
        }
        tokio::time::sleep_until(started + settings.interval).await;
    }
}
