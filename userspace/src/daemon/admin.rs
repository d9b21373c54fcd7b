//! The admin socket: one JSON request per line, one JSON answer per line. The CLI's side is
//! `crate::cli::admin_client`.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tracing::warn;

use super::reload::{ReloadError, ReloadRequest};
use crate::{
    config::rrl::RrlSection,
    dns::counters::{ServerCounters, ServerCountersSnapshot},
    health::SiteStatus,
    operator::{self, Override, SiteSetting},
    peers::PeersStatus,
    rrl::{Rrl, RrlChange},
    sync::{SyncNode, SyncStatus},
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Stats,
    Status,
    /// Database sync per peer: backlog, lag, last batch, conflicts.
    SyncStatus,
    /// Answer this name, type and view with these addresses until `map_del`.
    MapSet(Override),
    /// Remove an override (only its key is read): the policy's answer is back.
    MapDel(Override),
    /// `MapSet` in the default view and every `[[view]]` at once (the override's view is not read).
    MapSetAllViews(Override),
    /// `MapDel` in every view that has an override for the name and type.
    MapDelAllViews(Override),
    SiteDrain {
        site: String,
        drained: bool,
    },
    SiteWeight {
        site: String,
        weight: u32,
    },
    /// Re-read the config file.
    Reload,
    /// A daemon replacing this one asks for its sockets (see `daemon::handoff`).
    Handoff,
    /// Response rate limiting: the settings in force and the counters.
    RrlShow,
    /// Changes the rate limits or the exempt prefixes until the next reload or restart.
    Rrl(RrlChange),
}

/// What the daemon says about itself.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct Status {
    pub instance: String,
    /// The config file the daemon re-reads at a reload, as an absolute path (none from a
    /// daemon that predates this field).
    #[serde(default)]
    pub config_file: Option<std::path::PathBuf>,
    pub xdp_mode: String,
    pub xdp_interfaces: Vec<String>,
    pub services: usize,
    pub map_entries: usize,
    /// Every site: its state and each of its checks.
    #[serde(default)]
    pub sites: Vec<SiteStatus>,
    /// Heartbeats with the other sites' DNS servers, when `[peers]` is configured.
    #[serde(default)]
    pub peers: Option<PeersStatus>,
    /// Sites an operator drained or weighted (the others are undrained at full weight).
    #[serde(default)]
    pub site_settings: BTreeMap<String, SiteSetting>,
    /// Every zone with `[zone.dnssec]`: its keys and signatures.
    #[serde(default)]
    pub signed_zones: Vec<crate::dnssec::status::SignedZoneStatus>,
    /// Answers set by hand (`switchyard map set`), which both paths give instead of the
    /// policy's: listed here also when XDP is off and there is no map to read them from.
    #[serde(default)]
    pub overrides: Vec<crate::operator::Override>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Stats {
        userspace: ServerCountersSnapshot,
    },
    Status(Box<Status>),
    SyncStatus(Box<SyncStatus>),
    Rrl(Box<RrlStatus>),
    /// A change was made; what it was.
    Done(String),
    Error(String),
}

/// What `switchyard rrl show` prints (with the XDP counters, which it reads from the pins).
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct RrlStatus {
    pub settings: RrlSection,
    /// The userspace server's counters (`rrl_*` among them).
    pub userspace: ServerCountersSnapshot,
    /// Client prefixes with a bucket in the daemon's own table (XDP off); `None` while the
    /// daemon charges the XDP program's buckets.
    pub userspace_prefixes: Option<usize>,
}

pub struct AdminState {
    pub counters: Arc<ServerCounters>,
    /// Builds the status when asked: sites and peers change while the daemon runs.
    pub status: Box<dyn Fn() -> Status + Send + Sync>,
    /// Where the sync node is, when `[sync]` is configured.
    pub reloadable: Arc<super::reloadable::Reloadable>,
    pub operator: Arc<operator::Handle>,
    pub rrl: Arc<Rrl>,
    /// The daemon's main loop, which owns everything a reload replaces.
    pub reload: tokio::sync::mpsc::Sender<ReloadRequest>,
    /// Where a hand-off request's connection goes: the main loop answers it.
    pub handoff: tokio::sync::mpsc::Sender<std::os::unix::net::UnixStream>,
}

/// Binds the admin socket, removing a stale socket file first.
pub fn bind(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    std::os::unix::net::UnixListener::bind(path)
}

/// Serves the socket until the task is dropped.
pub fn serve(
    listener: std::os::unix::net::UnixListener,
    state: Arc<AdminState>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = UnixListener::from_std(listener)?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(handle(stream, state.clone()));
                }
                Err(e) => warn!(error = %e, "admin accept failed"),
            }
        }
    }))
}

async fn handle(stream: UnixStream, state: Arc<AdminState>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let request = serde_json::from_str::<Request>(&line);
        if matches!(request, Ok(Request::Handoff)) {
            // The requester sent nothing after its line: the reader holds nothing more.
            let read = lines.into_inner().into_inner();
            if let Ok(stream) = read.reunite(write)
                && let Ok(stream) = stream.into_std()
                && stream.set_nonblocking(false).is_ok()
            {
                let _ = state.handoff.send(stream).await;
            }
            return;
        }
        let response = match request {
            Ok(Request::Handoff) => unreachable!("handled above"),
            Ok(Request::Stats) => Response::Stats { userspace: state.counters.snapshot() },
            Ok(Request::Status) => Response::Status(Box::new((state.status)())),
            Ok(Request::SyncStatus) => sync_status(state.reloadable.sync.load_full().as_deref()).await,
            Ok(Request::MapSet(entry)) => done(state.operator.set_override(entry).await),
            Ok(Request::MapDel(key)) => done(state.operator.remove_override(key).await),
            Ok(Request::MapSetAllViews(entry)) => done(state.operator.set_override_all_views(entry).await),
            Ok(Request::MapDelAllViews(key)) => done(state.operator.remove_override_all_views(key).await),
            Ok(Request::SiteDrain { site, drained }) => {
                let word = if drained { "drained" } else { "undrained" };
                done(
                    state
                        .operator
                        .set_site(&site, |s| s.drained = drained)
                        .await
                        .map(|_| format!("site {site} {word}")),
                )
            }
            Ok(Request::SiteWeight { site, weight }) => done(
                state
                    .operator
                    .set_site(&site, |s| s.weight = weight)
                    .await
                    .map(|_| format!("site {site} weight {weight}")),
            ),
            Ok(Request::Reload) => done(reload(&state).await),
            Ok(Request::RrlShow) => Response::Rrl(Box::new(RrlStatus {
                settings: state.rrl.settings(),
                userspace: state.counters.snapshot(),
                userspace_prefixes: state.rrl.tracked_prefixes(),
            })),
            Ok(Request::Rrl(change)) => done(state.rrl.change(change)),
            Err(e) => Response::Error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_vec(&response).expect("serialisable");
        out.push(b'\n');
        if write.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn done(result: Result<String, impl std::fmt::Display>) -> Response {
    match result {
        Ok(message) => Response::Done(message),
        Err(e) => Response::Error(e.to_string()),
    }
}

async fn reload(state: &AdminState) -> Result<String, ReloadError> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    state.reload.send(ReloadRequest { reply: Some(reply) }).await.map_err(|_| ReloadError::ShuttingDown)?;
    answer.await.map_err(|_| ReloadError::ShuttingDown)?
}

async fn sync_status(node: Option<&SyncNode>) -> Response {
    let Some(node) = node else {
        return Response::Error("database sync is not configured ([sync])".into());
    };
    match node.status().await {
        Ok(status) => Response::SyncStatus(Box::new(status)),
        Err(e) => Response::Error(format!("sync status: {e}")),
    }
}
