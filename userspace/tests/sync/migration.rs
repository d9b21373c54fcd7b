//! A database set up by the first sync layout (keys and values as JSON text)
//! is upgraded in place when opened, keeping its data and its change counter.

use std::collections::BTreeMap;

use switchyard::sync::{
    ChangeKind, RowState, SCHEMA_VERSION, Seen, SeenRun, Value, Version, load_registers, to_layout_3, to_layout_4,
};

use super::support::{SCHEMA, app, count, db_path, deliver, dump, open_site};

/// The first layout's tables, a trigger of that layout, and some state in them.
const LAYOUT_1: &str = r#"
CREATE TABLE _sy_meta(key TEXT PRIMARY KEY, value ANY);
INSERT INTO _sy_meta VALUES ('site_id', 'a'), ('schema_version', 1), ('hlc', 1000);
CREATE TABLE _sy_applying(id INTEGER PRIMARY KEY CHECK (id = 1), active INTEGER NOT NULL);
INSERT INTO _sy_applying VALUES (1, 0);
CREATE TABLE _sy_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, pk TEXT NOT NULL,
    kind TEXT NOT NULL, changed TEXT NOT NULL, row_json TEXT, wall_ms REAL NOT NULL, hlc INTEGER);
INSERT INTO _sy_changes(seq, tbl, pk, kind, changed, row_json, wall_ms, hlc)
    VALUES (57, 't1', '1', 'update', '["a"]', '{"id":1,"a":"old text","b":5}', 1.0, 999);
CREATE TABLE _sy_rows(tbl TEXT NOT NULL, pk TEXT NOT NULL, alive INTEGER NOT NULL, hlc INTEGER NOT NULL,
    site TEXT NOT NULL, seen_hlc INTEGER, seen_site TEXT, PRIMARY KEY (tbl, pk)) WITHOUT ROWID;
INSERT INTO _sy_rows VALUES ('t1', '1', 1, 999, 'a', NULL, NULL), ('t2', '"k"', 0, 998, 'b', 997, 'b');
CREATE TABLE _sy_cells(tbl TEXT NOT NULL, pk TEXT NOT NULL, col TEXT NOT NULL, value TEXT NOT NULL,
    hlc INTEGER NOT NULL, site TEXT NOT NULL, prev_hlc INTEGER, prev_site TEXT,
    PRIMARY KEY (tbl, pk, col)) WITHOUT ROWID;
INSERT INTO _sy_cells VALUES ('t1', '1', 'a', '"old text"', 999, 'a', NULL, NULL),
                             ('t1', '1', 'b', '5', 999, 'a', NULL, NULL);
CREATE TABLE _sy_peers(site TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL DEFAULT 0,
    received_upto INTEGER NOT NULL DEFAULT 0, frontier_hlc INTEGER NOT NULL DEFAULT 0,
    last_sent_ms REAL, last_received_ms REAL, last_ack_ms REAL);
INSERT INTO _sy_peers(site, acked_seq, received_upto) VALUES ('b', 56, 12);
CREATE TABLE _sy_conflicts(id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, col TEXT NOT NULL,
    via_site TEXT NOT NULL, winner_value TEXT, winner_hlc INTEGER NOT NULL, winner_site TEXT NOT NULL,
    loser_value TEXT, loser_hlc INTEGER NOT NULL, loser_site TEXT NOT NULL, recorded_ms REAL NOT NULL,
    UNIQUE (tbl, pk, col, loser_hlc, loser_site));
INSERT INTO _sy_conflicts VALUES (1, 't1', '1', 'a', 'b', '"old text"', 999, 'a', '"lost"', 990, 'b', 1.0);
INSERT INTO t1(id, a, b) VALUES (1, 'old text', 5);
CREATE TRIGGER _sy_t1_insert AFTER INSERT ON t1 BEGIN
    INSERT INTO _sy_changes(tbl, pk, kind, changed, row_json, wall_ms) VALUES ('t1', json_quote(NEW.id),
        'insert', '[]', json_object('id', NEW.id), 0);
END;
"#;

#[test]
fn a_layout_1_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path(), "a");
    let old = app(&path);
    old.execute_batch(SCHEMA).unwrap();
    old.execute_batch(LAYOUT_1).unwrap();
    drop(old);

    let mut a = open_site(dir.path(), "a", &["b"]);
    let conn = app(&path);
    assert_eq!(count(&conn, "SELECT value FROM _sy_meta WHERE key = 'schema_version'"), SCHEMA_VERSION as i64);
    let (row, cells) = load_registers(&conn, "t1", &Value::Integer(1)).unwrap();
    assert_eq!(row.map(|r| (r.alive, r.version)), Some((true, Version::new(999, "a"))));
    assert_eq!(cells["a"].value, Value::from("old text"));
    assert_eq!(cells["b"].value, Value::Integer(5));
    assert_eq!(cells.len(), 2);
    let (tombstone, _) = load_registers(&conn, "t2", &Value::from("k")).unwrap();
    assert_eq!(tombstone.map(|r| (r.alive, r.seen)), Some((false, Some(Version::new(997, "b")))));
    let conflict = &a.conflicts().unwrap()[0];
    assert_eq!((conflict.pk.clone(), conflict.loser_value.clone()), (Value::Integer(1), Some(Value::from("lost"))));
    let status = a.status().unwrap();
    assert_eq!((status.conflicts_total, status.peers[0].conflicts), (1, 1), "counters start from the log");
    assert_eq!(count(&conn, "SELECT acked_seq FROM _sy_peers WHERE site = 'b'"), 56);

    // The counter goes on from where it was: peers hold positions in it.
    conn.execute("INSERT INTO t1(id, a, b) VALUES (2, x'00ff', 6)", []).unwrap();
    assert_eq!(count(&conn, "SELECT max(seq) FROM _sy_changes"), 58);

    let mut b = open_site(dir.path(), "b", &["a"]);
    // b's positions are fresh; a sends from its acknowledged 56 after b answers 0.
    app(&db_path(dir.path(), "b")).execute("UPDATE _sy_peers SET received_upto = 56 WHERE site = 'a'", []).unwrap();
    deliver(&mut a, &mut b);
    let at_b = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1"), 2);
    assert_eq!(count(&at_b, "SELECT typeof(a) = 'blob' FROM t1 WHERE id = 2"), 1);
    assert_eq!(dump(&conn).len(), dump(&at_b).len());
}

/// A peer's change as wire format 2 encoded it: table, key, kind, changed
/// columns, row register, and per column (value, version, history as a map of
/// site to HLC), with no run. Postcard encodes a tuple as the struct it stands for.
type RowChangeV2 =
    (String, Value, ChangeKind, Vec<String>, RowState, BTreeMap<String, (Value, Version, BTreeMap<String, i64>)>);

/// Turns a layout-3 database (see `to_layout_3`) back into layout 2: no run
/// column, no received HLC, histories as maps of site to HLC.
const TO_LAYOUT_2: &str = "
    UPDATE _sy_cells SET seen = json_object(json_extract(seen, '$[0][0]'), json_extract(seen, '$[0][2]'))
        WHERE seen <> '{}';
    ALTER TABLE _sy_cells DROP COLUMN epoch;
    ALTER TABLE _sy_peers DROP COLUMN received_hlc;
    UPDATE _sy_meta SET value = 2 WHERE key = 'schema_version';
    DELETE FROM _sy_meta WHERE key LIKE 'conflicts_%';";

/// Two layout-2 databases are upgraded in place: their histories read as run
/// 0 (a's next write over its own earlier one is no conflict at b), the first
/// acknowledgement without an HLC finds nothing amiss, and a peer's change
/// waiting in b's quarantine, encoded by format 2, is applied once retried.
#[test]
fn layout_2_databases_are_upgraded_in_place_and_go_on_syncing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"]));
    let at_a = app(&db_path(dir.path(), "a"));
    at_a.execute("INSERT INTO t1(id, a, b) VALUES (1, 'one', 1)", []).unwrap();
    deliver(&mut a, &mut b);
    at_a.execute("UPDATE t1 SET a = 'two' WHERE id = 1", []).unwrap();
    deliver(&mut a, &mut b);
    // Row 2: b's write, then a's write over it that reaches b only after the upgrade,
    // so its history (a layout-2 map naming b's write) decides whether b logs a conflict.
    app(&db_path(dir.path(), "b")).execute("INSERT INTO t1(id, a, b) VALUES (2, 'by b', 2)", []).unwrap();
    deliver(&mut b, &mut a);
    at_a.execute("UPDATE t1 SET a = 'by a over b' WHERE id = 2", []).unwrap();
    a.stamp_pending().unwrap();
    let incarnations = (a.incarnation().unwrap(), b.incarnation().unwrap());
    drop((a, b));
    let version = Version::new(1 << 40, "a");
    let cells = ["a", "b"]
        .map(|col| (col.to_string(), (Value::Integer(5), version.clone(), BTreeMap::from([("a".to_string(), 77)]))));
    let waiting: RowChangeV2 = (
        "t1".into(),
        Value::Integer(5),
        ChangeKind::Insert,
        vec!["a".into(), "b".into()],
        RowState { alive: true, version: version.clone(), seen: None },
        cells.into_iter().collect(),
    );
    for site in ["a", "b"] {
        let conn = app(&db_path(dir.path(), site));
        to_layout_3(&conn).unwrap();
        conn.execute_batch(TO_LAYOUT_2).unwrap();
    }
    app(&db_path(dir.path(), "b"))
        .execute(
            "INSERT INTO _sy_quarantine(direction, peer, tbl, pk, reason, change, first_ms, last_ms)
             VALUES ('inbound', 'a', 't1', 5, 'a constraint since dropped', ?1, 0, 0)",
            [postcard::to_allocvec(&waiting).unwrap()],
        )
        .unwrap();

    let (mut a, mut b) = (open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"]));
    let at_b = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&at_b, "SELECT value FROM _sy_meta WHERE key = 'schema_version'"), SCHEMA_VERSION as i64);
    let (_, cells) = load_registers(&at_b, "t1", &Value::Integer(1)).unwrap();
    assert!(cells.values().all(|c| c.epoch == 0) && cells.len() == 2, "written before runs: {cells:?}");
    // b has nothing new: a's answer to its heartbeat names no HLC (a has received
    // nothing since the upgrade).
    assert!(!deliver(&mut b, &mut a));
    assert_eq!(b.incarnation().unwrap(), incarnations.1, "an acknowledgement without an HLC is no restore");
    at_a.execute("UPDATE t1 SET a = 'three' WHERE id = 1", []).unwrap();
    deliver(&mut a, &mut b);
    assert_eq!(a.incarnation().unwrap(), incarnations.0);
    assert!(b.conflicts().unwrap().is_empty(), "writes over seen ones are no conflicts: {:?}", b.conflicts());
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1 WHERE a IN ('three', 'by a over b')"), 2);
    assert_eq!(count(&at_b, "SELECT received_hlc <> 0 FROM _sy_peers WHERE site = 'a'"), 1, "known from now on");

    assert_eq!(b.retry_quarantined().unwrap(), 1, "the format-2 change was re-encoded");
    assert_eq!(count(&at_b, "SELECT b FROM t1 WHERE id = 5"), 5);
    let (_, cells) = load_registers(&at_b, "t1", &Value::Integer(5)).unwrap();
    let run_0 = Seen(vec![SeenRun { site: "a".into(), epoch: 0, hlc: 77 }]);
    assert_eq!(cells["a"].seen, run_0, "its history kept, as run 0");
    assert_eq!(b.status().unwrap().quarantined_now, 0);
}

/// Every row's registers, by table and key.
fn all_registers(conn: &rusqlite::Connection) -> Vec<(String, Value, switchyard::sync::Registers)> {
    let keys: Vec<(String, Value)> = conn
        .prepare("SELECT tbl, pk FROM _sy_rows ORDER BY tbl, pk")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    keys.into_iter()
        .map(|(table, pk)| (table.clone(), pk.clone(), load_registers(conn, &table, &pk).unwrap()))
        .collect()
}

/// Layout-3 databases (a record per column register) are upgraded in place:
/// every register, with its run and history, reads the same afterwards, and
/// the sites go on syncing.
#[test]
fn layout_3_databases_are_upgraded_in_place_and_keep_every_register() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"]));
    let (at_a, at_b) = (app(&db_path(dir.path(), "a")), app(&db_path(dir.path(), "b")));
    at_a.execute("INSERT INTO t1(id, a, b) VALUES (1, 'one', 1), (2, x'00ff', 2.5), (3, NULL, 3)", []).unwrap();
    at_a.execute("INSERT INTO t2(id, x) VALUES (7, 'kept')", []).unwrap();
    deliver(&mut a, &mut b);
    at_b.execute("UPDATE t1 SET a = 'over one' WHERE id = 1", []).unwrap();
    at_b.execute("DELETE FROM t1 WHERE id = 3", []).unwrap();
    deliver(&mut b, &mut a);
    at_a.execute("UPDATE t1 SET b = 9 WHERE id = 1", []).unwrap();
    deliver(&mut a, &mut b);
    let before = [all_registers(&at_a), all_registers(&at_b)];
    assert!(before[0].iter().any(|(_, _, (_, cells))| cells.values().any(|c| !c.seen.0.is_empty())));
    assert!(before[0].iter().any(|(_, _, (row, _))| row.as_ref().is_some_and(|r| !r.alive)), "a tombstone");
    drop((a, b));
    for (conn, registers) in [&at_a, &at_b].into_iter().zip(&before) {
        to_layout_3(conn).unwrap();
        let cells: usize = registers.iter().map(|(_, _, (_, cells))| cells.len()).sum();
        assert_eq!(count(conn, "SELECT count(*) FROM _sy_cells"), cells as i64);
    }

    let (mut a, mut b) = (open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"]));
    assert_eq!(count(&at_a, "SELECT value FROM _sy_meta WHERE key = 'schema_version'"), SCHEMA_VERSION as i64);
    assert_eq!(count(&at_a, "SELECT count(*) FROM sqlite_master WHERE name = '_sy_cells'"), 0);
    assert_eq!([all_registers(&at_a), all_registers(&at_b)], before, "every register kept");
    at_b.execute("UPDATE t1 SET b = 10 WHERE id = 2", []).unwrap();
    deliver(&mut b, &mut a);
    assert_eq!(count(&at_a, "SELECT b FROM t1 WHERE id = 2"), 10);
    assert_eq!(dump(&at_a), dump(&at_b));
    assert!(a.conflicts().unwrap().is_empty() && b.conflicts().unwrap().is_empty());
}

/// A layout-4 database whose log was pruned to nothing is upgraded in place and keeps the
/// positions it gave out: its next change goes on after them, and b's acknowledgement of
/// the last one is still of this log (no new incarnation).
#[test]
fn a_layout_4_database_goes_on_from_the_last_position_it_gave_out() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, mut b) = (open_site(dir.path(), "a", &["b"]), open_site(dir.path(), "b", &["a"]));
    let (at_a, at_b) = (app(&db_path(dir.path(), "a")), app(&db_path(dir.path(), "b")));
    at_a.execute("INSERT INTO t1(id, a) VALUES (1, 'x'), (2, 'y')", []).unwrap();
    deliver(&mut a, &mut b);
    let incarnation = a.incarnation().unwrap();
    drop(a);
    to_layout_4(&at_a, 2).unwrap();
    at_a.execute("DELETE FROM _sy_changes", []).unwrap();

    let mut a = open_site(dir.path(), "a", &["b"]);
    assert_eq!(count(&at_a, "SELECT value FROM _sy_meta WHERE key = 'schema_version'"), SCHEMA_VERSION as i64);
    assert_eq!(count(&at_a, "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'"), 0);
    let index = "SELECT count(*) FROM sqlite_master WHERE name = '_sy_changes_row' AND tbl_name = '_sy_changes'";
    assert_eq!(count(&at_a, index), 1, "the new log has the index of the rows' changes");
    at_a.execute("INSERT INTO t1(id, a) VALUES (3, 'z')", []).unwrap();
    assert_eq!(count(&at_a, "SELECT max(seq) FROM _sy_changes"), 3);
    assert!(deliver(&mut a, &mut b));
    assert_eq!(count(&at_b, "SELECT count(*) FROM t1"), 3);
    assert_eq!(a.incarnation().unwrap(), incarnation);
}
