//! Anti-entropy between two replicas: rows changed with the capture triggers
//! bypassed are found by the digests and repaired through the normal rules.

use switchyard::sync::{Answer, Replica, Request};

use super::support::{app, count, db_path, dump, open_site, sync_all};

/// One anti-entropy check of `table` from `asker` to `peer`; returns the rows that differed.
fn check(asker: &mut Replica, peer: &mut Replica, table: &str) -> usize {
    let query = asker.digest_query(peer.site_id(), table).unwrap();
    let reply = peer.handle(&Request::Digests(query)).unwrap();
    let Answer::Digests(digests) = reply.answer else { panic!("digests expected") };
    let Some(repair) = asker.plan_repair(peer.site_id(), table, &digests).unwrap() else {
        return 0;
    };
    let divergent = repair.keys.len();
    let reply = peer.handle(&Request::Repair(repair)).unwrap();
    let Answer::Repair { rows } = reply.answer else { panic!("repair expected") };
    asker.finish_repair(peer.site_id(), &rows).unwrap();
    divergent
}

/// Runs `sql` at `site` with the capture triggers quiet, as a program that
/// bypasses them would.
fn bypassing_triggers(dir: &std::path::Path, site: &str, sql: &str) {
    app(&db_path(dir, site))
        .execute_batch(&format!(
            "BEGIN; UPDATE _sy_applying SET active = 1; {sql}; UPDATE _sy_applying SET active = 0; COMMIT;"
        ))
        .unwrap();
}

#[test]
fn writes_that_bypassed_the_triggers_are_found_and_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let mut sites = vec![open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"])];
    let writer = app(&db_path(dir.path(), "a"));
    for id in 1..=50 {
        writer.execute("INSERT INTO t1(id, a, b) VALUES (?1, 'row', ?1)", [id]).unwrap();
    }
    sync_all(&mut sites);
    let (a, b) = sites.split_at_mut(1);
    assert_eq!(check(&mut a[0], &mut b[0], "t1"), 0, "in step");

    bypassing_triggers(dir.path(), "a", "UPDATE t1 SET a = 'sneaky' WHERE id = 3");
    bypassing_triggers(dir.path(), "a", "INSERT INTO t1(id, a, b) VALUES (99, 'unseen', 99)");
    bypassing_triggers(dir.path(), "b", "DELETE FROM t1 WHERE id = 7");
    assert_eq!(count(&writer, "SELECT count(*) FROM _sy_changes WHERE hlc IS NULL"), 0, "nothing was captured");
    sync_all(&mut sites);
    assert_ne!(dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))), "still apart");

    let (a, b) = sites.split_at_mut(1);
    assert_eq!(check(&mut a[0], &mut b[0], "t1"), 3);
    let (dump_a, dump_b) = (dump(&app(&db_path(dir.path(), "a"))), dump(&app(&db_path(dir.path(), "b"))));
    assert_eq!(dump_a, dump_b);
    let at_b = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1 WHERE id = 3 AND a = 'sneaky'"), 1);
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1 WHERE id = 99"), 1);
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1 WHERE id = 7"), 0, "the bypassed delete is a delete everywhere");
    assert_eq!(check(&mut a[0], &mut b[0], "t1"), 0, "in step again");
    assert!(a[0].status().unwrap().peers[0].repairs_total >= 3);
}

#[test]
fn rows_on_their_way_are_not_counted_as_divergent() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    app(&db_path(dir.path(), "a")).execute("INSERT INTO t1(id, a) VALUES (1, 'new')", []).unwrap();
    app(&db_path(dir.path(), "b")).execute("INSERT INTO t2(id, x) VALUES (1, 'new')", []).unwrap();
    assert_eq!(check(&mut a, &mut b, "t1"), 0);
    assert_eq!(check(&mut a, &mut b, "t2"), 0);
}
