//! The statements of shipping, applying, conflict logging, pruning and
//! anti-entropy are prepared once per connection, not again on every run.

use rusqlite::{Connection, ffi};
use switchyard::sync::{Answer, Replica, Request};

use super::support::{app, db_path, open_site, sync_all};

/// Every statement `conn` holds prepared, with how often SQLite had to prepare it again.
fn prepared(conn: &Connection) -> Vec<(String, i32)> {
    let mut found = Vec::new();
    // SAFETY: walks the connection's own statement list on the thread that owns it;
    // the pointers are only read while the connection is borrowed.
    unsafe {
        let db = conn.handle();
        let mut stmt = ffi::sqlite3_next_stmt(db, std::ptr::null_mut());
        while !stmt.is_null() {
            let count = ffi::sqlite3_stmt_status(stmt, ffi::SQLITE_STMTSTATUS_REPREPARE, 0);
            let sql = std::ffi::CStr::from_ptr(ffi::sqlite3_sql(stmt)).to_string_lossy().into_owned();
            found.push((sql, count));
            stmt = ffi::sqlite3_next_stmt(db, stmt);
        }
    }
    found
}

fn check_digests(asker: &mut Replica, peer: &mut Replica) {
    let query = asker.digest_query(peer.site_id(), "t1").unwrap();
    let reply = peer.handle(&Request::Digests(query)).unwrap();
    let Answer::Digests(digests) = reply.answer else { panic!("digests expected") };
    assert!(asker.plan_repair(peer.site_id(), "t1", &digests).unwrap().is_none());
}

#[test]
fn statements_are_prepared_once_however_often_they_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    let writers = [app(&db_path(dir.path(), "a")), app(&db_path(dir.path(), "b"))];
    for round in 0..5i64 {
        for (i, writer) in writers.iter().enumerate() {
            for id in 1..=20 {
                // Both sites write the same rows: conflicts are found, logged and shipped too.
                writer
                    .execute(
                        "INSERT INTO t1(id, a, b) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET a = excluded.a",
                        rusqlite::params![id, format!("{round}-{i}"), id],
                    )
                    .unwrap();
            }
            writer.execute("DELETE FROM t1 WHERE id = ?1", [round + 1]).unwrap();
        }
        sync_all(&mut sites);
        let (a, b) = sites.split_at_mut(1);
        check_digests(&mut a[0], &mut b[0]);
        for site in &mut sites {
            site.prune().unwrap();
            site.status().unwrap();
        }
    }
    // A new incarnation at a (as after a restore) makes it send b its whole state,
    // a page of keys at a time; `sync_all` delivers the pages.
    for _ in 0..3 {
        sites[0].left_behind("b").unwrap();
        sync_all(&mut sites);
    }
    let held: Vec<String> = prepared(sites[0].connection()).into_iter().map(|(sql, _)| sql).collect();
    for limited in [
        "FROM _sy_changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT",
        "AND pk > ?2 AND alive IS NOT NULL ORDER BY pk LIMIT",
    ] {
        assert!(held.iter().any(|sql| sql.contains(limited)), "no statement with `{limited}` ran: {held:#?}");
    }
    for site in &sites {
        let again: Vec<_> = prepared(site.connection()).into_iter().filter(|(_, count)| *count > 0).collect();
        assert!(again.is_empty(), "site {} prepared statements again: {again:#?}", site.site_id());
    }
}
