use switchyard::sync::{Replica, SyncConfig, SyncError, TableConfig, check_database};

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

/// The check a config load makes: what opening would refuse, found without writing, and
/// also while another connection has the database open in WAL mode.
#[test]
fn a_database_that_cannot_be_synced_is_refused_before_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let config = |site: &str, tables: &[&str]| {
        tables.iter().fold(SyncConfig::new(site, path.clone(), b"key".to_vec()), |c, t| c.table(TableConfig::new(*t)))
    };
    let err = check_database(&config("a", &["t1"])).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!path.exists(), "a missing database is not created");

    let writer = app(&path);
    writer.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t1(id INTEGER PRIMARY KEY, a TEXT);").unwrap();
    check_database(&config("a", &["t1"])).unwrap();
    assert!(matches!(check_database(&config("a", &["t1", "t9"])), Err(SyncError::MissingTable(t)) if t == "t9"));

    drop(Replica::open_path(&path, "a", &[TableConfig::new("t1")], &[]).unwrap());
    check_database(&config("a", &["t1"])).unwrap();
    let err = check_database(&config("b", &["t1"])).unwrap_err();
    assert!(matches!(&err, SyncError::WrongSite { database, .. } if database == "a"), "{err}");
    drop(writer);
    check_database(&config("a", &["t1"])).unwrap();
}
