use serde_json::json;
use switchyard::sync::{Batch, Replica, SyncError, open_batch, seal_batch};

use super::support::{KEY, app, count, db_path, dump, open_site};

/// A valid two-row batch from `a` for `b`, plus `b` itself.
fn setup(dir: &std::path::Path) -> (Batch, Replica) {
    let mut a = open_site(dir, "a", &["b"]);
    let b = open_site(dir, "b", &["a"]);
    let writer = app(&db_path(dir, "a"));
    writer.execute("INSERT INTO t1(id, a, b) VALUES (1, 'one', 1)", []).unwrap();
    writer.execute("INSERT INTO t2(id, x) VALUES (2, 'two')", []).unwrap();
    let batch = a.build_batch("b").unwrap();
    assert_eq!(batch.changes.len(), 2);
    (batch, b)
}

fn assert_nothing_applied(dir: &std::path::Path, b: &Replica) {
    let conn = app(&db_path(dir, "b"));
    assert!(dump(&conn).is_empty());
    assert_eq!(count(&conn, "SELECT count(*) FROM _sy_rows"), 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM _sy_cells"), 0);
    let status = b.status().unwrap();
    assert_eq!(status.peers[0].received_upto, 0);
    assert_eq!(status.conflicts_total, 0);
}

fn rejected(mutate: impl FnOnce(&mut Batch), check: impl FnOnce(&SyncError) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let (mut batch, mut b) = setup(dir.path());
    mutate(&mut batch);
    let err = b.apply_sealed(&seal_batch(&batch, KEY), KEY).unwrap_err();
    assert!(check(&err), "unexpected error {err}");
    assert_nothing_applied(dir.path(), &b);
}

#[test]
fn unknown_table_in_second_change_rejects_whole_batch() {
    rejected(|b| b.changes[1].table = "secrets".into(), |e| matches!(e, SyncError::UnknownTable(t) if t == "secrets"));
}

#[test]
fn unknown_column_is_rejected() {
    rejected(
        |b| {
            let cell = b.changes[1].cells.values().next().unwrap().clone();
            b.changes[1].cells.insert("evil".into(), cell);
        },
        |e| matches!(e, SyncError::UnknownColumn { column, .. } if column == "evil"),
    );
}

#[test]
fn unknown_site_is_rejected() {
    rejected(|b| b.sender = "mallory".into(), |e| matches!(e, SyncError::UnknownSite(s) if s == "mallory"));
}

#[test]
fn newer_schema_version_is_rejected() {
    rejected(|b| b.schema_version += 1, |e| matches!(e, SyncError::NewerSchema { .. }));
}

#[test]
fn gap_in_positions_is_rejected() {
    rejected(
        |b| {
            b.from_seq += 1;
            b.to_seq += 1;
        },
        |e| matches!(e, SyncError::Gap { .. }),
    );
}

#[test]
fn wrong_key_unsigned_and_tampered_batches_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (batch, mut b) = setup(dir.path());
    let err = b.apply_sealed(&seal_batch(&batch, b"another-key"), KEY).unwrap_err();
    assert!(matches!(err, SyncError::BadSignature));

    let unsigned = json!({ "payload": serde_json::to_string(&batch).unwrap(), "mac": "" });
    let err = b.apply_sealed(unsigned.to_string().as_bytes(), KEY).unwrap_err();
    assert!(matches!(err, SyncError::BadSignature));

    let bare = serde_json::to_vec(&batch).unwrap();
    assert!(matches!(b.apply_sealed(&bare, KEY).unwrap_err(), SyncError::Malformed(_)));

    let sealed = String::from_utf8(seal_batch(&batch, KEY)).unwrap();
    let tampered = sealed.replacen("one", "eno", 1);
    assert!(matches!(b.apply_sealed(tampered.as_bytes(), KEY).unwrap_err(), SyncError::BadSignature));
    assert_nothing_applied(dir.path(), &b);
}

#[test]
fn malformed_input_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (batch, mut b) = setup(dir.path());
    assert!(matches!(b.apply_sealed(b"{not json", KEY).unwrap_err(), SyncError::Malformed(_)));

    // Correctly signed, but the payload is not a batch.
    let mut fields = serde_json::to_value(&batch).unwrap();
    fields["changes"][0]["row"] = json!("not a row");
    let payload = fields.to_string();
    let signed = resign(&payload);
    assert!(matches!(b.apply_sealed(&signed, KEY).unwrap_err(), SyncError::Malformed(_)));

    let mut odd_key = batch.clone();
    odd_key.changes[0].pk = json!([1, 2]);
    let err = b.apply_sealed(&seal_batch(&odd_key, KEY), KEY).unwrap_err();
    assert!(matches!(err, SyncError::Malformed(_)));
    assert_nothing_applied(dir.path(), &b);
    assert_eq!(open_batch(&seal_batch(&batch, KEY), KEY).unwrap(), batch);
}

/// Signs arbitrary payload text the way `seal_batch` does.
fn resign(payload: &str) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(KEY).unwrap();
    mac.update(payload.as_bytes());
    let tag = hex::encode(mac.finalize().into_bytes());
    json!({ "payload": payload, "mac": tag }).to_string().into_bytes()
}

#[test]
fn duplicate_batch_has_no_effect() {
    let dir = tempfile::tempdir().unwrap();
    let (batch, mut b) = setup(dir.path());
    let sealed = seal_batch(&batch, KEY);
    let first = b.apply_sealed(&sealed, KEY).unwrap();
    let conn = app(&db_path(dir.path(), "b"));
    let before = dump(&conn);
    conn.execute("UPDATE t1 SET a = 'local' WHERE id = 1", []).unwrap();
    let again = b.apply_sealed(&sealed, KEY).unwrap();
    assert_eq!(first, again);
    let after = dump(&conn);
    assert_ne!(before, after);
    assert_eq!(count(&conn, "SELECT count(*) FROM t1 WHERE a = 'local'"), 1);
}
