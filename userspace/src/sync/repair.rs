//! Anti-entropy: finding rows that differ between two sites whatever the cause
//! (a write with the triggers bypassed, a lost change, a bug) and repairing
//! them through the normal merge and conflict rules.
//!
//! The asker sends the digests of a table's ranges; the peer answers with its
//! rows (key and hash) in the ranges that differ. The asker narrows that to the
//! differing keys, leaving out rows on their way in either direction. Each side
//! first takes any difference between its table and its registers as a local
//! write (it was made without the triggers), then they exchange the registers
//! of those keys and merge them.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, params};

use super::batch::{ChangeKind, RowChange};
use super::capture::TableShape;
use super::digest::{RANGES, range_of, rows_in, table_digests};
use super::error::{Result, SyncError};
use super::hlc::wall_now_ms;
use super::inbound::apply_changes;
use super::merge::row_change;
use super::outbound::origin;
use super::positions::acked_seq;
use super::registers::load;
use super::registry::{Registry, TableSpec};
use super::sql::{ident, with_limit};
use super::stamp::stamp_pending;
use super::value::Value;
use super::wire::{DigestQuery, DigestReply, RepairRequest};

/// At most this many keys of rows on their way are listed in a digest reply.
const MAX_IN_FLIGHT: usize = 50_000;

fn spec<'a>(registry: &'a Registry, table: &str) -> Result<&'a TableSpec> {
    registry.table(table).ok_or_else(|| SyncError::UnknownTable(table.to_string()))
}

/// The asker's first step.
pub fn digest_query(conn: &Connection, registry: &Registry, peer: &str, table: &str) -> Result<DigestQuery> {
    let spec = spec(registry, table)?;
    Ok(DigestQuery {
        origin: origin(conn, registry, peer)?,
        table: table.to_string(),
        ranges: table_digests(conn, &spec.shape)?,
    })
}

/// The peer's answer to the digests.
pub fn answer_digests(conn: &Connection, registry: &Registry, query: &DigestQuery) -> Result<DigestReply> {
    let spec = spec(registry, &query.table)?;
    if query.ranges.len() != RANGES {
        return Err(SyncError::Malformed(format!("{} digest ranges, not {RANGES}", query.ranges.len())));
    }
    let mine = table_digests(conn, &spec.shape)?;
    let differing: BTreeSet<u8> = (0..RANGES).filter(|&i| mine[i] != query.ranges[i]).map(|i| i as u8).collect();
    if differing.is_empty() {
        return Ok(DigestReply { differing_ranges: Vec::new(), rows: Vec::new(), in_flight: Vec::new() });
    }
    Ok(DigestReply {
        rows: rows_in(conn, &spec.shape, &differing)?,
        in_flight: in_flight_to(conn, &query.table, &query.origin.site)?,
        differing_ranges: differing.into_iter().collect(),
    })
}

/// Keys of rows changed here that `peer` has not acknowledged yet.
fn in_flight_to(conn: &Connection, table: &str, peer: &str) -> Result<Vec<Value>> {
    let acked = acked_seq(conn, peer)?;
    let mut stmt = conn.prepare_cached(&with_limit(
        "SELECT DISTINCT pk FROM _sy_changes WHERE tbl = ?1 AND (seq > ?2 OR hlc IS NULL)",
        MAX_IN_FLIGHT,
    ))?;
    let keys = stmt.query_map(params![table, acked], |r| r.get(0))?;
    Ok(keys.collect::<rusqlite::Result<_>>()?)
}

/// The asker narrows the peer's answer to the keys that differ and are not on
/// their way; `None` when there are none. Takes untracked local writes first.
pub fn plan_repair(
    conn: &Connection,
    registry: &Registry,
    peer: &str,
    table: &str,
    reply: &DigestReply,
) -> Result<Option<RepairRequest>> {
    let spec = spec(registry, table)?;
    let ranges: BTreeSet<u8> = reply.differing_ranges.iter().copied().collect();
    let mine: BTreeMap<Value, [u8; 16]> =
        rows_in(conn, &spec.shape, &ranges)?.into_iter().map(|r| (r.pk, r.hash)).collect();
    let theirs: BTreeMap<Value, [u8; 16]> = reply.rows.iter().map(|r| (r.pk.clone(), r.hash)).collect();
    let mut moving: BTreeSet<Value> = reply.in_flight.iter().cloned().collect();
    moving.extend(in_flight_to(conn, table, peer)?);
    let keys: Vec<Value> = mine
        .keys()
        .chain(theirs.keys())
        .filter(|pk| ranges.contains(&range_of(pk)) && mine.get(*pk) != theirs.get(*pk) && !moving.contains(*pk))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return Ok(None);
    }
    capture_untracked(conn, registry, spec, &keys)?;
    Ok(Some(RepairRequest {
        origin: origin(conn, registry, peer)?,
        table: table.to_string(),
        rows: registers_of(conn, table, &keys)?,
        keys,
    }))
}

/// The peer's answer to a repair: it takes its own untracked writes, merges
/// the asker's rows and returns its registers for the same keys.
pub fn answer_repair(conn: &Connection, registry: &Registry, request: &RepairRequest) -> Result<Vec<RowChange>> {
    let spec = spec(registry, &request.table)?;
    capture_untracked(conn, registry, spec, &request.keys)?;
    apply_changes(conn, registry, &request.origin.site, &request.rows)?;
    record_repairs(conn, &request.origin.site, request.keys.len())?;
    registers_of(conn, &request.table, &request.keys)
}

fn registers_of(conn: &Connection, table: &str, keys: &[Value]) -> Result<Vec<RowChange>> {
    let mut rows = Vec::new();
    for pk in keys {
        rows.extend(row_change(conn, table, pk)?);
    }
    Ok(rows)
}

pub fn record_repairs(conn: &Connection, peer: &str, rows: usize) -> Result<()> {
    conn.prepare_cached("UPDATE _sy_peers SET repairs_total = repairs_total + ?1 WHERE site = ?2")?
        .execute(params![rows as i64, peer])?;
    Ok(())
}

/// Records the outcome of one anti-entropy check with `peer`.
pub fn record_check(conn: &Connection, peer: &str, divergent: usize, result: &str) -> Result<()> {
    conn.prepare_cached("UPDATE _sy_peers SET check_ms = ?1, check_divergent = ?2, check_result = ?3 WHERE site = ?4")?
        .execute(params![wall_now_ms(), divergent as i64, result, peer])?;
    Ok(())
}

/// Logs, as local writes, the differences between the table and its
/// registers for `keys`: writes made while the triggers were bypassed. They
/// are stamped at once and then ship and merge like any other write.
pub fn capture_untracked(conn: &Connection, registry: &Registry, spec: &TableSpec, keys: &[Value]) -> Result<usize> {
    let mut logged = 0;
    for pk in keys {
        if let Some((kind, changed)) = untracked_change(conn, spec, pk)? {
            conn.prepare_cached(
                "INSERT INTO _sy_changes(tbl, pk, kind, changed, wall_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![spec.shape.name, pk, kind.as_sql(), json_names(&changed), wall_now_ms()])?;
            logged += 1;
        }
    }
    if logged > 0 {
        stamp_pending(conn, registry)?;
        tracing::info!(table = %spec.shape.name, rows = logged, "took writes made without the capture triggers");
    }
    Ok(logged)
}

/// How the table's row differs from its registers, as a captured change.
fn untracked_change(conn: &Connection, spec: &TableSpec, pk: &Value) -> Result<Option<(ChangeKind, Vec<String>)>> {
    let shape = &spec.shape;
    let (row, cells) = load(conn, &shape.name, pk)?;
    let registered = spec.rule.is_alive(row.as_ref(), &cells);
    let registered_values: Vec<Value> =
        shape.columns.iter().map(|c| cells.get(c).map_or(Value::Null, |cell| cell.value.clone())).collect();
    let same = compare_with_table(conn, shape, pk, &registered_values)?;
    Ok(match (same, registered) {
        (None, true) => Some((ChangeKind::Delete, Vec::new())),
        (None, false) => None,
        (Some(_), false) => Some((ChangeKind::Insert, shape.columns.clone())),
        (Some(same), true) => {
            let changed: Vec<String> =
                shape.columns.iter().zip(same).filter(|(_, same)| !same).map(|(c, _)| c.clone()).collect();
            (!changed.is_empty()).then_some((ChangeKind::Update, changed))
        }
    })
}

/// Per column, whether the table holds `values` (compared the way SQLite
/// compares with the column, so its type affinity applies); `None` when the
/// row is not in the table.
fn compare_with_table(
    conn: &Connection,
    shape: &TableShape,
    pk: &Value,
    values: &[Value],
) -> Result<Option<Vec<bool>>> {
    let tests: Vec<String> =
        shape.columns.iter().enumerate().map(|(i, c)| format!("{} IS ?{}", ident(c), i + 2)).collect();
    let select = if tests.is_empty() { "1".to_string() } else { tests.join(", ") };
    let sql = format!("SELECT {select} FROM {} WHERE {} = ?1", ident(&shape.name), ident(&shape.pk));
    let mut stmt = conn.prepare_cached(&sql)?;
    let params = std::iter::once(pk).chain(values.iter());
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let same = (0..shape.columns.len()).map(|i| row.get::<_, bool>(i)).collect::<rusqlite::Result<_>>()?;
    Ok(Some(same))
}

fn json_names(names: &[String]) -> String {
    serde_json::to_string(names).expect("a list of names is JSON")
}
