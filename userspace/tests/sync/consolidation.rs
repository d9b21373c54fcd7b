use switchyard::sync::{ChangeKind, Value};

use super::support::{app, db_path, deliver, open_site};

#[test]
fn updates_to_different_columns_ship_as_one_entry_with_latest_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO t2(id, x, y, z) VALUES (1, 'x0', 'y0', 0)", []).unwrap();
    deliver(&mut a, &mut b);

    writer.execute("UPDATE t2 SET x = 'x1' WHERE id = 1", []).unwrap();
    writer.execute("UPDATE t2 SET z = 1 WHERE id = 1", []).unwrap();
    writer.execute("UPDATE t2 SET x = 'x2' WHERE id = 1", []).unwrap();
    let batch = a.build_batch("b").unwrap();
    assert_eq!(batch.changes.len(), 1);
    let change = &batch.changes[0];
    assert_eq!(change.kind, ChangeKind::Update);
    assert_eq!(change.changed, ["x", "z"]);
    assert_eq!(change.cells["x"].value, Value::from("x2"));
    assert_eq!(change.cells["z"].value, Value::Integer(1));
    assert_eq!(change.cells["y"].value, Value::from("y0"));
    assert_eq!(batch.to_seq - batch.from_seq, 3);
}

#[test]
fn insert_then_delete_ships_only_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO t1(id, a, b) VALUES (9, 'gone', 1)", []).unwrap();
    writer.execute("UPDATE t1 SET a = 'soon' WHERE id = 9", []).unwrap();
    writer.execute("DELETE FROM t1 WHERE id = 9", []).unwrap();
    let batch = a.build_batch("b").unwrap();
    assert_eq!(batch.changes.len(), 1);
    assert_eq!(batch.changes[0].kind, ChangeKind::Delete);
    assert!(!batch.changes[0].row.alive);

    let mut b = open_site(dir.path(), "b", &["a"]);
    let reply = b.apply(&batch).unwrap();
    a.record_reply("b", &reply).unwrap();
    assert_eq!(super::support::count(&app(&db_path(dir.path(), "b")), "SELECT count(*) FROM t1"), 0);
}

#[test]
fn delete_then_insert_ships_the_new_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let mut b = open_site(dir.path(), "b", &["a"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute("INSERT INTO t1(id, a, b) VALUES (3, 'old', 1)", []).unwrap();
    deliver(&mut a, &mut b);
    writer.execute("DELETE FROM t1 WHERE id = 3", []).unwrap();
    writer.execute("INSERT INTO t1(id, a, b) VALUES (3, 'new', 2)", []).unwrap();
    let batch = a.build_batch("b").unwrap();
    assert_eq!(batch.changes.len(), 1);
    let change = &batch.changes[0];
    assert_eq!(change.kind, ChangeKind::Insert);
    assert!(change.row.alive);
    assert_eq!(change.cells["a"].value, Value::from("new"));
    b.apply(&batch).unwrap();
    let row: (String, i64) = app(&db_path(dir.path(), "b"))
        .query_row("SELECT a, b FROM t1 WHERE id = 3", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(row, ("new".to_string(), 2));
}
