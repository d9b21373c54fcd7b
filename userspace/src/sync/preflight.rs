//! What opening a sync database would refuse, found without opening it for writing: run
//! when a config is loaded, so that `check`, a start and a reload refuse a database that is
//! missing, of another site, or lacks a configured table, before anything else starts (and
//! while a daemon being replaced still runs on it).

use rusqlite::{Connection, OpenFlags};

use super::capture::inspect;
use super::config::SyncConfig;
use super::error::{Result, SyncError};
use super::replica::validate_setup;
use super::schema::check_installable;

/// Opens `config`'s database read-only (a missing file is not created) and checks that the
/// sync could be set up on it.
pub fn check_database(config: &SyncConfig) -> Result<()> {
    validate_setup(&config.site_id, &config.tables, &config.peer_ids())?;
    let path = &config.db_path;
    if !path.is_file() {
        return Err(SyncError::Config(format!("database {} does not exist", path.display())));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    check_installable(&conn, &config.site_id)?;
    for table in &config.tables {
        inspect(&conn, &table.name)?;
    }
    Ok(())
}
