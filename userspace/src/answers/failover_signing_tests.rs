//! Signing failover answers ahead, through the controller: after a pass, a site's failure or
//! recovery needs no new signature for the sets it changes.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use super::AnswerController;
use crate::{
    answers::{
        Views, Zones,
        failover_signing::{PassReport, sign_ahead},
    },
    bpf::signatures::rrset,
    config::{Config, fixture::ConfigText},
    dnssec::{SigningAlgorithm, SigningKeyFile, ZoneSigner},
    site::{SiteMap, SiteState},
};

/// www on sites a and b (both families), mail on b and c (c has no IPv6), one fixed name.
fn controller(up: [bool; 3]) -> (AnswerController, Arc<ZoneSigner>, tempfile::TempDir) {
    controller_with(up, &[])
}

/// The same, with these further lines in `[zone.dnssec]`.
fn controller_with(up: [bool; 3], dnssec: &[&str]) -> (AnswerController, Arc<ZoneSigner>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&key).unwrap();
    let text = ConfigText::new()
        .xdp_off()
        .zone()
        .dnssec("ed25519", key.to_str().unwrap())
        .lines(dnssec)
        .site("a", &["198.18.1.1"], &["fd00:1::1"])
        .site("b", &["198.18.2.1"], &["fd00:2::1"])
        .site("c", &["198.18.3.1"], &[])
        .service("www.example.com.", 30, &["a", "b"])
        .service("mail.example.com.", 30, &["b", "c"])
        .fixed_service("ns1.example.com.", &["198.18.53.1"], &[])
        .build();
    let config = Config::parse(&text, "test.toml").unwrap();
    let zones = Zones::from_config(&config, &Default::default());
    let signer = zones.zones[0].signing.signer().unwrap().clone();
    let control = AnswerController::new(&config, Views::from_config(&config), zones, &states(up)).unwrap();
    (control, signer, dir)
}

fn states(up: [bool; 3]) -> SiteMap {
    let state = |available| SiteState { available, load: 0, rtt_us: 0 };
    ["a", "b", "c"].into_iter().zip(up).map(|(name, up)| (name.to_string(), state(up))).collect()
}

/// Signs every set served, as the map write and the queries do; returns the signatures made.
fn sign_served(control: &AnswerController, signer: &ZoneSigner) -> u64 {
    let before = signer.signatures_made();
    for (key, set) in &control.served.load().table.entries {
        signer.sign(&rrset(key, set).unwrap()).unwrap();
    }
    signer.signatures_made() - before
}

/// Signatures made when the sites change to `up` (the served sets signed before and after).
fn made_by_change(control: &mut AnswerController, signer: &ZoneSigner, up: [bool; 3]) -> u64 {
    control.evaluate(&states(up), "test", false);
    sign_served(control, signer)
}

fn pass(control: &AnswerController) -> PassReport {
    sign_ahead(&control.foresight(), &AtomicBool::new(false))
}

#[test]
fn a_foreseen_failure_needs_no_new_signature() {
    for (site, down) in [("a", [false, true, true]), ("b", [true, false, true]), ("c", [true, true, false])] {
        let (mut control, signer, _dir) = controller([true; 3]);
        assert!(sign_served(&control, &signer) > 0);
        let report = pass(&control);
        // a: www A and AAAA on b; b: www A and AAAA on a, mail A on c (no AAAA left); c: mail
        // A on b.
        assert_eq!((report.changes, report.sets, report.made, report.cached), (3, 6, 6, 0), "{report:?}");
        let status = signer.last_ahead().expect("the zone's status after the pass");
        assert_eq!((status.sets, status.ready, status.no_room, status.stopped), (6, 6, 0, false));
        assert_eq!(made_by_change(&mut control, &signer, down), 0, "site {site} down needed new signatures");
    }
}

#[test]
fn without_a_pass_the_same_failure_signs_anew() {
    let (mut control, signer, _dir) = controller([true; 3]);
    sign_served(&control, &signer);
    assert_eq!(made_by_change(&mut control, &signer, [false, true, true]), 2, "www A and AAAA");
}

#[test]
fn a_foreseen_recovery_needs_no_new_signature() {
    let (mut control, signer, _dir) = controller([false, true, true]);
    sign_served(&control, &signer);
    let report = pass(&control);
    assert!(report.made > 0, "{report:?}");
    assert_eq!(made_by_change(&mut control, &signer, [true; 3]), 0);
}

#[test]
fn a_second_pass_finds_its_sets_signed() {
    let (control, _signer, _dir) = controller([true; 3]);
    pass(&control);
    let again = pass(&control);
    assert_eq!((again.sets, again.made, again.cached), (6, 0, 6), "{again:?}");
}

#[test]
fn a_zone_that_turned_signing_ahead_off_gets_none() {
    let (control, signer, _dir) = controller_with([true; 3], &["sign_failover_ahead = false"]);
    assert!(!signer.signs_ahead());
    let report = pass(&control);
    assert_eq!((report.sets, report.made, signer.signatures_made()), (0, 0, 0), "{report:?}");
}

#[test]
fn beside_a_zone_that_signs_ahead_one_that_does_not_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("zone.key");
    SigningKeyFile::generate(SigningAlgorithm::Ed25519).unwrap().write_new(&key).unwrap();
    let key = key.to_str().unwrap();
    let soa = "soa = { mname = \"ns1.example.com.\", rname = \"hostmaster.example.com.\" }";
    let text = ConfigText::new()
        .xdp_off()
        .zone()
        .dnssec("ed25519", key)
        .table("[[zone]]", &["name = \"eu.example.com.\"", "ns = [\"ns1.example.com.\"]", soa])
        .dnssec("ed25519", key)
        .lines(&["sign_failover_ahead = false"])
        .site("a", &["198.18.1.1"], &[])
        .site("b", &["198.18.2.1"], &[])
        .service("www.example.com.", 30, &["a", "b"])
        .service("api.eu.example.com.", 30, &["a", "b"])
        .build();
    let config = Config::parse(&text, "test.toml").unwrap();
    let zones = Zones::from_config(&config, &Default::default());
    let signer = |i: usize| zones.zones[i].signing.signer().unwrap().clone();
    let (outer, inner) = (signer(0), signer(1));
    let up = SiteState { available: true, load: 0, rtt_us: 0 };
    let both_up = SiteMap::from([("a".into(), up), ("b".into(), up)]);
    let control = AnswerController::new(&config, Views::from_config(&config), zones, &both_up).unwrap();
    let report = pass(&control);
    // www with a alone and with b alone; api.eu, in the zone that does not sign ahead, none.
    assert_eq!((report.sets, report.made), (2, 2), "{report:?}");
    assert_eq!((outer.signatures_made(), inner.signatures_made()), (2, 0));
    assert_eq!(outer.last_ahead().map(|s| (s.sets, s.ready)), Some((2, 2)));
    assert_eq!(inner.last_ahead(), None, "no status for a zone that does not sign ahead");
}

#[test]
fn a_stopped_pass_signs_nothing() {
    let (control, signer, _dir) = controller([true; 3]);
    let report = sign_ahead(&control.foresight(), &AtomicBool::new(true));
    assert!(report.stopped && report.sets == 0, "{report:?}");
    assert_eq!((report.made, signer.signatures_made()), (0, 0));
}

/// Waits up to 10 s for the signer's cache to hold at least `count` RRsets.
async fn cached(signer: &ZoneSigner, count: usize) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while signer.cached() < count {
        assert!(tokio::time::Instant::now() < deadline, "{} RRsets cached, not {count}", signer.cached());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_loop_signs_ahead_and_again_after_a_site_changes() {
    let (mut control, signer, _dir) = controller([true; 3]);
    let passes = control.failover.started.clone();
    let (sites, states_rx) = tokio::sync::watch::channel(states([true; 3]));
    let explain = |_: &str| None;
    let running = async {
        let tick = std::time::Duration::from_secs(3600);
        control.run(states_rx, &explain, None, tick).await
    };
    let checks = async {
        // Without a map nothing signs the served sets: the cache holds what the pass foresaw.
        cached(&signer, 6).await;
        assert_eq!(passes.load(Ordering::Relaxed), 1);
        // Load alone changes no answer set's content: no pass.
        let mut loaded = states([true; 3]);
        loaded.get_mut("a").unwrap().load = 700;
        sites.send_replace(loaded);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!((passes.load(Ordering::Relaxed), signer.cached()), (1, 6));
        // With a down, a new pass foresees its recovery (signed already) and b's or c's
        // failure on top of it: some of those sets are new.
        sites.send_replace(states([false, true, true]));
        cached(&signer, 7).await;
        assert_eq!(passes.load(Ordering::Relaxed), 2);
    };
    tokio::select! {
        result = running => panic!("the control loop ended: {result:?}"),
        () = checks => {}
    }
}
