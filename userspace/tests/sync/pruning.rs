use switchyard::sync::Request;

use super::support::{app, changes_in_log, count, db_path, deliver, open_site};

#[test]
fn changes_are_pruned_only_after_every_peer_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b", "c"]);
    let mut b = open_site(dir.path(), "b", &["a", "c"]);
    let mut c = open_site(dir.path(), "c", &["a", "b"]);
    let at_a = app(&db_path(dir.path(), "a"));
    at_a.execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    at_a.execute("INSERT INTO t1(id, a) VALUES (2, 'y')", []).unwrap();

    deliver(&mut a, &mut b);
    assert_eq!(a.prune().unwrap().changes, 0, "c has not acknowledged yet");
    assert_eq!(changes_in_log(&at_a), 2);
    assert_eq!(a.status().unwrap().peers[1].backlog, 2);

    // c receives but its ack is lost: still nothing may go.
    let batch = a.build_batch("c").unwrap();
    c.apply(&batch).unwrap(); // the reply never reaches a
    assert_eq!(a.prune().unwrap().changes, 0);

    deliver(&mut a, &mut c);
    assert_eq!(a.prune().unwrap().changes, 2);
    assert_eq!(changes_in_log(&at_a), 0);
    assert_eq!(count(&app(&db_path(dir.path(), "c")), "SELECT count(*) FROM t1"), 2);
}

/// Peers hold positions in the log: a log pruned to nothing gives its next change the
/// position after the last one, not a position a peer has acknowledged already.
#[test]
fn a_log_pruned_to_nothing_goes_on_from_its_last_position() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let (at_a, at_b) = (app(&db_path(dir.path(), "a")), app(&db_path(dir.path(), "b")));
    at_a.execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    at_a.execute("INSERT INTO t1(id, a) VALUES (2, 'y')", []).unwrap();
    deliver(&mut a, &mut b);
    assert_eq!(a.prune().unwrap().changes, 2);
    assert_eq!(changes_in_log(&at_a), 0);

    let incarnation = a.incarnation().unwrap();
    at_a.execute("INSERT INTO t1(id, a) VALUES (3, 'z')", []).unwrap();
    assert_eq!(count(&at_a, "SELECT max(seq) FROM _sy_changes"), 3);
    assert!(deliver(&mut a, &mut b));
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1"), 3, "b takes the change at the new position");
    assert_eq!(a.incarnation().unwrap(), incarnation, "b's acknowledgements are of this log");
    assert_eq!(a.prune().unwrap().changes, 2, "the change, and the marker left at the last position before it");
    assert_eq!(a.prune().unwrap().changes, 0, "the marker left at the last position stays");
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_changes"), 1);
}

#[test]
fn tombstones_are_pruned_only_after_every_peer_moved_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b", "c"]);
    let mut b = open_site(dir.path(), "b", &["a", "c"]);
    let mut c = open_site(dir.path(), "c", &["a", "b"]);
    let at_a = app(&db_path(dir.path(), "a"));
    at_a.execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    at_a.execute("DELETE FROM t1 WHERE id = 1", []).unwrap();
    deliver(&mut a, &mut b);
    deliver(&mut a, &mut c);
    std::thread::sleep(std::time::Duration::from_millis(2));
    deliver(&mut b, &mut a); // b's frontier is now past the tombstone
    a.prune().unwrap();
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_rows WHERE alive = 0"), 1, "c's frontier is behind");
    deliver(&mut c, &mut a);
    let report = a.prune().unwrap();
    assert_eq!(report.tombstones, 1);
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_rows"), 0, "the row's registers are gone");
}

/// The conflict log keeps its newest records up to the limit, never one of
/// its own not yet sent to every peer; the counters go on counting what was
/// forgotten, and records a peer sends again (to a renewed incarnation) are
/// not taken again.
#[test]
fn old_conflict_records_are_forgotten_beyond_the_limit_and_still_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b", "c"]);
    let mut b = open_site(dir.path(), "b", &["a", "c"]);
    let mut c = open_site(dir.path(), "c", &["a", "b"]);
    let insert = |site: &str| {
        let conn = app(&db_path(dir.path(), site));
        for id in 1..=30 {
            conn.execute("INSERT INTO t1(id, a, b) VALUES (?1, ?2, ?1)", rusqlite::params![id, site]).unwrap();
        }
    };
    insert("a");
    std::thread::sleep(std::time::Duration::from_millis(2));
    insert("b");
    b.stamp_pending().unwrap();
    deliver(&mut a, &mut b); // b keeps its newer rows: a's lose, and b logs each loss
    let found = b.status().unwrap().conflicts_total;
    assert!(found >= 30, "one or more per row: {found}");

    b.keep_conflicts(10);
    deliver(&mut b, &mut a); // carries b's conflicts to a, not yet to c
    assert_eq!(b.prune().unwrap().conflicts, 0, "c has none of them yet");
    assert_eq!(b.conflicts().unwrap().len() as u64, found);

    // a holds b's records (found elsewhere): forgotten beyond its limit all the same.
    assert_eq!(a.status().unwrap().conflicts_total, found);
    a.keep_conflicts(10);
    assert_eq!(a.prune().unwrap().conflicts as u64, found - 10);
    // a takes a new incarnation: b starts its conflicts over for a and sends them all
    // again; those a forgot are not taken (nor counted) again.
    a.left_behind("b").unwrap();
    for _ in 0..3 {
        deliver(&mut a, &mut b);
        deliver(&mut b, &mut a);
    }
    assert_eq!(a.conflicts().unwrap().len(), 10, "nothing forgotten came back");
    assert_eq!(a.status().unwrap().conflicts_total, found, "nor was counted twice");

    deliver(&mut b, &mut c);
    let newest: Vec<_> = b.conflicts().unwrap().split_off(found as usize - 10);
    assert_eq!(b.prune().unwrap().conflicts as u64, found - 10);
    assert_eq!(b.conflicts().unwrap(), newest, "the 10 newest are kept");
    let status = b.status().unwrap();
    assert_eq!(status.conflicts_total, found, "the counter counts forgotten ones too");
    assert_eq!(status.peers[0].conflicts, found, "all found applying a's writes");
    assert_eq!(b.prune().unwrap().conflicts, 0);
}

/// A batch built for a peer's earlier incarnation is answered by its new one
/// (we heard of the renewal from the peer's own request meanwhile): the
/// conflict records it carried are not taken as delivered, and go again.
#[test]
fn conflicts_in_a_batch_built_for_an_earlier_incarnation_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    for site in ["a", "b"] {
        let conn = app(&db_path(dir.path(), site));
        for id in 1..=5 {
            conn.execute("INSERT INTO t1(id, a, b) VALUES (?1, ?2, ?1)", rusqlite::params![id, site]).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    deliver(&mut a, &mut b); // b finds a conflict per losing register
    let stale = b.build_batch("a").unwrap();
    assert!(!stale.conflicts.is_empty());
    a.left_behind("b").unwrap();
    deliver(&mut a, &mut b); // b hears of a's new incarnation and starts over for it
    let reply = a.handle(&Request::Batch(stale.clone())).unwrap();
    b.record_batch_reply("a", &stale, &reply).unwrap();
    let next = b.build_batch("a").unwrap();
    assert_eq!(next.conflicts.len(), stale.conflicts.len(), "sent again to the new incarnation");
}
