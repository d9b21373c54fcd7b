use super::support::{app, count, db_path, deliver, open_site};

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
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_changes"), 2);
    assert_eq!(a.status().unwrap().peers[1].backlog, 2);

    // c receives but its ack is lost: still nothing may go.
    let batch = a.build_batch("c").unwrap();
    c.apply(&batch).unwrap(); // the reply never reaches a
    assert_eq!(a.prune().unwrap().changes, 0);

    deliver(&mut a, &mut c);
    assert_eq!(a.prune().unwrap().changes, 2);
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_changes"), 0);
    assert_eq!(count(&app(&db_path(dir.path(), "c")), "SELECT count(*) FROM t1"), 2);
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
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_rows"), 0);
    assert_eq!(count(&at_a, "SELECT count(*) FROM _sy_cells"), 0);
}
