//! Starting from config: binding `listen`, refusing unsafe key files, and
//! stopping on a cancel signal. Public API only.

mod peers_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use peers_common::*;
use switchyard::peers::{PeerService, PeersConfig, StartError};
use tokio::sync::{oneshot, watch};

fn free_port_address() -> std::net::SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[tokio::test]
async fn refuses_a_key_file_others_can_read() {
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let config = PeersConfig::new(free_port_address(), vec![key.clone()]);
    let (_tx, rx) = watch::channel(state(0));
    let error = PeerService::start(config, "a", "dns-a1", rx).await.err().expect("must refuse");
    assert!(matches!(error, StartError::Key(_)));
    let message = error.to_string();
    assert!(message.contains(&key.display().to_string()) && message.contains("0644"), "{message}");
}

#[tokio::test]
async fn refuses_invalid_config_naming_the_field() {
    let keys = KeyDir::new();
    let mut config = PeersConfig::new(free_port_address(), vec![keys.key("peer.key", KEY_OLD)]);
    config.max_skew_ms = 0;
    let (_tx, rx) = watch::channel(state(0));
    let error = PeerService::start(config, "a", "dns-a1", rx).await.err().expect("must refuse");
    assert!(error.to_string().contains("peers.max_skew_ms"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_listen_and_stops_on_cancel() {
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    let address = free_port_address();
    let mut config = PeersConfig::new(address, vec![key]);
    config.period_ms = PERIOD_MS;
    let (_tx, rx) = watch::channel(state(0));
    let handle = PeerService::start(config, "a", "dns-a1", rx).await.unwrap();
    assert_eq!(handle.local_addr(), address);
    let status = handle.status();
    assert_eq!((status.site.as_str(), status.period_ms, status.live_periods), ("a", PERIOD_MS, 3));
    assert!(status.peers.is_empty());

    let (cancel, cancelled) = oneshot::channel::<()>();
    let running = tokio::spawn(handle.shutdown_on(async {
        let _ = cancelled.await;
    }));
    cancel.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running).await.unwrap().unwrap();
    // The socket is released once shutdown returns.
    std::net::UdpSocket::bind(address).expect("port is free again");
}
