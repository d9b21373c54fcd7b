//! Databases that go back in time or are made anew: a restore from a backup,
//! a recreated file, a copy presented by a second site, and old copies of
//! deleted rows.

use std::path::Path;

use switchyard::sync::{Replica, Request, SyncError};

use super::support::{
    SCHEMA, app, count, db_path, deliver, deliver_state, dump, loose_site, open_site, pair, sync_all,
};

/// A consistent copy of a site's database, as `sqlite3 .backup` would take.
fn backup(dir: &Path, site: &str) -> std::path::PathBuf {
    let copy = dir.join(format!("{site}-backup.db"));
    app(&db_path(dir, site)).execute("VACUUM INTO ?1", [copy.to_str().unwrap()]).unwrap();
    copy
}

/// Puts the backup in place of the site's database (the site's replica must be closed).
fn restore(dir: &Path, site: &str, copy: &Path) {
    let path = db_path(dir, site);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(copy, &path).unwrap();
}

fn insert(dir: &Path, site: &str, ids: std::ops::Range<i64>) {
    let conn = app(&db_path(dir, site));
    for id in ids {
        conn.execute("INSERT INTO t1(id, a, b) VALUES (?1, ?2, ?1)", rusqlite::params![id, format!("{site}{id}")])
            .unwrap();
    }
}

#[test]
fn a_site_restored_from_a_backup_gets_back_what_it_lost_and_its_new_writes_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..11);
    sync_all(&mut sites);
    let copy = backup(dir.path(), "a");
    let incarnation_before = sites[0].incarnation().unwrap();
    insert(dir.path(), "a", 11..21);
    insert(dir.path(), "b", 100..105);
    sync_all(&mut sites);
    // A batch from before the restore, kept for a replay.
    insert(dir.path(), "a", 21..22);
    let old_batch = sites[0].build_batch("b").unwrap();
    sync_all(&mut sites);
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1"), 26);

    drop(sites.remove(0));
    restore(dir.path(), "a", &copy);
    assert_eq!(count(&app(&db_path(dir.path(), "a")), "SELECT count(*) FROM t1"), 10);
    sites.insert(0, open_site(dir.path(), "a", &["b"]));
    insert(dir.path(), "a", 30..33); // written after the restore: must not be taken for old ones
    sync_all(&mut sites);

    let (a, b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
    assert_eq!(a, b);
    assert_eq!(a.len(), 29, "10 + 10 + 1 from before the restore, 5 from b, 3 after");
    let renewed = sites[0].incarnation().unwrap();
    assert_ne!(renewed, incarnation_before, "the restored database took a new incarnation");
    assert_eq!(sites[1].status().unwrap().peers[0].incarnation, Some(renewed.to_string()));

    let err = sites[1].handle(&Request::Batch(old_batch)).unwrap_err();
    assert!(matches!(err, SyncError::RetiredIncarnation { .. }), "a replay from before the restore: {err}");
}

#[test]
fn a_backup_from_before_an_incarnation_renewal_is_renewed_again_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..6);
    sync_all(&mut sites);
    let copy = backup(dir.path(), "a");
    let first = sites[0].incarnation().unwrap();
    insert(dir.path(), "a", 6..11);
    sync_all(&mut sites);
    // A first restore: a renews its incarnation and b leaves the first one behind.
    drop(sites.remove(0));
    restore(dir.path(), "a", &copy);
    sites.insert(0, open_site(dir.path(), "a", &["b"]));
    sync_all(&mut sites);
    let second = sites[0].incarnation().unwrap();
    assert_ne!(second, first);
    insert(dir.path(), "b", 100..103);
    sync_all(&mut sites);

    // The same old backup again: it holds the first incarnation, which b refuses as a replay.
    drop(sites.remove(0));
    restore(dir.path(), "a", &copy);
    sites.insert(0, open_site(dir.path(), "a", &["b"]));
    let stale = sites[0].build_batch("b").unwrap();
    let refused = sites[1].handle(&Request::Batch(stale)).unwrap_err();
    assert!(matches!(refused, SyncError::RetiredIncarnation { .. }), "{refused}");
    insert(dir.path(), "a", 30..32); // written after the restore: must reach b
    sync_all(&mut sites);
    let third = sites[0].incarnation().unwrap();
    assert!(third != first && third != second, "a new incarnation, not one b has seen");
    let (a, b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
    assert_eq!(a, b, "the sites agree again");
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1 WHERE id IN (30, 31)"), 2);
    assert_eq!(count(&app(&db_path(dir.path(), "a")), "SELECT count(*) FROM t1"), 15, "1-10, 30-31 and b's 100-102");
}

#[test]
fn a_recreated_database_is_filled_again_from_its_peer() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..6);
    insert(dir.path(), "b", 10..16);
    sync_all(&mut sites);
    drop(sites.remove(1));
    let path = db_path(dir.path(), "b");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    app(&path).execute_batch(SCHEMA).unwrap();
    sites.push(open_site(dir.path(), "b", &["a"]));
    insert(dir.path(), "b", 20..21);
    sync_all(&mut sites);
    let (a, b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
    assert_eq!(a, b);
    assert_eq!(a.len(), 12);
}

#[test]
fn a_database_copied_to_another_site_is_refused_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b", "c"]);
    let mut b = open_site(dir.path(), "b", &["a", "c"]);
    insert(dir.path(), "a", 1..3);
    deliver(&mut a, &mut b);
    drop(a);
    // The operator copies a's file for site c and forces the site id.
    std::fs::copy(db_path(dir.path(), "a"), db_path(dir.path(), "c")).unwrap();
    app(&db_path(dir.path(), "c")).execute("UPDATE _sy_meta SET value = 'c' WHERE key = 'site_id'", []).unwrap();
    let mut c = open_site(dir.path(), "c", &["a", "b"]);
    let batch = c.build_batch("b").unwrap();
    let err = b.handle(&Request::Batch(batch)).unwrap_err();
    assert!(matches!(&err, SyncError::SharedIncarnation { site, .. } if site == "c"), "{err}");
    assert!(err.to_string().contains("copied to two sites"), "{err}");
}

#[test]
fn an_old_copy_of_a_deleted_row_does_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..3);
    sync_all(&mut sites);
    let copy = backup(dir.path(), "b");
    delete_row_1_and_forget_it(dir.path(), &mut sites);
    assert_eq!(count(&app(&db_path(dir.path(), "a")), "SELECT count(*) FROM _sy_rows"), 1, "tombstone forgotten");

    drop(sites.remove(1));
    restore(dir.path(), "b", &copy);
    sites.push(open_site(dir.path(), "b", &["a"]));
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1 WHERE id = 1"), 1);
    sync_all(&mut sites);
    for site in ["a", "b"] {
        assert_eq!(count(&app(&db_path(dir.path(), site)), "SELECT count(*) FROM t1 WHERE id = 1"), 0, "{site}");
    }
    let refused = sites[0].conflicts().unwrap();
    assert!(refused.iter().any(|c| c.pk.as_i64() == Some(1) && c.column.is_none()), "{refused:?}");
}

/// Replicas stay usable after all of the above (nothing left half-open).
#[test]
fn reopening_keeps_the_incarnation() {
    let dir = tempfile::tempdir().unwrap();
    let first = open_site(dir.path(), "a", &["b"]).incarnation().unwrap();
    let again: Replica = open_site(dir.path(), "a", &["b"]);
    assert_eq!(again.incarnation().unwrap(), first);
}

/// The rows' registers and user rows at a site, for failure messages.
/// Site a deletes row 1, every site learns it, and once the frontiers have moved past it every
/// site prunes its tombstone.
fn delete_row_1_and_forget_it(dir: &Path, sites: &mut [Replica]) {
    app(&db_path(dir, "a")).execute("DELETE FROM t1 WHERE id = 1", []).unwrap();
    sync_all(sites);
    std::thread::sleep(std::time::Duration::from_millis(5));
    sync_all(sites); // frontiers move past the tombstone
    for site in sites.iter_mut() {
        site.prune().unwrap();
    }
}

fn registers_of(conn: &rusqlite::Connection, id: i64) -> Vec<String> {
    let (row, cells) = switchyard::sync::load_registers(conn, "t1", &switchyard::sync::Value::Integer(id)).unwrap();
    let row = row.map(|r| format!("row alive={} {}@{}", r.alive, r.version.hlc, r.version.site));
    let cells = cells.iter().map(|(col, c)| format!("cell {col} {}@{}", c.version.hlc, c.version.site));
    row.into_iter().chain(cells).collect()
}

/// A write, then an acknowledged delete whose tombstone every site forgot;
/// then a's database restored from a backup taken while the write had been
/// committed but not yet stamped. The restored site first sends its state
/// (registers from before the write), then the write itself: neither copy
/// may bring the row back, since the write came before the delete.
#[test]
fn an_acknowledged_delete_holds_against_every_old_copy_from_a_restored_site() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..3);
    sync_all(&mut sites);
    app(&db_path(dir.path(), "a")).execute("UPDATE t1 SET a = 'before the delete' WHERE id = 1", []).unwrap();
    let copy = backup(dir.path(), "a");
    sync_all(&mut sites);
    app(&db_path(dir.path(), "a")).execute("DELETE FROM t1 WHERE id = 1", []).unwrap();
    sync_all(&mut sites);
    insert(dir.path(), "b", 100..101); // a acknowledges a position of b's that its backup lacks
    std::thread::sleep(std::time::Duration::from_millis(5));
    sync_all(&mut sites); // frontiers move past the tombstone
    for site in &mut sites {
        site.prune().unwrap();
    }
    let b_db = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&b_db, "SELECT count(*) FROM _sy_rows WHERE pk = 1"), 0, "tombstone forgotten at b");

    drop(sites.remove(0));
    restore(dir.path(), "a", &copy);
    sites.insert(0, open_site(dir.path(), "a", &["b"]));
    // b's next batch starts beyond what the restored a holds: a renews its incarnation.
    let (a, b) = pair(&mut sites, 0, 1);
    deliver(b, a);
    // a's full state goes first: its registers for row 1 still predate the write.
    assert!(deliver_state(a, b) > 0, "a restored database sends its full state");
    sync_all(&mut sites);

    row_1_deleted_at_both(dir.path(), "the acknowledged delete was undone");
    assert_eq!(dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
}

/// Row 1 of `t1` is gone at sites a and b; `what` says what it means if not.
fn row_1_deleted_at_both(dir: &std::path::Path, what: &str) {
    for site in ["a", "b"] {
        let conn = app(&db_path(dir, site));
        let rows = count(&conn, "SELECT count(*) FROM t1 WHERE id = 1");
        assert_eq!(rows, 0, "{site}: {what}; registers {:?}", registers_of(&conn, 1));
    }
}

/// An operator restores the wrong backup and then the right one, both older
/// than an acknowledged delete whose tombstone every site forgot. Each restore
/// sends its own old copy of the row, the second newer than the first; the
/// row stays deleted.
#[test]
fn a_deleted_row_stays_deleted_through_two_restores_from_different_backups() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..3);
    sync_all(&mut sites);
    let older = dir.path().join("a-older.db");
    std::fs::rename(backup(dir.path(), "a"), &older).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    app(&db_path(dir.path(), "a")).execute("UPDATE t1 SET a = 'second' WHERE id = 1", []).unwrap();
    sync_all(&mut sites);
    let newer = backup(dir.path(), "a");
    delete_row_1_and_forget_it(dir.path(), &mut sites);
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM _sy_rows WHERE pk = 1"), 0);

    for copy in [&older, &newer] {
        drop(sites.remove(0));
        restore(dir.path(), "a", copy);
        sites.insert(0, open_site(dir.path(), "a", &["b"]));
        sync_all(&mut sites);
        row_1_deleted_at_both(dir.path(), &format!("the row came back after restoring {copy:?}"));
    }
    let (a, b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
    assert_eq!(a, b);
    assert_eq!(a.len(), 1, "row 2 only");
}

/// Sets column `a` of row 1 at `site`, a few milliseconds after the last write.
fn set_row_1(dir: &Path, site: &str, value: &str) {
    std::thread::sleep(std::time::Duration::from_millis(5));
    app(&db_path(dir, site)).execute("UPDATE t1 SET a = ?1 WHERE id = 1", [value]).unwrap();
}

/// Whether some site logged `lost` (column `a` of row 1) as discarded.
fn logged_as_lost(sites: &mut [Replica], lost: &str) -> bool {
    let lost = switchyard::sync::Value::text(lost);
    sites
        .iter_mut()
        .flat_map(|s| s.conflicts().unwrap())
        .any(|c| c.pk.as_i64() == Some(1) && c.column.as_deref() == Some("a") && c.loser_value.as_ref() == Some(&lost))
}

/// A write reached b, then a's database was restored from a backup older than
/// it. a's new writes were made without knowing it, so when they replace it
/// at b that is a conflict and must be logged, however many of them a made
/// before it learnt of the restore: their history says "a, up to the newest
/// of a's writes" only for the writes of a's current run.
#[test]
fn a_write_a_restore_took_away_is_logged_when_the_restored_sites_writes_replace_it() {
    for writes_after in [&["new 1"][..], &["new 1", "new 2"], &["new 1", "new 2", "new 3"]] {
        let dir = tempfile::tempdir().unwrap();
        let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
        insert(dir.path(), "a", 1..2);
        sync_all(&mut sites);
        let copy = backup(dir.path(), "a");
        set_row_1(dir.path(), "a", "lost by the restore");
        sync_all(&mut sites);

        let before = sites[0].incarnation().unwrap();
        drop(sites.remove(0));
        restore(dir.path(), "a", &copy);
        sites.insert(0, open_site(dir.path(), "a", &["b"]));
        for value in writes_after {
            set_row_1(dir.path(), "a", value);
            sites[0].stamp_pending().unwrap(); // each write stamped on its own, as a running daemon would
        }
        sync_all(&mut sites);

        let newest = writes_after.last().unwrap();
        for site in ["a", "b"] {
            let conn = app(&db_path(dir.path(), site));
            let value: String = conn.query_row("SELECT a FROM t1 WHERE id = 1", [], |r| r.get(0)).unwrap();
            assert_eq!(&value, newest, "{site} after {writes_after:?}; registers {:?}", registers_of(&conn, 1));
        }
        assert_ne!(sites[0].incarnation().unwrap(), before, "after {writes_after:?}, the restore was found");
        assert!(
            logged_as_lost(&mut sites, "lost by the restore"),
            "after {writes_after:?}, the restore's lost write was replaced with no conflict logged: {:?}",
            sites.iter_mut().flat_map(|s| s.conflicts().unwrap()).collect::<Vec<_>>()
        );
    }
}

/// The restored site's first batch after the restore reaches past the position
/// its peer held (it wrote more than the restore took away): the peer names
/// the position it passed, the restored site finds another change there, and
/// the full state exchange brings back the row it lost.
#[test]
fn a_restored_sites_first_batch_reaching_past_what_it_lost_still_finds_the_restore() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    insert(dir.path(), "a", 1..3);
    sync_all(&mut sites);
    let copy = backup(dir.path(), "a");
    app(&db_path(dir.path(), "a")).execute("UPDATE t1 SET a = 'lost by the restore' WHERE id = 2", []).unwrap();
    sync_all(&mut sites);
    let before = sites[0].incarnation().unwrap();

    drop(sites.remove(0));
    restore(dir.path(), "a", &copy);
    sites.insert(0, open_site(dir.path(), "a", &["b"]));
    set_row_1(dir.path(), "a", "new 1");
    set_row_1(dir.path(), "a", "new 2");
    let (a, b) = pair(&mut sites, 0, 1);
    let batch = a.build_batch("b").unwrap();
    let held = b.status().unwrap().peers[0].received_upto;
    assert!(batch.from_seq < held && held < batch.to_seq, "the batch reaches past b's position");
    deliver(a, b);
    assert_ne!(a.incarnation().unwrap(), before, "the restore was found from the position b passed");
    sync_all(&mut sites);

    let (at_a, at_b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
    assert_eq!(at_a, at_b);
    let row_2 = app(&db_path(dir.path(), "a"))
        .query_row("SELECT a FROM t1 WHERE id = 2", [], |r| r.get::<_, String>(0))
        .unwrap();
    assert_eq!(row_2, "lost by the restore", "a got back the write it lost");
}

/// A change set aside leaves a marker that keeps its position and HLC: a batch that ends on
/// it gives the peer that position with the HLC, so when the site is then restored from a
/// backup and writes a new change at that position, the peer's acknowledgement gives the
/// restore away and the new change still arrives.
#[test]
fn a_restore_is_found_through_a_position_a_change_set_aside_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (loose_site(dir.path(), "a", "b"), loose_site(dir.path(), "b", "a"));
    app(&db_path(dir.path(), "a")).execute("INSERT INTO loose VALUES ('k1', 'one')", []).unwrap();
    assert!(deliver(&mut a, &mut b));
    let copy = backup(dir.path(), "a");
    app(&db_path(dir.path(), "a")).execute("INSERT INTO loose VALUES (NULL, 'no key')", []).unwrap();
    deliver(&mut a, &mut b);
    let at_b = app(&db_path(dir.path(), "b"));
    let held = "SELECT received_hlc FROM _sy_peers WHERE site = 'a'";
    assert_ne!(count(&at_b, held), 0, "b holds a's position with the HLC stamped there");

    let before = a.incarnation().unwrap();
    drop(a);
    restore(dir.path(), "a", &copy);
    let mut a = loose_site(dir.path(), "a", "b");
    app(&db_path(dir.path(), "a")).execute("INSERT INTO loose VALUES ('k2', 'after the restore')", []).unwrap();
    for _ in 0..4 {
        deliver(&mut a, &mut b);
        deliver(&mut b, &mut a);
        deliver_state(&mut a, &mut b);
        deliver_state(&mut b, &mut a);
    }
    assert_ne!(a.incarnation().unwrap(), before, "the restore was found");
    assert_eq!(count(&at_b, "SELECT count(*) FROM loose WHERE k = 'k2'"), 1, "a's write after the restore reached b");
}
