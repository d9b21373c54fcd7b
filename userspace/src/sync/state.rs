//! Full state transfer: after a peer (or this site) got a new incarnation,
//! the registers of every synced row are sent to it page by page, so whatever
//! either side lost comes back through the normal merge. Progress is kept in
//! `_sy_peers`, so a restart resumes where it stopped.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::Result;
use super::merge::row_change;
use super::outbound::{BatchLimits, origin};
use super::registry::Registry;
use super::sql::with_limit;
use super::stamp::stamp_pending;
use super::value::Value;
use super::wire::{StatePage, encoded_len};

/// Where a transfer stands: the table being sent and the last key sent of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub table: Option<String>,
    pub after: Option<Value>,
}

/// A page and the cursor it starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct StateStep {
    pub page: StatePage,
    pub from: Cursor,
    /// The cursor once the page is delivered.
    pub to: Cursor,
}

/// Whether a transfer of our state to `peer` is under way (read only).
pub fn transfer_due(conn: &Connection, peer: &str) -> Result<bool> {
    Ok(cursor(conn, peer)?.is_some())
}

fn cursor(conn: &Connection, peer: &str) -> Result<Option<Cursor>> {
    let row: Option<(bool, Option<String>, Option<Value>)> = conn
        .prepare_cached("SELECT state_due, state_table, state_after FROM _sy_peers WHERE site = ?1")?
        .query_row([peer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.filter(|(due, _, _)| *due).map(|(_, table, after)| Cursor { table, after }))
}

/// A page's keys start where the last page ended: two statements, because one
/// with "no lower bound or pk > ?" cannot seek there and walks the table from
/// its first key on every page. Rows with column registers only (no existence
/// register: never shipped) are not part of the state.
const FIRST_KEYS: &str = "SELECT pk FROM _sy_rows WHERE tbl = ?1 AND alive IS NOT NULL ORDER BY pk";
const KEYS_AFTER: &str = "SELECT pk FROM _sy_rows WHERE tbl = ?1 AND pk > ?2 AND alive IS NOT NULL ORDER BY pk";

fn keys_after(conn: &Connection, table: &str, after: Option<&Value>, limit: usize) -> Result<Vec<Value>> {
    let keys: rusqlite::Result<Vec<Value>> = match after {
        None => conn.prepare_cached(&with_limit(FIRST_KEYS, limit))?.query_map([table], |r| r.get(0))?.collect(),
        Some(after) => conn
            .prepare_cached(&with_limit(KEYS_AFTER, limit))?
            .query_map(params![table, after], |r| r.get(0))?
            .collect(),
    };
    Ok(keys?)
}

/// The next page of our state for `peer`, if a transfer is due. When every
/// table has been sent the transfer is marked done and `None` returned.
pub fn next_state_page(
    conn: &Connection,
    registry: &Registry,
    peer: &str,
    limits: BatchLimits,
) -> Result<Option<StateStep>> {
    let Some(from) = cursor(conn, peer)? else {
        return Ok(None);
    };
    // The registers sent must hold every local write committed so far: a
    // page older than a write the next batch carries is an old copy of it.
    stamp_pending(conn, registry)?;
    let tables: Vec<&String> = registry.tables.keys().collect();
    let start = from.table.as_ref().and_then(|t| tables.iter().position(|name| *name == t)).unwrap_or(0);
    for (i, table) in tables.iter().enumerate().skip(start) {
        let after = if i == start { from.after.as_ref() } else { None };
        let keys = keys_after(conn, table, after, limits.max_changes.max(1))?;
        if keys.is_empty() {
            continue;
        }
        let mut page =
            StatePage { origin: origin(conn, registry, peer)?, table: table.to_string(), changes: Vec::new() };
        let mut size = encoded_len(&page);
        let mut last = None;
        for pk in keys {
            let Some(change) = row_change(conn, table, &pk)? else { continue };
            let len = encoded_len(&change);
            if size + len > limits.max_bytes && !page.changes.is_empty() {
                break;
            }
            last = Some(pk);
            // A row too large for any page is left out; anti-entropy keeps reporting it.
            if size + len <= limits.max_bytes {
                size += len;
                page.changes.push(change);
            }
        }
        let to = Cursor { table: Some(table.to_string()), after: last };
        return Ok(Some(StateStep { page, from, to }));
    }
    conn.prepare_cached("UPDATE _sy_peers SET state_due = 0, state_table = NULL, state_after = NULL WHERE site = ?1")?
        .execute([peer])?;
    tracing::info!(peer, "full state sent");
    Ok(None)
}

/// Moves the transfer on after `step` was delivered, unless it was restarted meanwhile.
pub fn state_page_delivered(conn: &Connection, peer: &str, step: &StateStep) -> Result<()> {
    conn.prepare_cached(
        "UPDATE _sy_peers SET state_table = ?1, state_after = ?2
         WHERE site = ?3 AND state_due = 1 AND state_table IS ?4 AND state_after IS ?5",
    )?
    .execute(params![step.to.table, step.to.after, peer, step.from.table, step.from.after])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each page of a state transfer seeks to where the last one ended.
    #[test]
    fn a_page_seeks_to_its_first_key() {
        let plan = super::super::schema::query_plan(&with_limit(KEYS_AFTER, 2_000));
        assert!(plan.iter().any(|step| step.contains("(tbl=? AND pk>?)")), "{plan:?}");
    }
}
