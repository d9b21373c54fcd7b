//! XDP on a veth whose peer has no XDP program (as in most containers): `auto` picks a mode
//! whose answers arrive, and a forced native mode says what the peer needs, in the log and in
//! `switchyard check`.

mod common;

use switchyard_tests::{client, daemon::Daemon, privileges::have_root, topology::Pair};

fn dig_www(pair: &Pair) -> Vec<String> {
    let server = format!("@{}", pair.server_v4);
    let answer = client::dig(&pair.client, &[&server, "www.example.com", "A", "+short", "+tries=1", "+time=2"]);
    answer.lines().map(str::to_string).collect()
}

#[test]
fn auto_mode_answers_through_a_veth_whose_peer_has_no_xdp_program() {
    if !have_root("auto_mode_answers_through_a_veth_whose_peer_has_no_xdp_program") {
        return;
    }
    let pair = Pair::new(1);
    pair.detach_client_program();
    let (_, toml) = common::basic_config(&pair, "auto");
    let daemon = Daemon::start(&pair.server, &toml);
    assert_eq!(dig_www(&pair), ["198.18.10.1", "198.18.20.1"], "the answer arrived");
    assert_eq!(daemon.xdp_counter("answered_v4"), 1, "XDP answered it");
    let attached = daemon.log().lines().filter(|l| l.contains("XDP attached")).collect::<Vec<_>>().join("\n");
    assert!(attached.contains("Skb"), "generic mode chosen on a veth: {attached}");
}

#[test]
fn native_mode_on_such_a_veth_warns_what_the_peer_needs() {
    if !have_root("native_mode_on_such_a_veth_warns_what_the_peer_needs") {
        return;
    }
    let pair = Pair::new(2);
    pair.detach_client_program();
    let (_, toml) = common::basic_config(&pair, "native");
    let daemon = Daemon::start(&pair.server, &toml);
    let log = daemon.log();
    assert!(log.contains("is a veth whose peer") && log.contains("native XDP program"), "{log}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, &toml).unwrap();
    let out = pair
        .server
        .command(switchyard_tests::daemon::binary().to_str().unwrap())
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "a warning is not an error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning") && stderr.contains("is a veth whose peer"), "check says so: {stderr}");
    drop(daemon);
}
