use switchyard::sync::{Replica, SyncError, TableConfig};

use super::support::app;

#[test]
fn table_without_primary_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    app(&path).execute_batch("CREATE TABLE loose(name TEXT, value TEXT);").unwrap();
    let err = Replica::open_path(&path, "a", &[TableConfig::new("loose")], &[]).err().unwrap();
    assert!(matches!(&err, SyncError::NoPrimaryKey(t) if t == "loose"));
    assert!(err.to_string().contains("`loose`"));
}

#[test]
fn composite_primary_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    app(&path).execute_batch("CREATE TABLE pair(x INTEGER, y INTEGER, v TEXT, PRIMARY KEY (x, y));").unwrap();
    let err = Replica::open_path(&path, "a", &[TableConfig::new("pair")], &[]).err().unwrap();
    assert!(matches!(&err, SyncError::CompositePrimaryKey { table, columns } if table == "pair" && columns == "x, y"));
}

#[test]
fn missing_table_and_self_peer_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let err = Replica::open_path(&path, "a", &[TableConfig::new("nope")], &[]).err().unwrap();
    assert!(matches!(err, SyncError::MissingTable(_)));
    let err = Replica::open_path(&path, "a", &[], &["a".to_string()]).err().unwrap();
    assert!(matches!(err, SyncError::Config(_)));
}

#[test]
fn database_stays_bound_to_its_site() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    drop(Replica::open_path(&path, "a", &[], &[]).unwrap());
    let err = Replica::open_path(&path, "b", &[], &[]).err().unwrap();
    assert!(matches!(&err, SyncError::WrongSite { database, configured } if database == "a" && configured == "b"));
    assert!(err.to_string().contains("copied from that site"), "{err}");
}
