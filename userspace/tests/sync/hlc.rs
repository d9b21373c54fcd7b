use switchyard::sync::SyncError;

use super::support::{app, count, db_path, open_site};

fn newest_hlc(conn: &rusqlite::Connection) -> i64 {
    count(conn, "SELECT hlc FROM _sy_changes ORDER BY seq DESC LIMIT 1")
}

#[test]
fn clock_is_monotonic_across_reopen_even_if_wall_clock_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path(), "a");
    let mut replica = open_site(dir.path(), "a", &["b"]);
    let writer = app(&path);
    writer.execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    replica.stamp_pending().unwrap();
    let first = newest_hlc(&writer);
    assert!(replica.clock().unwrap() >= first);
    drop(replica);

    // Pretend the clock was once an hour ahead of the wall clock now.
    let ahead = first + (3_600_000_i64 << 16);
    writer.execute("UPDATE _sy_meta SET value = ?1 WHERE key = 'hlc'", [ahead]).unwrap();

    let mut replica = open_site(dir.path(), "a", &["b"]);
    assert_eq!(replica.clock().unwrap(), ahead);
    writer.execute("UPDATE t1 SET a = 'y' WHERE id = 1", []).unwrap();
    replica.stamp_pending().unwrap();
    let second = newest_hlc(&writer);
    assert!(second > ahead, "{second} must exceed persisted {ahead}");
    drop(replica);
    let replica = open_site(dir.path(), "a", &["b"]);
    assert!(replica.clock().unwrap() >= second);
}

#[test]
fn receiving_advances_the_clock_past_remote_versions() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    a.stamp_pending().unwrap();
    // Half a minute ahead is within the default allowance of a minute.
    let ahead = a.clock().unwrap() + (30_000_i64 << 16);
    writer.execute("UPDATE _sy_meta SET value = ?1 WHERE key = 'hlc'", [ahead]).unwrap();
    writer.execute("UPDATE t1 SET a = 'y' WHERE id = 1", []).unwrap();
    super::support::deliver(&mut a, &mut b);
    assert!(b.clock().unwrap() > ahead);
}

#[test]
fn a_batch_too_far_ahead_is_refused_and_does_not_move_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO t1(id, a) VALUES (1, 'x')", []).unwrap();
    a.stamp_pending().unwrap();
    let ahead = a.clock().unwrap() + (3_600_000_i64 << 16);
    writer.execute("UPDATE _sy_meta SET value = ?1 WHERE key = 'hlc'", [ahead]).unwrap();
    writer.execute("UPDATE t1 SET a = 'y' WHERE id = 1", []).unwrap();
    let before = b.clock().unwrap();
    let batch = a.build_batch("b").unwrap();
    let err = b.apply(&batch).unwrap_err();
    assert!(matches!(err, SyncError::ClockAhead { ref site, .. } if site == "a"), "{err}");
    assert!(err.to_string().contains("ms ahead"), "{err}");
    assert_eq!(b.clock().unwrap(), before);
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1"), 0);
}
