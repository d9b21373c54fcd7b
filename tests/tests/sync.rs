//! Database sync end to end: two daemons, each in its own namespace with its own SQLite file,
//! joined by a veth. Rows are written by the sqlite3 shell, a separate program, and must
//! reach the other site both ways, also across a SIGKILL of one daemon and a cut link.

use std::time::Duration;

use switchyard_tests::{
    daemon::Daemon,
    privileges::have_root,
    sync_attack::{AttackOptions, attack, refused_and_closed},
    sync_lab::{SYNC_PORT, Site, SyncLab, insert_rows, wait_until},
};

const CONVERGE: Duration = Duration::from_secs(10);

fn logs(daemons: &[&Daemon]) -> String {
    daemons.iter().map(|d| d.log()).collect::<Vec<_>>().join("\n---\n")
}

/// Both databases hold `rows` rows and the same ones.
fn converged(a: &Site, b: &Site, rows: usize) -> bool {
    a.count() == rows && b.count() == rows && a.rows() == b.rows()
}

#[test]
fn writes_at_either_site_reach_the_other() {
    if !have_root("writes_at_either_site_reach_the_other") {
        return;
    }
    let lab = SyncLab::new(40);
    let (daemon_a, daemon_b) = (lab.start(&lab.a), lab.start(&lab.b));

    insert_rows(&lab.a, 1..101, 10);
    insert_rows(&lab.b, 1001..1101, 10);
    lab.b.sql("UPDATE records SET value = 'edited at b' WHERE id = 1001; DELETE FROM records WHERE id = 1100;");
    let took = wait_until(
        CONVERGE,
        "both sites hold all 199 rows",
        || converged(&lab.a, &lab.b, 199),
        || logs(&[&daemon_a, &daemon_b]),
    );
    eprintln!("converged in {took:?}");
    assert_eq!(lab.a.sql("SELECT value FROM records WHERE id = 1001;").trim(), "edited at b");

    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["sync", "status", "--json"])).unwrap();
    assert_eq!(status["site_id"], "a");
    assert_eq!(status["peers"][0]["site_id"], "b");
    assert!(status["peers"][0]["last_batch_received_ms"].is_number(), "{status}");
    wait_until(
        CONVERGE,
        "site a's backlog for b drains",
        || {
            let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["sync", "status", "--json"])).unwrap();
            status["peers"][0]["backlog"] == 0
        },
        || logs(&[&daemon_a]),
    );
    let table = daemon_b.cli(&["sync", "status"]);
    assert!(table.contains("backlog") && table.contains("\na "), "{table}");

    // SIGTERM stops shipping and the endpoint and exits cleanly.
    assert!(daemon_a.stop().success());
    assert!(daemon_b.stop().success());
}

#[test]
fn a_daemon_killed_mid_stream_catches_up_after_restart() {
    if !have_root("a_daemon_killed_mid_stream_catches_up_after_restart") {
        return;
    }
    let lab = SyncLab::new(41);
    let daemon_a = lab.start(&lab.a);
    let daemon_b = lab.start(&lab.b);

    insert_rows(&lab.a, 1..201, 5);
    // SAFETY: signalling the daemon we started, by its PID.
    assert_eq!(unsafe { libc::kill(daemon_b.pid() as i32, libc::SIGKILL) }, 0);
    drop(daemon_b);
    let received_before_kill = lab.b.count();
    // Both sites go on writing while b's daemon is down: a's shell and b's shell.
    insert_rows(&lab.a, 201..401, 5);
    insert_rows(&lab.b, 5001..5051, 5);
    assert_eq!(lab.b.count(), received_before_kill + 50, "nothing reaches b without its daemon");

    let daemon_b = lab.start(&lab.b);
    let took = wait_until(
        CONVERGE,
        "both sites hold all 450 rows",
        || converged(&lab.a, &lab.b, 450),
        || logs(&[&daemon_a, &daemon_b]),
    );
    eprintln!("b had {received_before_kill} of a's rows when killed; converged {took:?} after restart");
}

#[test]
fn a_cut_link_heals_and_both_sides_catch_up() {
    if !have_root("a_cut_link_heals_and_both_sides_catch_up") {
        return;
    }
    let lab = SyncLab::new(42);
    let (daemon_a, daemon_b) = (lab.start(&lab.a), lab.start(&lab.b));
    insert_rows(&lab.a, 1..11, 10);
    wait_until(CONVERGE, "first rows arrive", || converged(&lab.a, &lab.b, 10), || logs(&[&daemon_a, &daemon_b]));

    lab.a.link_down();
    insert_rows(&lab.a, 11..61, 10);
    insert_rows(&lab.b, 2001..2051, 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.b.count(), 60, "a's rows must not cross a cut link");
    assert_eq!(lab.a.count(), 60, "b's rows must not cross a cut link");

    lab.a.link_up();
    let took = wait_until(
        CONVERGE,
        "both sites hold all 110 rows",
        || converged(&lab.a, &lab.b, 110),
        || logs(&[&daemon_a, &daemon_b]),
    );
    eprintln!("healed {took:?} after the link came back");
}

#[test]
fn a_table_without_a_primary_key_is_refused_at_start() {
    if !have_root("a_table_without_a_primary_key_is_refused_at_start") {
        return;
    }
    let lab = SyncLab::new(43);
    lab.a.sql("CREATE TABLE notes(body TEXT);");
    let (code, stderr) = lab.start_refused(&lab.a, "notes");
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("table `notes` has no primary key"), "{stderr}");
}

#[test]
fn unauthenticated_uploads_take_no_memory_and_sync_goes_on() {
    if !have_root("unauthenticated_uploads_take_no_memory_and_sync_goes_on") {
        return;
    }
    let lab = SyncLab::new(44);
    let (daemon_a, daemon_b) = (lab.start(&lab.a), lab.start(&lab.b));
    let options = AttackOptions { clients: 100, body_mib: 200, seconds: 4, rows: 20 };
    let report = attack(&lab, &daemon_b, &options);
    eprintln!("{report:?}");
    wait_until(
        CONVERGE,
        "rows written during the attack arrive",
        || converged(&lab.a, &lab.b, 20),
        || logs(&[&daemon_a, &daemon_b]),
    );
    assert!(report.rss_peak_kib < 100 * 1024, "peak RSS {} KiB under attack", report.rss_peak_kib);
    assert!(report.uploads >= 100, "{report:?}");
    assert!(report.refused_unauthenticated >= 100, "{report:?}");
    assert!(report.bytes_sent < (report.uploads * 4) << 20, "the daemon read the bodies: {report:?}");
    // A refused stranger does not keep its connection (and its place) for another try.
    let target = format!("{}:{SYNC_PORT}", lab.b.address);
    let (head, closed) = lab.a.ns.enter(|| refused_and_closed(&target));
    assert!(head.starts_with("HTTP/1.1 401") && head.to_lowercase().contains("connection: close"), "{head}");
    assert!(closed, "the connection was kept open after the refusal: {head}");
}

/// `switchyard reload` with `text` as the daemon's config; its stdout, or the refusal.
fn reload(daemon: &Daemon, text: &str) -> Result<String, String> {
    std::fs::write(&daemon.config, text).unwrap();
    let out = std::process::Command::new(switchyard_tests::daemon::binary())
        .args(["reload", "--config"])
        .arg(&daemon.config)
        .output()
        .unwrap();
    let said = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() { Ok(said(&out.stdout)) } else { Err(said(&out.stderr)) }
}

#[test]
fn sync_is_stopped_started_and_changed_by_reload() {
    if !have_root("sync_is_stopped_started_and_changed_by_reload") {
        return;
    }
    let lab = SyncLab::new(46);
    let (daemon_a, daemon_b) = (lab.start(&lab.a), lab.start(&lab.b));
    let with_sync = std::fs::read_to_string(&daemon_a.config).unwrap();
    let without = &with_sync[..with_sync.find("[sync]").expect("the lab config syncs")];

    let said = reload(&daemon_a, without).unwrap_or_else(|e| panic!("{e}\n{}", daemon_a.log()));
    assert!(said.contains("sync stopped"), "{said}");
    let status = std::process::Command::new(switchyard_tests::daemon::binary())
        .args(["sync", "status", "--config"])
        .arg(&daemon_a.config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&status.stderr);
    assert!(!status.status.success() && said.contains("not configured"), "no sync after the reload: {said}");
    insert_rows(&lab.b, 1..21, 10);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.a.count(), 0, "site a no longer syncs");

    reload(&daemon_a, &with_sync).unwrap_or_else(|e| panic!("{e}\n{}", daemon_a.log()));
    insert_rows(&lab.a, 101..121, 10);
    wait_until(
        CONVERGE,
        "sync started by reload: both sites hold all 40 rows",
        || converged(&lab.a, &lab.b, 40),
        || logs(&[&daemon_a, &daemon_b]),
    );

    // The same endpoint with other settings: the service is replaced and goes on.
    let changed = with_sync.replace("interval_ms = 50", "interval_ms = 80");
    assert_ne!(changed, with_sync);
    let said = reload(&daemon_a, &changed).unwrap_or_else(|e| panic!("{e}\n{}", daemon_a.log()));
    assert!(said.contains("sync restarted"), "{said}");
    insert_rows(&lab.a, 201..211, 10);
    insert_rows(&lab.b, 301..311, 10);
    wait_until(
        CONVERGE,
        "sync changed by reload: both sites hold all 60 rows",
        || converged(&lab.a, &lab.b, 60),
        || logs(&[&daemon_a, &daemon_b]),
    );
    let status: serde_json::Value = serde_json::from_str(&daemon_a.cli(&["sync", "status", "--json"])).unwrap();
    assert_eq!(status["site_id"], "a", "the status follows the new service");

    // From one address to the wildcard on the same port, which the running endpoint holds:
    // bound as soon as that one closed.
    let wildcard = changed.replace(&format!("listen = \"{}:", lab.a.address), "listen = \"0.0.0.0:");
    assert_ne!(wildcard, changed);
    let said = reload(&daemon_a, &wildcard).unwrap_or_else(|e| panic!("{e}\n{}", daemon_a.log()));
    assert!(said.contains("sync restarted"), "{said}");
    insert_rows(&lab.b, 501..511, 10);
    wait_until(
        CONVERGE,
        "sync on the wildcard endpoint: 70 rows",
        || converged(&lab.a, &lab.b, 70),
        || logs(&[&daemon_a, &daemon_b]),
    );

    // A key file that does not exist: refused, and the running sync goes on.
    let refused = reload(&daemon_a, &wildcard.replace("a.key", "missing.key"));
    assert!(refused.as_ref().is_err_and(|e| e.contains("missing.key")), "{refused:?}");
    // A table the database lacks: refused when the config is read, before anything changes.
    let refused = reload(&daemon_a, &(wildcard.clone() + "\n[[sync.table]]\nname = \"orders\"\n"));
    assert!(refused.as_ref().is_err_and(|e| e.contains("sync.database") && e.contains("`orders`")), "{refused:?}");
    std::fs::write(&daemon_a.config, &wildcard).unwrap();
    insert_rows(&lab.b, 401..411, 10);
    wait_until(
        CONVERGE,
        "sync goes on after a refused reload",
        || converged(&lab.a, &lab.b, 80),
        || logs(&[&daemon_a, &daemon_b]),
    );
}
