//! The running service: one UDP socket and three tasks (send heartbeats,
//! receive heartbeats, re-evaluate liveness at each period boundary).

use std::future::Future;
use std::net::{SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{MissedTickBehavior, interval, interval_at};

use super::config::{ConfigError, PeersConfig};
use super::keys::{KeyError, KeyRing};
use super::liveness::send_interval;
use super::peer_table::{PeerTable, SavedPeer};
use super::period_clock::PeriodClock;
use super::status::PeersStatus;
use super::view::PeerViews;
use super::wire::{self, Heartbeat, MAX_DATAGRAM_LEN, MAX_LOAD};
use crate::site::SiteState;

/// Pause after a failed receive so a persistent socket error cannot spin.
const RECEIVE_ERROR_BACKOFF: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid peers config: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot bind the peer heartbeat socket to {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("cannot use the peer heartbeat socket: {0}")]
    Socket(std::io::Error),
}

pub struct PeerService;

impl PeerService {
    /// Validates the config, loads the keys, binds `config.listen` and starts
    /// the tasks on the current Tokio runtime.
    pub async fn start(
        config: PeersConfig,
        own_site: &str,
        own_node: &str,
        own_state: watch::Receiver<SiteState>,
    ) -> Result<PeerHandle, StartError> {
        let keys = prepare(&config, own_site, own_node)?;
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind { address: config.listen, source })?;
        spawn(config, own_site, own_node, own_state, keys, socket, &[])
    }

    /// Like [`PeerService::start`] but on a socket the caller bound already
    /// (socket activation, or tests that pick free ports first).
    pub async fn start_on_socket(
        config: PeersConfig,
        own_site: &str,
        own_node: &str,
        own_state: watch::Receiver<SiteState>,
        socket: std::net::UdpSocket,
    ) -> Result<PeerHandle, StartError> {
        PeerService::start_restored(config, own_site, own_node, own_state, socket, &[]).await
    }

    /// Like [`PeerService::start_on_socket`], going on from what an earlier start of this
    /// server knew about its peers (see [`PeerHandle::saved`]).
    pub async fn start_restored(
        config: PeersConfig,
        own_site: &str,
        own_node: &str,
        own_state: watch::Receiver<SiteState>,
        socket: std::net::UdpSocket,
        saved: &[SavedPeer],
    ) -> Result<PeerHandle, StartError> {
        let keys = prepare(&config, own_site, own_node)?;
        socket.set_nonblocking(true).map_err(StartError::Socket)?;
        let socket = UdpSocket::from_std(socket).map_err(StartError::Socket)?;
        spawn(config, own_site, own_node, own_state, keys, socket, saved)
    }
}

fn prepare(config: &PeersConfig, own_site: &str, own_node: &str) -> Result<KeyRing, StartError> {
    config.validate()?;
    config.validate_identity(own_site, own_node)?;
    Ok(KeyRing::load(&config.key_files)?)
}

/// State shared by the tasks and the handle.
struct Shared {
    table: Mutex<PeerTable>,
    views: watch::Sender<PeerViews>,
    heartbeats_sent: AtomicU64,
    /// The parts of the status that never change.
    status_template: PeersStatus,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, PeerTable> {
        // A panic elsewhere must not silence heartbeats; the table stays usable.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes under the table lock so that views are never sent out of order.
    fn publish(&self, table: &PeerTable) {
        let views = table.views();
        self.views.send_if_modified(|current| {
            if *current == views {
                return false;
            }
            *current = views;
            true
        });
    }
}

fn spawn(
    config: PeersConfig,
    own_site: &str,
    own_node: &str,
    own_state: watch::Receiver<SiteState>,
    keys: KeyRing,
    socket: UdpSocket,
    saved: &[SavedPeer],
) -> Result<PeerHandle, StartError> {
    let local_addr = socket.local_addr().map_err(StartError::Socket)?;
    let boot_id: u64 = rand::random();
    let now = Instant::now();
    // Slots start N + 1 periods back, so that saved liveness can stand for the last N.
    let back = config.period() * (config.live_periods + 1);
    let clock = PeriodClock::new(now.checked_sub(back).unwrap_or(now), config.period());
    let mut table = PeerTable::new(&config, keys.clone(), clock, boot_id);
    table.restore(saved, now);
    let (views_tx, views_rx) = watch::channel(table.views());
    let shared = Arc::new(Shared {
        table: Mutex::new(table),
        views: views_tx,
        heartbeats_sent: AtomicU64::new(0),
        status_template: PeersStatus {
            site: own_site.to_owned(),
            node: own_node.to_owned(),
            listen: local_addr,
            period_ms: config.period_ms,
            live_periods: config.live_periods,
            liveness_rule: config.liveness_rule,
            boot_id,
            heartbeats_sent: 0,
            key_ids: keys.key_ids(),
            peers: Vec::new(),
            drops: Default::default(),
        },
    });
    let socket = Arc::new(socket);
    let beacon = Arc::new(Beacon {
        socket: socket.clone(),
        shared: shared.clone(),
        local_addr,
        own_site: own_site.to_owned(),
        own_node: own_node.to_owned(),
        own_state,
        boot_id,
        sequence: tokio::sync::Mutex::new(0),
    });
    tracing::info!(
        site = own_site,
        node = own_node,
        %local_addr,
        peers = config.peers.len(),
        boot_id = format_args!("{boot_id:016x}"),
        "peer heartbeats started"
    );
    let tasks = vec![
        tokio::spawn(send_loop(beacon.clone(), send_interval(config.period()))),
        tokio::spawn(receive_loop(socket, shared.clone(), beacon)),
        tokio::spawn(liveness_timer(shared.clone(), clock)),
    ];
    Ok(PeerHandle { shared, views: views_rx, tasks, local_addr })
}

/// An IPv6 socket reaches IPv4 peers through v4-mapped addresses.
fn reachable_from(local: SocketAddr, peer: SocketAddr) -> SocketAddr {
    match (local, peer) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => peer,
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

/// Sends heartbeats: every period to every peer, and at once to a peer that needs one.
struct Beacon {
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    own_site: String,
    own_node: String,
    own_state: watch::Receiver<SiteState>,
    boot_id: u64,
    /// The last sequence number sent. Held from numbering a heartbeat until it is sent, so that
    /// the periodic heartbeats and the ones sent at once to a peer leave in sequence order: one
    /// overtaken by a later number would be dropped as replayed.
    sequence: tokio::sync::Mutex<u64>,
}

impl Beacon {
    /// One heartbeat to every peer, or only to the peer at `only`.
    async fn send(&self, only: Option<usize>) {
        let mut last = self.sequence.lock().await;
        let targets = self.shared.table().targets();
        for (index, (address, echo)) in targets.into_iter().enumerate() {
            if only.is_some_and(|i| i != index) {
                continue;
            }
            *last += 1;
            let Some(datagram) = self.datagram(*last, echo) else {
                continue;
            };
            let target = reachable_from(self.local_addr, address);
            if let Err(error) = self.socket.send_to(&datagram, target).await {
                tracing::debug!(%target, %error, "heartbeat not sent");
            }
        }
        self.shared.heartbeats_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn datagram(&self, sequence: u64, echo: u64) -> Option<Vec<u8>> {
        let mut state = *self.own_state.borrow();
        // An out-of-range load from the policy side must not stop heartbeats.
        state.load = state.load.min(MAX_LOAD);
        let heartbeat = Heartbeat {
            site: self.own_site.clone(),
            node: self.own_node.clone(),
            boot_id: self.boot_id,
            sequence,
            echo,
            sent_unix_ms: unix_ms(),
            state,
        };
        wire::encode(&heartbeat, &self.shared.table().signing_key())
            .inspect_err(|error| tracing::error!(%error, "cannot encode heartbeat"))
            .ok()
    }
}

/// Every `interval` (`send_interval`), starting at once.
async fn send_loop(beacon: Arc<Beacon>, interval_between: Duration) {
    let mut ticker = interval(interval_between);
    // Keep the fixed cadence after a stall instead of bursting to catch up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        beacon.send(None).await;
    }
}

async fn receive_loop(socket: Arc<UdpSocket>, shared: Arc<Shared>, beacon: Arc<Beacon>) {
    // One byte more than allowed, so oversized datagrams are seen as such.
    let mut buffer = [0u8; MAX_DATAGRAM_LEN + 1];
    loop {
        let (len, from) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "heartbeat receive failed");
                tokio::time::sleep(RECEIVE_ERROR_BACKOFF).await;
                continue;
            }
        };
        let now = Instant::now();
        let receipt = {
            let mut table = shared.table();
            let receipt = table.receive(&buffer[..len], now, unix_ms());
            if receipt.verdict.is_ok() {
                shared.publish(&table);
            }
            receipt
        };
        if let Err(reason) = receipt.verdict {
            tracing::debug!(%from, reason = reason.as_str(), "heartbeat dropped");
        }
        if let Some(peer) = receipt.answer {
            beacon.send(Some(peer)).await;
        }
    }
}

/// Re-evaluates liveness just after each slot boundary of our period clock,
/// so silence is noticed without waiting for a datagram.
async fn liveness_timer(shared: Arc<Shared>, clock: PeriodClock) {
    let next_boundary = clock.slot_start(clock.slot(Instant::now()) + 1);
    let mut ticker = interval_at(next_boundary.into(), clock.period());
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        let mut table = shared.table();
        table.evaluate(Instant::now());
        shared.publish(&table);
    }
}

/// Owns the running tasks: dropping it stops them (the socket closes once
/// the aborted tasks are gone); [`PeerHandle::shutdown`] also waits for that.
/// The views channel closes when the handle is gone.
pub struct PeerHandle {
    shared: Arc<Shared>,
    views: watch::Receiver<PeerViews>,
    tasks: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

impl PeerHandle {
    /// Site -> view; changes whenever a site's liveness or reported state does.
    pub fn views(&self) -> watch::Receiver<PeerViews> {
        self.views.clone()
    }

    pub fn status(&self) -> PeersStatus {
        let mut status = self.shared.status_template.clone();
        status.heartbeats_sent = self.shared.heartbeats_sent.load(Ordering::Relaxed);
        self.shared.table().fill_status(&mut status, Instant::now());
        status
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Takes a reloaded `[peers]` with the same listen address and period: peers added and
    /// removed, keys rotated (see `KeyRing::rotated_from`). Heartbeats go to the new list
    /// from the next one on. Nothing changes on an error.
    pub fn reconfigure(&self, config: &PeersConfig) -> Result<(), StartError> {
        config.validate()?;
        let keys = KeyRing::load(&config.key_files)?;
        let mut table = self.shared.table();
        table.reconfigure(config, keys);
        self.shared.publish(&table);
        Ok(())
    }

    /// What a later start of this server needs to go on where this one is.
    pub fn saved(&self) -> Vec<SavedPeer> {
        self.shared.table().saved()
    }

    pub fn boot_id(&self) -> u64 {
        self.shared.status_template.boot_id
    }

    /// Stops sending and receiving heartbeats at once (the socket closes once every handle
    /// is gone).
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Stops the tasks and waits until they, and so the socket, are gone.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        tracing::info!(site = %self.shared.status_template.site, "peer heartbeats stopped");
    }

    /// Runs until `cancel` completes (e.g. a shutdown signal), then shuts down.
    pub async fn shutdown_on(self, cancel: impl Future<Output = ()>) {
        cancel.await;
        self.shutdown().await;
    }
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
