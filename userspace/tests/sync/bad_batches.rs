//! Batches a site must refuse whole, and changes it must set aside alone.
//! (Signatures and size limits are checked at the HTTP endpoint: `http.rs`.)

use switchyard::sync::{
    Answer, Batch, FORMAT, Position, Replica, Request, SyncError, Value, decode, decode_request, encode,
};

use super::support::{app, count, db_path, dump, open_site};

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
    assert_eq!(count(&conn, "SELECT count(*) FROM _sy_rows"), 0, "no registers");
    let status = b.status().unwrap();
    assert_eq!(status.peers[0].received_upto, 0);
    assert_eq!(status.conflicts_total, 0);
}

fn rejected(mutate: impl FnOnce(&mut Batch), check: impl FnOnce(&SyncError) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let (mut batch, mut b) = setup(dir.path());
    mutate(&mut batch);
    let err = b.apply(&batch).unwrap_err();
    assert!(check(&err), "unexpected error {err}");
    assert_nothing_applied(dir.path(), &b);
}

#[test]
fn unknown_site_is_rejected() {
    rejected(|b| b.origin.site = "mallory".into(), |e| matches!(e, SyncError::UnknownSite(s) if s == "mallory"));
}

#[test]
fn another_format_is_rejected() {
    rejected(|b| b.origin.format += 1, |e| matches!(e, SyncError::OtherFormat { .. }));
    rejected(|b| b.origin.format -= 1, |e| matches!(e, SyncError::OtherFormat { .. }));
}

/// A request from a release speaking the previous format does not decode as
/// this one; it is refused naming the formats, not as noise.
#[test]
fn a_request_in_an_older_layout_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (mut batch, _) = setup(dir.path());
    batch.origin.format = FORMAT - 1;
    let mut bytes = encode(&Request::Batch(batch));
    bytes.truncate(bytes.len() - 3); // the older layout lacks fields this one has
    let err = decode_request(&bytes).unwrap_err();
    assert!(matches!(err, SyncError::OtherFormat { got, supported: FORMAT } if got == FORMAT - 1), "{err}");
    assert!(err.to_string().contains("same format"), "{err}");
    assert!(matches!(decode_request(b"\xff\xff\xff not a request"), Err(SyncError::Malformed(_))));
}

#[test]
fn a_bad_range_is_rejected() {
    rejected(|b| b.to_seq = b.from_seq - 1, |e| matches!(e, SyncError::Malformed(_)));
}

#[test]
fn a_gap_in_positions_applies_nothing_and_answers_the_position_held() {
    let dir = tempfile::tempdir().unwrap();
    let (mut batch, mut b) = setup(dir.path());
    batch.from_seq += 1;
    batch.to_seq += 1;
    let reply = b.apply(&batch).unwrap();
    assert_eq!(reply.answer, Answer::Ack { received: Position::START, passed: None });
    assert_nothing_applied(dir.path(), &b);
}

#[test]
fn undecodable_bytes_are_malformed() {
    assert!(matches!(decode::<Request>(b"\xff\xff\xff not a request"), Err(SyncError::Malformed(_))));
    let dir = tempfile::tempdir().unwrap();
    let (batch, _) = setup(dir.path());
    let mut bytes = encode(&Request::Batch(batch));
    bytes.truncate(bytes.len() / 2);
    assert!(matches!(decode::<Request>(&bytes), Err(SyncError::Malformed(_))));
}

/// One change this site cannot take is quarantined; the other applies, the
/// position moves on, and the quarantine says why.
fn quarantined(mutate: impl FnOnce(&mut Batch), reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut batch, mut b) = setup(dir.path());
    mutate(&mut batch);
    let (to_seq, to_hlc) = (batch.to_seq, batch.to_hlc);
    let reply = b.apply(&batch).unwrap();
    assert_eq!(reply.answer, Answer::Ack { received: Position { seq: to_seq, hlc: to_hlc }, passed: None });
    let conn = app(&db_path(dir.path(), "b"));
    assert_eq!(count(&conn, "SELECT count(*) FROM t1 WHERE a = 'one'"), 1, "the other change applied");
    let status = b.status().unwrap();
    assert_eq!((status.quarantined_now, status.quarantined_total), (1, 1));
    let entry = &status.quarantine[0];
    assert!(entry.reason.contains(reason), "{entry:?}");
    assert_eq!((entry.peer.as_str(), entry.key.as_str()), ("a", "2"));
}

#[test]
fn unknown_table_in_one_change_is_quarantined_alone() {
    quarantined(|b| b.changes[1].table = "secrets".into(), "`secrets` which is not synchronised here");
}

#[test]
fn unknown_column_in_one_change_is_quarantined_alone() {
    quarantined(
        |b| {
            let cell = b.changes[1].cells.values().next().unwrap().clone();
            b.changes[1].cells.insert("evil".into(), cell);
        },
        "column `evil`",
    );
}

#[test]
fn a_change_breaking_a_local_constraint_is_quarantined_and_retried_later() {
    let dir = tempfile::tempdir().unwrap();
    let (batch, mut b) = setup(dir.path());
    let conn = app(&db_path(dir.path(), "b"));
    // Only b refuses t2.x = 'two' (a trigger standing in for any local constraint).
    conn.execute_batch(
        "CREATE TRIGGER picky BEFORE INSERT ON t2 WHEN NEW.x = 'two' BEGIN SELECT RAISE(ABORT, 'no twos here'); END;",
    )
    .unwrap();
    b.apply(&batch).unwrap();
    assert_eq!(count(&conn, "SELECT count(*) FROM t1"), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM t2"), 0);
    let status = b.status().unwrap();
    assert!(status.quarantine[0].reason.contains("no twos here"), "{:?}", status.quarantine);

    assert_eq!(b.retry_quarantined().unwrap(), 0, "still refused");
    assert_eq!(b.status().unwrap().quarantine[0].attempts, 2);
    conn.execute_batch("DROP TRIGGER picky").unwrap();
    assert_eq!(b.retry_quarantined().unwrap(), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM t2 WHERE x = 'two'"), 1);
    let status = b.status().unwrap();
    assert_eq!((status.quarantined_now, status.quarantined_total), (0, 1));
}

#[test]
fn duplicate_batch_has_no_effect() {
    let dir = tempfile::tempdir().unwrap();
    let (batch, mut b) = setup(dir.path());
    let first = b.apply(&batch).unwrap();
    let conn = app(&db_path(dir.path(), "b"));
    let before = dump(&conn);
    conn.execute("UPDATE t1 SET a = 'local' WHERE id = 1", []).unwrap();
    let again = b.apply(&batch).unwrap();
    assert_eq!(first.answer, again.answer);
    let after = dump(&conn);
    assert_ne!(before, after);
    assert_eq!(count(&conn, "SELECT count(*) FROM t1 WHERE a = 'local'"), 1);
    assert_eq!(Value::from("local"), conn.query_row("SELECT a FROM t1 WHERE id = 1", [], |r| r.get(0)).unwrap());
}
