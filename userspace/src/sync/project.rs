//! Writes a row's merged registers back into the user's table.

use std::collections::BTreeMap;

use rusqlite::{Connection, params_from_iter};

use super::capture::TableShape;
use super::error::Result;
use super::held::Held;
use super::registers::Cell;
use super::schema::set_applying;
use super::sql::ident;
use super::value::Value;

/// Makes the user's row match the registers. Runs with the applying flag
/// raised so the capture triggers do not log it again.
pub fn project_row(
    conn: &Connection,
    shape: &TableShape,
    pk: &Value,
    alive: bool,
    cells: &BTreeMap<String, Cell>,
) -> Result<()> {
    quietly(conn, || project_row_quietly(&mut Held::new(conn), shape, pk, alive, cells))
}

/// Writes only `columns` of an existing row back from the registers: a local
/// write that lost is undone without touching the row's other columns, which
/// may hold later writes not yet stamped.
pub fn revert_columns(
    conn: &Connection,
    shape: &TableShape,
    pk: &Value,
    columns: &[&str],
    cells: &BTreeMap<String, Cell>,
) -> Result<()> {
    if columns.is_empty() {
        return Ok(());
    }
    let sets: Vec<String> = columns.iter().enumerate().map(|(i, c)| format!("{} = ?{}", ident(c), i + 2)).collect();
    let sql = format!("UPDATE {} SET {} WHERE {} = ?1", ident(&shape.name), sets.join(", "), ident(&shape.pk));
    let values = std::iter::once(pk.clone())
        .chain(columns.iter().map(|c| cells.get(*c).map_or(Value::Null, |cell| cell.value.clone())));
    quietly(conn, || {
        conn.prepare_cached(&sql)?.execute(params_from_iter(values))?;
        Ok(())
    })
}

fn quietly(conn: &Connection, work: impl FnOnce() -> Result<()>) -> Result<()> {
    set_applying(conn, true)?;
    let outcome = work();
    set_applying(conn, false)?;
    outcome
}

/// `project_row` for a caller that already raised the applying flag
/// (a whole batch raises it once instead of twice per row).
pub fn project_row_quietly<'a>(
    held: &mut Held<'a>,
    shape: &'a TableShape,
    pk: &Value,
    alive: bool,
    cells: &BTreeMap<String, Cell>,
) -> Result<()> {
    if alive {
        let values = std::iter::once(pk)
            .chain(shape.columns.iter().map(|c| cells.get(c).map_or(&Value::Null, |cell| &cell.value)));
        held.get(&shape.sql.upsert)?.execute(params_from_iter(values))?;
    } else {
        held.get(&shape.sql.delete)?.execute([pk])?;
    }
    Ok(())
}
