use switchyard::sync::Replica;

use super::support::{app, count, db_path, deliver, loose_site, open_site};

#[test]
fn writes_from_another_connection_are_captured() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = open_site(dir.path(), "a", &["b"]);
    let other = app(&db_path(dir.path(), "a"));
    other.execute("INSERT INTO t1(id, a, b) VALUES (1, 'x', 10)", []).unwrap();
    other.execute("UPDATE t1 SET b = 11 WHERE id = 1", []).unwrap();
    other.execute("UPDATE t1 SET b = 11 WHERE id = 1", []).unwrap(); // no real change
    other.execute("DELETE FROM t1 WHERE id = 1", []).unwrap();

    type Logged = (String, i64, String, Option<i64>);
    let rows: Vec<Logged> = other
        .prepare("SELECT kind, pk, changed, hlc FROM _sy_changes ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].0, "insert");
    assert_eq!(rows[0].2, r#"["a","b"]"#);
    assert_eq!((rows[1].0.as_str(), rows[1].2.as_str()), ("update", r#"["b"]"#));
    assert_eq!((rows[2].0.as_str(), rows[2].1), ("delete", 1));
    assert!(rows.iter().all(|r| r.3.is_none()), "HLC is assigned at stamping, not by the trigger");

    assert_eq!(replica.stamp_pending().unwrap(), 3);
    let hlcs: Vec<i64> = other
        .prepare("SELECT hlc FROM _sy_changes ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(hlcs.windows(2).all(|w| w[0] < w[1]));
}

/// Stamping finds what is not stamped yet past a mark of its own: each change once, also
/// after changes written already stamped, and in a database whose earlier version kept no
/// mark (it looks through the whole log once).
#[test]
fn every_change_is_stamped_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut replica = open_site(dir.path(), "a", &["b"]);
    let writer = app(&db_path(dir.path(), "a"));
    let write = |first: i64, n: i64| {
        for id in first..first + n {
            writer.execute("INSERT INTO t1(id, a, b) VALUES (?1, 'x', 1)", [id]).unwrap();
        }
    };
    let unstamped = |replica: &Replica| replica.status().unwrap().pending_changes;
    write(1, 3);
    assert_eq!(unstamped(&replica), 3);
    assert_eq!(replica.stamp_pending().unwrap(), 3);
    assert_eq!(unstamped(&replica), 0);
    assert_eq!(replica.stamp_pending().unwrap(), 0, "nothing is stamped twice");
    write(4, 2);
    assert_eq!((unstamped(&replica), replica.stamp_pending().unwrap()), (2, 2));

    // An earlier version's database: no mark, and its last two changes not stamped yet.
    writer.execute("DELETE FROM _sy_meta WHERE key = 'stamped_upto'", []).unwrap();
    writer.execute("UPDATE _sy_changes SET hlc = NULL WHERE seq > 3", []).unwrap();
    write(6, 1);
    assert_eq!(unstamped(&replica), 3);
    assert_eq!(replica.stamp_pending().unwrap(), 3);
    assert_eq!(count(&writer, "SELECT count(*) FROM _sy_changes WHERE hlc IS NULL"), 0);
    assert_eq!(count(&writer, "SELECT count(DISTINCT hlc) FROM _sy_changes"), 6, "each change its own HLC");
    write(7, 1);
    assert_eq!((unstamped(&replica), replica.stamp_pending().unwrap()), (1, 1));
}

#[test]
fn key_change_is_a_delete_plus_insert() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO t1(id, a, b) VALUES (1, 'x', 10)", []).unwrap();
    writer.execute("UPDATE t1 SET id = 2 WHERE id = 1", []).unwrap();
    let kinds: Vec<String> = writer
        .prepare("SELECT kind || ':' || pk FROM _sy_changes ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(kinds, ["insert:1", "delete:1", "insert:2"]);
    deliver(&mut a, &mut b);
    let reader = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&reader, "SELECT count(*) FROM t1 WHERE id = 2 AND a = 'x'"), 1);
    assert_eq!(count(&reader, "SELECT count(*) FROM t1"), 1);
}

#[test]
fn applied_remote_changes_are_not_captured_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    app(&db_path(dir.path(), "a")).execute("INSERT INTO t2(id, x) VALUES (5, 'hello')", []).unwrap();
    assert!(deliver(&mut a, &mut b));
    let at_b = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&at_b, "SELECT count(*) FROM t2 WHERE x = 'hello'"), 1);
    assert_eq!(count(&at_b, "SELECT count(*) FROM _sy_changes"), 0);
    assert!(!deliver(&mut b, &mut a), "nothing echoes back");
    assert_eq!(count(&at_b, "SELECT active FROM _sy_applying"), 0);
}

#[test]
fn rows_present_before_setup_are_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path(), "a");
    let early = app(&path);
    early.execute_batch(super::support::SCHEMA).unwrap();
    early.execute("INSERT INTO t1(id, a, b) VALUES (7, 'old', 1)", []).unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    deliver(&mut a, &mut b);
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1 WHERE a = 'old'"), 1);
}

/// The sqlite3 shell is another program with its own (older) SQLite; its
/// writes must be captured too. Skipped where the shell is not installed.
#[test]
fn writes_from_the_sqlite3_shell_are_captured() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let path = db_path(dir.path(), "a");
    let shell = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("INSERT INTO t1(id, a, b) VALUES (42, 'from-shell', 1); UPDATE t1 SET b = 2 WHERE id = 42;")
        .output();
    let Ok(output) = shell else {
        eprintln!("sqlite3 shell not installed; skipping");
        return;
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(count(&app(&path), "SELECT count(*) FROM _sy_changes"), 2);
    deliver(&mut a, &mut b);
    let at_b = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&at_b, "SELECT b FROM t1 WHERE id = 42 AND a = 'from-shell'"), 2);
}

/// Changes are stamped together; one that cannot be (its key is NULL, which
/// SQLite lets a TEXT key be) is set aside alone and its neighbours still ship.
#[test]
fn a_change_that_cannot_be_stamped_is_set_aside_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (loose_site(dir.path(), "a", "b"), loose_site(dir.path(), "b", "a"));
    let mut writer = app(&db_path(dir.path(), "a"));
    let tx = writer.transaction().unwrap();
    tx.execute_batch("INSERT INTO loose VALUES ('one', '1'); INSERT INTO loose VALUES (NULL, 'x'); INSERT INTO loose VALUES ('two', '2');")
        .unwrap();
    tx.commit().unwrap();

    assert_eq!(a.stamp_pending().unwrap(), 3);
    let status = a.status().unwrap();
    assert_eq!(status.quarantined_now, 1, "{:?}", status.quarantine);
    assert!(status.quarantine[0].reason.contains("NULL"), "{:?}", status.quarantine);
    deliver(&mut a, &mut b);
    let shipped = count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM loose WHERE k IN ('one', 'two')");
    assert_eq!(shipped, 2);
}

/// The same, stamped while the batch is built: the batch takes the registers
/// stamping left, and those of a change set aside are not among them.
#[test]
fn a_change_set_aside_while_a_batch_is_built_leaves_its_neighbours_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (loose_site(dir.path(), "a", "b"), loose_site(dir.path(), "b", "a"));
    let mut writer = app(&db_path(dir.path(), "a"));
    let tx = writer.transaction().unwrap();
    tx.execute_batch(
        "INSERT INTO loose VALUES ('one', '1'); INSERT INTO loose VALUES (NULL, 'x');
         INSERT INTO loose VALUES ('two', '2'); UPDATE loose SET v = '1b' WHERE k = 'one';",
    )
    .unwrap();
    tx.commit().unwrap();

    deliver(&mut a, &mut b);
    assert_eq!(a.status().unwrap().quarantined_now, 1);
    let rows: Vec<(String, String)> = app(&db_path(dir.path(), "b"))
        .prepare("SELECT k, v FROM loose ORDER BY k")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [("one".to_string(), "1b".to_string()), ("two".to_string(), "2".to_string())]);
}

/// A key column without a type keeps 1 and 1.0 as written, and the triggers log
/// them so, but SQLite holds them as one row. Stamped together, with the batch
/// ending between them, the batch must carry the row as it is now (alive, the
/// new value), not as the first change left it.
#[test]
fn a_key_written_as_1_then_as_1_0_ships_the_row_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let schema = "CREATE TABLE loose(k PRIMARY KEY, v TEXT);";
    let open = |site: &str, peer: &str, max_changes: usize| {
        let path = db_path(dir.path(), site);
        app(&path).execute_batch(schema).unwrap();
        let mut config = switchyard::sync::SyncConfig::new(site, &path, b"key".to_vec())
            .table(switchyard::sync::TableConfig::new("loose"))
            .peer(switchyard::sync::PeerConfig::new(peer, "http://127.0.0.1:1"));
        config.max_changes_per_batch = max_changes;
        switchyard::sync::Replica::open(&config).unwrap()
    };
    let (mut a, mut b) = (open("a", "b", 2), open("b", "a", 2));
    let a_app = app(&db_path(dir.path(), "a"));
    a_app.execute_batch("INSERT INTO loose VALUES (1, 'a');").unwrap();
    deliver(&mut a, &mut b);
    // A change stamped on its own first, so the next batch's two changes are this one and the delete.
    a_app.execute_batch("INSERT INTO loose VALUES (2, 'x');").unwrap();
    a.stamp_pending().unwrap();
    a_app.execute_batch("BEGIN; DELETE FROM loose WHERE k = 1; INSERT INTO loose VALUES (1.0, 'a2'); COMMIT;").unwrap();

    deliver(&mut a, &mut b);
    let b_app = app(&db_path(dir.path(), "b"));
    let value: Option<String> = b_app.query_row("SELECT max(v) FROM loose WHERE k = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(value.as_deref(), Some("a2"), "after the batch that ends at the delete");
    while deliver(&mut a, &mut b) {}
    assert_eq!(count(&b_app, "SELECT count(*) FROM loose"), 2);
}

/// A backlog longer than one stamping pass gets versions that keep growing
/// from one pass to the next, and a change that cannot be stamped is set aside
/// alone in its pass.
#[test]
fn a_long_backlog_is_stamped_in_passes_with_growing_versions() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = loose_site(dir.path(), "a", "b");
    let mut writer = app(&db_path(dir.path(), "a"));
    let tx = writer.transaction().unwrap();
    for i in 0..4_500 {
        let key = if i == 3_000 { None } else { Some(format!("k{i}")) };
        tx.execute("INSERT INTO loose VALUES (?1, 'v')", [key]).unwrap();
    }
    tx.commit().unwrap();
    // Versions then come from the clock carried from change to change alone (a
    // pass starting over from the stored clock repeats them), not from the wall time.
    writer.execute("UPDATE _sy_changes SET wall_ms = 0", []).unwrap();

    assert_eq!(a.stamp_pending().unwrap(), 4_500);
    assert_eq!(a.status().unwrap().quarantined_now, 1);
    let hlcs: Vec<i64> = writer
        .prepare("SELECT hlc FROM _sy_changes WHERE tbl <> ?1 ORDER BY seq")
        .unwrap()
        .query_map([switchyard::sync::MARKER_TABLE], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(hlcs.len(), 4_499);
    assert!(hlcs.windows(2).all(|w| w[0] < w[1]), "versions must grow across passes");
    assert_eq!(count(&writer, "SELECT count(*) FROM _sy_rows"), 4_499);
    let marker = format!("SELECT seq FROM _sy_changes WHERE tbl = '{}'", switchyard::sync::MARKER_TABLE);
    assert_eq!(count(&writer, &marker), 3_001, "the change set aside leaves a marker at its position");
}

/// The newest change set aside keeps its position: the next change gets the one after
/// it, so stamping (which goes on past it) does not pass the next change by.
#[test]
fn a_change_after_the_newest_one_set_aside_is_stamped_and_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (loose_site(dir.path(), "a", "b"), loose_site(dir.path(), "b", "a"));
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO loose VALUES (NULL, 'no key')", []).unwrap();
    assert_eq!(a.stamp_pending().unwrap(), 1);
    assert_eq!(a.status().unwrap().quarantined_now, 1);
    writer.execute("INSERT INTO loose VALUES ('k', 'after')", []).unwrap();
    assert_eq!(count(&writer, "SELECT max(seq) FROM _sy_changes"), 2);
    assert!(deliver(&mut a, &mut b));
    let at_b = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&at_b, "SELECT count(*) FROM loose WHERE k = 'k' AND v = 'after'"), 1);
}
