//! A site's SQLite database: what the web app reads and writes, and how the story breaks it.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// The table the web app writes and sync keeps in step between sites.
pub const ITEMS: &str = "items";

pub struct Database {
    pub path: PathBuf,
}

impl Database {
    /// Creates the database of site `site`, whose server is called `server` (the keyword of the
    /// database check page). `dbinfo` is local to the site, never synced: it names this server.
    pub fn create(dir: &Path, site: &str, server: &str) -> Result<Database, String> {
        let path = dir.join(format!("site-{site}.db"));
        let conn = Connection::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE dbinfo(id INTEGER PRIMARY KEY, server TEXT NOT NULL, site TEXT NOT NULL);
             INSERT INTO dbinfo(id, server, site) VALUES (1, '{server}', '{site}');
             CREATE TABLE {ITEMS}(id TEXT PRIMARY KEY, name TEXT NOT NULL, site TEXT NOT NULL, created_ms INTEGER NOT NULL);"
        ))
        .map_err(|e| format!("create {}: {e}", path.display()))?;
        Ok(Database { path })
    }

    /// Renames the table the database check reads: the page then answers with an error.
    pub fn break_it(&self) -> Result<(), String> {
        self.exec("ALTER TABLE dbinfo RENAME TO dbinfo_broken")
    }

    pub fn repair(&self) -> Result<(), String> {
        self.exec("ALTER TABLE dbinfo_broken RENAME TO dbinfo")
    }

    fn exec(&self, sql: &str) -> Result<(), String> {
        let conn = Connection::open(&self.path).map_err(|e| e.to_string())?;
        conn.busy_timeout(std::time::Duration::from_secs(2)).map_err(|e| e.to_string())?;
        conn.execute_batch(sql).map_err(|e| format!("{sql}: {e}"))
    }
}
