//! Change capture: SQLite triggers that log every write to a synced table.
//!
//! The triggers use only built-in SQL (`json_object`, `julianday`), so writes
//! from any program on the database file are captured, not just ours.

use rusqlite::Connection;

use super::batch::ChangeKind;
use super::error::{Result, SyncError};
use super::row_sql::RowSql;
use super::sql::{ident, literal};

/// Column layout of one synced table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub name: String,
    pub pk: String,
    /// Non-key columns in declaration order.
    pub columns: Vec<String>,
    /// Reading and writing one row, by key.
    pub sql: RowSql,
}

impl TableShape {
    pub fn new(name: &str, pk: &str, columns: Vec<String>) -> TableShape {
        let sql = RowSql::new(name, pk, &columns);
        TableShape { name: name.to_string(), pk: pk.to_string(), columns, sql }
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }
}

/// Reads the table's columns and refuses tables without a single-column primary key.
pub fn inspect(conn: &Connection, table: &str) -> Result<TableShape> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({})", ident(table)))?;
    let rows: Vec<(String, i64)> =
        stmt.query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))?.collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Err(SyncError::MissingTable(table.to_string()));
    }
    let mut keys: Vec<&(String, i64)> = rows.iter().filter(|(_, pk)| *pk > 0).collect();
    keys.sort_by_key(|(_, pk)| *pk);
    match keys.len() {
        0 => Err(SyncError::NoPrimaryKey(table.to_string())),
        1 => Ok(TableShape::new(
            table,
            &keys[0].0,
            rows.iter().filter(|(_, pk)| *pk == 0).map(|(n, _)| n.clone()).collect(),
        )),
        _ => Err(SyncError::CompositePrimaryKey {
            table: table.to_string(),
            columns: keys.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Wall clock in milliseconds; `julianday` works on every SQLite version.
const WALL_MS: &str = "((julianday('now') - 2440587.5) * 86400000.0)";
const QUIET: &str = "(SELECT active FROM _sy_applying WHERE id = 1) = 0";
const CHANGE_COLUMNS: &str = "_sy_changes(tbl, pk, kind, changed, wall_ms)";

fn trigger_name(table: &str, kind: ChangeKind) -> String {
    ident(&format!("_sy_{table}_{}", kind.as_sql()))
}

/// The JSON array of every non-key column, as a constant: built once here rather than by
/// `json_array()` at each captured insert.
fn all_columns_json(shape: &TableShape) -> String {
    literal(&serde_json::to_string(&shape.columns).expect("a list of names is JSON"))
}

/// JSON array of the non-key columns whose value differs between OLD and NEW.
fn changed_columns_json(shape: &TableShape) -> String {
    if shape.columns.is_empty() {
        return "json_array()".to_string();
    }
    let parts: Vec<String> = shape
        .columns
        .iter()
        .map(|c| format!("SELECT {} AS c WHERE OLD.{col} IS NOT NEW.{col}", literal(c), col = ident(c)))
        .collect();
    format!("(SELECT json_group_array(c) FROM ({}))", parts.join(" UNION ALL "))
}

/// (Re)creates the three capture triggers, so column changes are picked up at startup.
/// They log which row changed and which columns, never the values: those are
/// read from the table when the change is stamped, so any value SQLite can
/// hold (BLOBs, TEXT that is not UTF-8) is carried exactly.
pub fn install_triggers(conn: &Connection, shape: &TableShape) -> Result<()> {
    let table = ident(&shape.name);
    let name = literal(&shape.name);
    let pk = ident(&shape.pk);
    let any_changed = std::iter::once(&shape.pk)
        .chain(shape.columns.iter())
        .map(|c| format!("OLD.{col} IS NOT NEW.{col}", col = ident(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let sql = format!(
        r#"
DROP TRIGGER IF EXISTS {ins};
DROP TRIGGER IF EXISTS {upd};
DROP TRIGGER IF EXISTS {del};
CREATE TRIGGER {ins} AFTER INSERT ON {table} WHEN {QUIET}
BEGIN
    INSERT INTO {CHANGE_COLUMNS} VALUES ({name}, NEW.{pk}, {insert}, {all_cols}, {WALL_MS});
END;
CREATE TRIGGER {upd} AFTER UPDATE ON {table} WHEN {QUIET} AND ({any_changed})
BEGIN
    -- A changed key is a delete of the old row plus an insert of the new one.
    INSERT INTO {CHANGE_COLUMNS}
    SELECT {name}, OLD.{pk}, {delete}, json_array(), {WALL_MS} WHERE OLD.{pk} IS NOT NEW.{pk};
    INSERT INTO {CHANGE_COLUMNS}
    VALUES ({name}, NEW.{pk},
            CASE WHEN OLD.{pk} IS NEW.{pk} THEN {update} ELSE {insert} END,
            CASE WHEN OLD.{pk} IS NEW.{pk} THEN {changed} ELSE {all_cols} END,
            {WALL_MS});
END;
CREATE TRIGGER {del} AFTER DELETE ON {table} WHEN {QUIET}
BEGIN
    INSERT INTO {CHANGE_COLUMNS} VALUES ({name}, OLD.{pk}, {delete}, json_array(), {WALL_MS});
END;
"#,
        ins = trigger_name(&shape.name, ChangeKind::Insert),
        upd = trigger_name(&shape.name, ChangeKind::Update),
        del = trigger_name(&shape.name, ChangeKind::Delete),
        all_cols = all_columns_json(shape),
        changed = changed_columns_json(shape),
        insert = literal(ChangeKind::Insert.as_sql()),
        update = literal(ChangeKind::Update.as_sql()),
        delete = literal(ChangeKind::Delete.as_sql()),
    );
    conn.execute_batch(&sql)?;
    Ok(())
}

/// Logs rows that exist but have no existence register (data from before sync
/// was set up, or written with the triggers bypassed) as inserts, so they
/// replicate like any other write.
pub fn backfill(conn: &Connection, shape: &TableShape) -> Result<usize> {
    let sql = format!(
        "INSERT INTO {CHANGE_COLUMNS}
         SELECT {name}, t.{pk}, {insert}, {all_cols}, {WALL_MS}
         FROM {table} AS t
         WHERE NOT EXISTS (SELECT 1 FROM _sy_rows r WHERE r.tbl = {name} AND r.pk = t.{pk} AND r.alive IS NOT NULL)
           AND NOT EXISTS (SELECT 1 FROM _sy_changes c WHERE c.hlc IS NULL AND c.tbl = {name} AND c.pk = t.{pk})",
        name = literal(&shape.name),
        pk = ident(&shape.pk),
        table = ident(&shape.name),
        all_cols = all_columns_json(shape),
        insert = literal(ChangeKind::Insert.as_sql()),
    );
    Ok(conn.execute(&sql, [])?)
}
