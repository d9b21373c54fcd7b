//! Datagrams that must be dropped and counted, never acted upon: wrong key,
//! replay, stale timestamp, garbage. Also key rotation. Public API only.

mod peers_common;

use std::net::UdpSocket;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peers_common::*;
use rand::RngExt;
use switchyard::peers::wire::{self, Heartbeat, MAX_DATAGRAM_LEN};
use switchyard::peers::{DropCounters, KeyRing, LivenessRule};

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_with_wrong_key_is_ignored_and_counted() {
    let keys = KeyDir::new();
    let good = keys.key("good.key", KEY_OLD);
    let wrong = keys.key("wrong.key", KEY_WRONG);
    let sockets = loopback_sockets(2);
    let all = sites(&sockets);
    let mut sockets = sockets.into_iter();
    let a =
        start(config_for(&all[0], &all, vec![good], LivenessRule::EveryPeriod), &all[0], 1, sockets.next().unwrap())
            .await;
    let b =
        start(config_for(&all[1], &all, vec![wrong], LivenessRule::EveryPeriod), &all[1], 2, sockets.next().unwrap())
            .await;

    let status = wait_for_status(&a, Duration::from_secs(5), |status| status.drops.unknown_key >= 10).await;
    let peer_b = &status.peers[0];
    assert!(!peer_b.alive);
    assert_eq!(peer_b.heartbeats_accepted, 0);
    assert_eq!(peer_b.reported_state, None);
    assert_eq!(a.views().borrow()["b"].state, None);
    assert_eq!(status.drops.total(), status.drops.unknown_key);
    println!("a dropped {:?}", status.drops);
    drop(b);
}

/// A relay between a real sender and the receiver: captures a datagram,
/// delivers it once (accepted), then again (dropped as replayed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_datagram_is_dropped_and_counted() {
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    let sockets = loopback_sockets(2);
    let relay = UdpSocket::bind("127.0.0.1:0").unwrap();
    relay.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let all = sites(&sockets);
    // a believes b lives at the relay; b knows a at a's real address.
    let mut a_view_of_world = all.clone();
    a_view_of_world[1].address = relay.local_addr().unwrap();
    let mut sockets = sockets.into_iter();
    let a = start(
        config_for(&all[0], &a_view_of_world, vec![key.clone()], LivenessRule::EveryPeriod),
        &all[0],
        7,
        sockets.next().unwrap(),
    )
    .await;
    let b = start(config_for(&all[1], &all, vec![key], LivenessRule::EveryPeriod), &all[1], 8, sockets.next().unwrap())
        .await;

    // The first datagram that echoes b's start (a's first ones may precede a hearing b).
    let ring = KeyRing::from_secrets(&[KEY_OLD]).unwrap();
    let mut buffer = [0u8; 512];
    let captured = loop {
        let (len, _) = relay.recv_from(&mut buffer).unwrap();
        if wire::decode(&buffer[..len], &ring).unwrap().heartbeat.echo == b.boot_id() {
            break buffer[..len].to_vec();
        }
    };
    let captured = &captured[..];
    drop(a); // from now on b hears from a only through us
    relay.send_to(captured, all[1].address).unwrap();
    let status = wait_for_status(&b, Duration::from_secs(5), |status| status.peers[0].heartbeats_accepted == 1).await;
    assert_eq!(status.peers[0].reported_state, Some(state(7)));
    for _ in 0..3 {
        relay.send_to(captured, all[1].address).unwrap();
    }
    let status = wait_for_status(&b, Duration::from_secs(5), |status| status.drops.replayed == 3).await;
    assert_eq!(status.peers[0].heartbeats_accepted, 1);
    assert_eq!(status.peers[0].drops.replayed, 3);
    assert_eq!(status.drops, DropCounters { replayed: 3, ..Default::default() });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_future_timestamps_are_dropped() {
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    let sockets = loopback_sockets(2);
    let all = sites(&sockets);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = start(
        config_for(&all[1], &all, vec![key], LivenessRule::EveryPeriod),
        &all[1],
        1,
        sockets.into_iter().nth(1).unwrap(),
    )
    .await;
    let ring = KeyRing::from_secrets(&[KEY_OLD]).unwrap();
    let max_skew_ms = 5_000;
    for (sequence, offset_ms) in [(1, -(max_skew_ms + 1_000)), (2, max_skew_ms + 1_000), (3, -60_000)] {
        let heartbeat = Heartbeat {
            site: all[0].site.clone(),
            node: all[0].node.clone(),
            boot_id: 99,
            sequence,
            echo: 0,
            sent_unix_ms: unix_ms().saturating_add_signed(offset_ms),
            state: state(5),
        };
        attacker.send_to(&wire::encode(&heartbeat, ring.signing_key()).unwrap(), all[1].address).unwrap();
    }
    let status = wait_for_status(&b, Duration::from_secs(5), |status| status.drops.stale == 3).await;
    assert_eq!(status.peers[0].heartbeats_accepted, 0);
    assert_eq!(status.peers[0].drops.stale, 3);
    assert_eq!(b.views().borrow()["a"].state, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_burst_changes_nothing_and_is_counted() {
    const BURST: u64 = 10_000;
    const BATCH: u64 = 100;
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    let sockets = loopback_sockets(2);
    let all = sites(&sockets);
    let mut sockets = sockets.into_iter();
    let a = start(
        config_for(&all[0], &all, vec![key.clone()], LivenessRule::AnyPeriod),
        &all[0],
        11,
        sockets.next().unwrap(),
    )
    .await;
    let b = start(config_for(&all[1], &all, vec![key], LivenessRule::AnyPeriod), &all[1], 22, sockets.next().unwrap())
        .await;
    wait_alive(&b, "a").await;

    let ring = KeyRing::from_secrets(&[KEY_OLD]).unwrap();
    let genuine = |sequence| {
        let heartbeat = Heartbeat {
            site: all[0].site.clone(),
            node: all[0].node.clone(),
            boot_id: u64::MAX,
            sequence,
            echo: 0,
            sent_unix_ms: unix_ms(),
            state: state(999),
        };
        wire::encode(&heartbeat, ring.signing_key()).unwrap()
    };
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = rand::rng();
    let before = b.status().drops;
    let mut views = b.views();
    views.mark_unchanged();
    let mut sent = 0;
    while sent < BURST {
        for _ in 0..BATCH {
            let datagram = match sent % 4 {
                // Random bytes of any length, including empty and oversized.
                0 => (0..rng.random_range(0..=1_400)).map(|_| rng.random()).collect::<Vec<u8>>(),
                // A genuine datagram cut short.
                1 => {
                    let whole = genuine(sent);
                    whole[..rng.random_range(0..whole.len())].to_vec()
                }
                // A genuine datagram with random bytes changed.
                2 => {
                    let mut datagram = genuine(sent);
                    let index = rng.random_range(0..datagram.len());
                    datagram[index] ^= rng.random_range(1..=255u8);
                    datagram
                }
                // Right length, right version, random everything else.
                _ => {
                    let mut datagram: Vec<u8> = (0..MAX_DATAGRAM_LEN).map(|_| rng.random()).collect();
                    datagram[0] = wire::WIRE_VERSION;
                    datagram
                }
            };
            attacker.send_to(&datagram, all[1].address).unwrap();
            sent += 1;
        }
        // Let the receiver keep up, so the kernel buffer never overflows.
        wait_for_status(&b, Duration::from_secs(5), |status| status.drops.total() >= before.total() + sent).await;
    }
    let status = b.status();
    let drops = status.drops;
    println!("burst of {BURST} dropped as {drops:?}");
    assert_eq!(drops.total() - before.total(), BURST);
    let forged = |d: &DropCounters| d.malformed + d.unknown_key + d.bad_mac;
    assert_eq!(forged(&drops) - forged(&before), BURST);
    assert_eq!(status.peers[0].reported_state, Some(state(11)));
    assert_eq!(status.peers[0].boot_id, Some(a.boot_id()));
    assert!(!views.has_changed().unwrap(), "the burst changed the views: {:?}", *views.borrow());
    assert!(b.views().borrow()["a"].alive);
}

/// Rotation: b verifies with [old, new] while a still signs with old, then
/// a restarts signing with new; b never loses a. (Every key a site signs
/// with must be known everywhere first: a heartbeat is taken only once its
/// sender heard the receiver, so both directions must verify.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_without_downtime() {
    let keys = KeyDir::new();
    let old = keys.key("old.key", KEY_OLD);
    let new = keys.key("new.key", KEY_NEW);
    let sockets = loopback_sockets(2);
    let all = sites(&sockets);
    let mut sockets = sockets.into_iter();
    let rule = LivenessRule::EveryPeriod;
    let a_old = start(config_for(&all[0], &all, vec![old.clone()], rule), &all[0], 1, sockets.next().unwrap()).await;
    let b = start(config_for(&all[1], &all, vec![old.clone(), new.clone()], rule), &all[1], 2, sockets.next().unwrap())
        .await;
    wait_alive(&b, "a").await;
    // The only drops: a's first heartbeats, sent before it heard b, echo no start of b's.
    let drops = b.status().drops;
    assert_eq!(drops.total(), drops.other_start, "{drops:?}");

    a_old.shutdown().await;
    let socket = bind_again(all[0].address).await;
    let a_new = start(config_for(&all[0], &all, vec![new, old], rule), &all[0], 3, socket).await;
    wait_for_view(&b, "a", Duration::from_secs(5), |view| view.alive && view.state == Some(state(3))).await.unwrap();
    // a, now on [new, old], also accepts b, which signs with old.
    wait_alive(&a_new, "b").await;
    let status = b.status();
    assert_eq!(status.drops.total(), status.drops.other_start, "{:?}", status.drops);
    assert_eq!(status.peers[0].boot_id, Some(a_new.boot_id()));
    assert_eq!(a_new.status().key_ids, KeyRing::from_secrets(&[KEY_NEW, KEY_OLD]).unwrap().key_ids());
}
