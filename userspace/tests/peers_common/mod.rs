//! Helpers shared by the integration tests: key files, loopback sockets,
//! configs and waiting for conditions with deadlines.
#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchyard::peers::{LivenessRule, PeerConfig, PeerHandle, PeerService, PeerView, PeersConfig, PeersStatus};
use switchyard::site::SiteState;
use tokio::sync::watch;

pub const PERIOD_MS: u64 = 50;
pub const LIVE_PERIODS: u32 = 3;
pub const KEY_OLD: &str = "old-shared-key-0123456789abcdef";
pub const KEY_NEW: &str = "new-shared-key-0123456789abcdef";
pub const KEY_WRONG: &str = "wrong-shared-key-0123456789abcd";

pub struct KeyDir {
    dir: tempfile::TempDir,
}

impl KeyDir {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    /// Writes a private (0600) key file.
    pub fn key(&self, name: &str, secret: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, format!("{secret}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }
}

/// A site in a test: its names and the loopback address it listens on.
#[derive(Clone, Debug)]
pub struct Site {
    pub site: String,
    pub node: String,
    pub address: SocketAddr,
}

/// Binds `count` loopback sockets on free ports, so addresses are known
/// before any service starts.
pub fn loopback_sockets(count: usize) -> Vec<UdpSocket> {
    (0..count).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect()
}

pub fn sites(sockets: &[UdpSocket]) -> Vec<Site> {
    sockets
        .iter()
        .enumerate()
        .map(|(index, socket)| {
            let site = ((b'a' + index as u8) as char).to_string();
            Site { node: format!("dns-{site}1"), site, address: socket.local_addr().unwrap() }
        })
        .collect()
}

/// Config for `me`, listing every other site as a peer.
pub fn config_for(me: &Site, all: &[Site], key_files: Vec<PathBuf>, rule: LivenessRule) -> PeersConfig {
    let mut config = PeersConfig::new(me.address, key_files);
    config.period_ms = PERIOD_MS;
    config.live_periods = LIVE_PERIODS;
    config.liveness_rule = rule;
    config.peers = all
        .iter()
        .filter(|other| other.site != me.site)
        .map(|other| PeerConfig { site: other.site.clone(), node: other.node.clone(), address: other.address })
        .collect();
    config
}

pub fn state(load: u32) -> SiteState {
    SiteState { available: true, load, rtt_us: 250 }
}

pub async fn start(config: PeersConfig, me: &Site, load: u32, socket: UdpSocket) -> PeerHandle {
    let (_tx, rx) = watch::channel(state(load));
    PeerService::start_on_socket(config, &me.site, &me.node, rx, socket).await.unwrap()
}

/// Binds `address` again after its previous owner was dropped; the aborted
/// tasks release the socket asynchronously.
pub async fn bind_again(address: SocketAddr) -> UdpSocket {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match UdpSocket::bind(address) {
            Ok(socket) => return socket,
            Err(error) if Instant::now() < deadline => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(error) => panic!("cannot rebind {address}: {error}"),
        }
    }
}

/// Waits until `site`'s view satisfies `condition`; returns the time taken.
pub async fn wait_for_view(
    handle: &PeerHandle,
    site: &str,
    within: Duration,
    condition: impl Fn(&PeerView) -> bool,
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut views = handle.views();
    let waited = tokio::time::timeout(within, views.wait_for(|views| views.get(site).is_some_and(&condition))).await;
    match waited {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(_)) => Err("views channel closed".into()),
        Err(_) => {
            Err(format!("site {site} not as expected within {within:?}: {:?}", handle.views().borrow().get(site)))
        }
    }
}

pub async fn wait_alive(handle: &PeerHandle, site: &str) {
    wait_for_view(handle, site, Duration::from_secs(5), |view| view.alive).await.unwrap();
}

/// Polls the status until `condition` holds.
pub async fn wait_for_status(
    handle: &PeerHandle,
    within: Duration,
    condition: impl Fn(&PeersStatus) -> bool,
) -> PeersStatus {
    let deadline = Instant::now() + within;
    loop {
        let status = handle.status();
        if condition(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "status condition not met within {within:?}: {status:#?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub fn periods(count: u32) -> Duration {
    Duration::from_millis(PERIOD_MS) * count
}
