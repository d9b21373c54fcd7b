//! Runs one probe: forever, one interval apart, recording each result.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Client, Url};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::health::config::ProbeSettings;
use crate::health::exec_probe::{ExecCheck, StderrLog, probe_exec};
use crate::health::haproxy::parse_stats;
use crate::health::http_check::HttpCheck;
use crate::health::http_probe::{STATS_BODY_LIMIT, fetch_text, probe_http};
use crate::health::shared::{CheckSlot, Shared};
use crate::health::tcp_probe::probe_tcp;

/// One probe task: what to probe and how often.
pub(crate) struct Probe {
    pub settings: ProbeSettings,
    pub kind: ProbeKind,
}

pub(crate) enum ProbeKind {
    Tcp {
        slot: CheckSlot,
        address: SocketAddr,
    },
    Http {
        slot: CheckSlot,
        client: Client,
        check: Box<HttpCheck>,
    },
    Haproxy {
        site: usize,
        client: Client,
        url: Url,
    },
    /// An external check; `slots` bounds how many run at once.
    Exec {
        slot: CheckSlot,
        check: ExecCheck,
        slots: Arc<Semaphore>,
    },
}

/// Probes forever. A probe starts one interval after the previous one
/// started, or right after it ended if it took longer; every probe is
/// bounded by its timeout, so a hanging target never stalls the loop.
pub(crate) async fn run(shared: Arc<Shared>, probe: Probe) {
    let Probe { settings, kind } = probe;
    let mut stderr = StderrLog::default();
    loop {
        let started = Instant::now();
        match &kind {
            ProbeKind::Tcp { slot, address } => {
                shared.record(*slot, probe_tcp(*address, settings.timeout).await);
            }
            ProbeKind::Http { slot, client, check } => {
                shared.record(*slot, probe_http(client, check, settings.timeout).await);
            }
            ProbeKind::Haproxy { site, client, url } => {
                let fetched =
                    fetch_text(client, url, STATS_BODY_LIMIT, settings.timeout).await.and_then(|(text, latency)| {
                        parse_stats(&text).map(|page| (page, latency)).map_err(|e| e.to_string())
                    });
                shared.record_haproxy(*site, fetched);
            }
            ProbeKind::Exec { slot, check, slots } => {
                let result = probe_exec(check, slots, settings.timeout, &mut stderr).await;
                shared.record_exec(*slot, result);
            }
        }
        tokio::time::sleep_until(started + settings.interval).await;
    }
}
