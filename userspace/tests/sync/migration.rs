//! A database set up by the first sync layout (keys and values as JSON text)
//! is upgraded in place when opened, keeping its data and its change counter.

use switchyard::sync::{SCHEMA_VERSION, Value};

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
    let cell: Value =
        conn.query_row("SELECT value FROM _sy_cells WHERE pk = 1 AND col = 'a'", [], |r| r.get(0)).unwrap();
    assert_eq!(cell, Value::from("old text"));
    assert_eq!(count(&conn, "SELECT value FROM _sy_cells WHERE pk = 1 AND col = 'b'"), 5);
    assert_eq!(count(&conn, "SELECT count(*) FROM _sy_rows WHERE tbl = 't2' AND pk = 'k'"), 1);
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

/// A layout-2 database (no run ids in its registers, no received HLC) is
/// upgraded in place: its histories read as run 0 and sync goes on.
#[test]
fn a_layout_2_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path(), "a");
    drop(open_site(dir.path(), "a", &["b"]));
    let conn = app(&path);
    conn.execute("INSERT INTO t1(id, a, b) VALUES (1, 'one', 1)", []).unwrap();
    drop(open_site(dir.path(), "a", &["b"])); // stamps nothing; the change waits
    conn.execute_batch(
        "ALTER TABLE _sy_cells DROP COLUMN epoch;
         ALTER TABLE _sy_peers DROP COLUMN received_hlc;
         UPDATE _sy_meta SET value = 2 WHERE key = 'schema_version';
         INSERT INTO _sy_cells(tbl, pk, col, value, hlc, site, seen) VALUES ('t2', 7, 'x', 'old', 5, 'b', '{\"a\":3}');
         INSERT INTO _sy_rows(tbl, pk, alive, hlc, site) VALUES ('t2', 7, 1, 5, 'b');",
    )
    .unwrap();

    let mut a = open_site(dir.path(), "a", &["b"]);
    assert_eq!(count(&conn, "SELECT value FROM _sy_meta WHERE key = 'schema_version'"), SCHEMA_VERSION as i64);
    assert_eq!(count(&conn, "SELECT epoch FROM _sy_cells WHERE tbl = 't2' AND pk = 7"), 0, "written before runs");
    assert_eq!(count(&conn, "SELECT received_hlc FROM _sy_peers WHERE site = 'b'"), 0);
    let mut b = open_site(dir.path(), "b", &["a"]);
    deliver(&mut a, &mut b);
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1 WHERE a = 'one'"), 1);
    assert_eq!(count(&app(&db_path(dir.path(), "b")), "SELECT received_hlc <> 0 FROM _sy_peers WHERE site = 'a'"), 1);
}
