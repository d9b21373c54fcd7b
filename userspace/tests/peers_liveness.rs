//! Services on loopback watching each other: startup, death, restart.
//! Uses only the public API.

mod peers_common;

use std::time::{Duration, Instant};

use peers_common::*;
use switchyard::peers::{LivenessRule, PeerHandle};

/// Scheduling slack on a loaded 2-core machine, on top of the (N+1) periods.
const SLACK: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_every_period_rule() {
    death_and_restart(2, LivenessRule::EveryPeriod).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_every_period_rule() {
    death_and_restart(3, LivenessRule::EveryPeriod).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_any_period_rule() {
    death_and_restart(3, LivenessRule::AnyPeriod).await;
}

/// All see each other; the last one stops and the others notice within
/// N+1 periods; it restarts with a new load and the others see that load.
async fn death_and_restart(count: usize, rule: LivenessRule) {
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    let sockets = loopback_sockets(count);
    let all = sites(&sockets);
    let mut handles: Vec<PeerHandle> = Vec::new();
    for (me, socket) in all.iter().zip(sockets) {
        handles.push(start(config_for(me, &all, vec![key.clone()], rule), me, 100, socket).await);
    }
    for (me, handle) in all.iter().zip(&handles) {
        for other in all.iter().filter(|other| other.site != me.site) {
            wait_alive(handle, &other.site).await;
        }
    }
    let victim = all.last().unwrap().clone();
    for handle in &handles[..count - 1] {
        assert_eq!(handle.views().borrow()[&victim.site].state, Some(state(100)));
    }

    drop(handles.pop());
    let dropped_at = Instant::now();
    let deadline = periods(LIVE_PERIODS + 1) + SLACK;
    for (observer, handle) in all.iter().zip(&handles) {
        wait_for_view(handle, &victim.site, deadline, |view| !view.alive).await.unwrap();
        let elapsed = dropped_at.elapsed();
        assert!(elapsed <= deadline, "{elapsed:?}");
        println!("{rule:?}: {} saw {} dead after {elapsed:?} (deadline {deadline:?})", observer.site, victim.site);
        let status = handle.status();
        let peer = status.peers.iter().find(|peer| peer.site == victim.site).unwrap();
        assert!(!peer.alive);
        assert!(peer.periods_missed >= 1, "{peer:?}");
        assert!(!handle.views().borrow()[&victim.site].effective_state().available);
    }

    let socket = bind_again(victim.address).await;
    let restarted = start(config_for(&victim, &all, vec![key.clone()], rule), &victim, 420, socket).await;
    let restarted_at = Instant::now();
    for (observer, handle) in all.iter().zip(&handles) {
        wait_for_view(handle, &victim.site, Duration::from_secs(5), |view| {
            view.alive && view.state == Some(state(420))
        })
        .await
        .unwrap();
        let elapsed = restarted_at.elapsed();
        println!("{rule:?}: {} saw {} alive again after {elapsed:?}", observer.site, victim.site);
        let status = handle.status();
        let peer = status.peers.iter().find(|peer| peer.site == victim.site).unwrap();
        assert_eq!(peer.boot_id, Some(restarted.boot_id()), "restart is a new boot, not a replay");
        assert_eq!(peer.drops.replayed, 0);
        // The restarted service's first heartbeats, sent before it heard this one, echo no
        // start of this one's: dropped (and answered at once), nothing else is.
        assert_eq!(status.drops.total(), status.drops.other_start, "{:?}", status.drops);
    }
    for other in all.iter().filter(|other| other.site != victim.site) {
        wait_alive(&restarted, &other.site).await;
    }
    restarted.shutdown().await;
}

/// Heartbeats go out twice per period (`liveness::send_interval`): in nine and three quarter
/// periods of a peer that never answers, a service sends one round at once and one every half
/// period, twenty in all (once per period would be ten).
#[tokio::test(start_paused = true)]
async fn heartbeats_go_out_twice_per_period() {
    let keys = KeyDir::new();
    let key = keys.key("peer.key", KEY_OLD);
    let mut sockets = loopback_sockets(2);
    let all = sites(&sockets);
    // The other site's socket stays open and silent: nothing asks for a heartbeat at once.
    let _silent = sockets.pop();
    let handle =
        start(config_for(&all[0], &all, vec![key], LivenessRule::EveryPeriod), &all[0], 100, sockets.remove(0)).await;
    tokio::time::sleep(periods(10) - periods(1) / 4).await;
    assert_eq!(handle.status().heartbeats_sent, 20);
}
