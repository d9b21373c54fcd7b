//! The short run of `cargo xtask bench sync-faults`: three sites through misbehaving proxies,
//! a SIGKILL and restart, a cut link, a paused daemon, a restore from backup and bytes that
//! are not UTF-8, in about 25 s; then every site identical, no acknowledged write lost, every
//! discarded write explained by the conflict log or a later write that saw it.

use switchyard_tests::{
    fault_proxy::Chaos,
    privileges::have_root,
    sync_faults::{FaultOptions, run_trial},
};

#[test]
fn three_sites_survive_faults_without_losing_an_acknowledged_write() {
    if !have_root("three_sites_survive_faults_without_losing_an_acknowledged_write") {
        return;
    }
    let chaos = Chaos { drop_request: 5, drop_reply: 5, duplicate: 10, delay: 10, replay: 5 };
    let report = run_trial(&FaultOptions { seconds: 25, chaos, seed: 7 });
    let text = serde_json::to_string_pretty(&report).unwrap();
    eprintln!("{text}");
    let verdict = &report.verdict;
    assert!(report.converged_after_s.is_some(), "sites did not settle: {text}");
    assert!(verdict.sites_identical, "{text}");
    assert!(verdict.lost_writes.is_empty(), "{text}");
    assert!(verdict.discarded_unexplained.is_empty(), "{text}");
    assert!(verdict.conflicts_against_rule.is_empty(), "{text}");
    assert_eq!(verdict.quarantined, 0, "{text}");
    assert!(verdict.acknowledged_writes > 500, "too few writes to mean anything: {text}");
    assert!(report.events.iter().any(|e| e.contains("restored from the backup")), "{text}");
}
