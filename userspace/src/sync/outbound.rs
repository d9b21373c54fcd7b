//! Sending side: building the next batch for a peer and recording its reply.

use rusqlite::{Connection, OptionalExtension, params};

use super::batch::{Batch, ChangeKind, FORMAT, Origin, RowChange};
use super::conflicts::found_here_after;
use super::consolidate::{CapturedRef, RowTouch, consolidate};
use super::error::{Result, SyncError};
use super::hlc::{read_clock, tick, wall_now_ms, write_clock};
use super::incarnation::Incarnation;
use super::positions::{Seen, acked_seq, log_end, note_incarnation, peer_incarnation, renew_own};
use super::quarantine::{self, Direction, Entry};
use super::registers::load;
use super::registry::Registry;
use super::schema::incarnation;
use super::sql::with_limit;
use super::stamp::{StampedRows, stamp_oldest, stamped_upto};
use super::value::Value;
use super::wire::{Answer, Position, Reply, encoded_len};

/// How much one batch may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_changes: usize,
    pub max_bytes: usize,
}

/// Who we are, for a request to `peer`.
pub fn origin(conn: &Connection, registry: &Registry, peer: &str) -> Result<Origin> {
    Ok(Origin {
        format: FORMAT,
        site: registry.site_id.clone(),
        incarnation: incarnation(conn)?,
        peer_incarnation: peer_incarnation(conn, peer)?,
    })
}

/// Stamped changes after `after`, up to `upto` (the stamping mark: changes
/// past it may be newer than the stamping and not stamped yet), at most `limit`.
/// A change logged already stamped (`stamp::log_local_delete`) lies past the
/// mark until the next stamping moves the mark past it: to the last change that
/// stamping takes, all later than it, or to the log's end. That holds because
/// its callers stamp what is pending first; an unstamped change before it would
/// leave it out of a batch whose frontier promises its HLC was shipped.
fn read_range(conn: &Connection, after: i64, upto: i64, limit: usize) -> Result<Vec<(CapturedRef, i64)>> {
    let mut stmt = conn.prepare_cached(&with_limit(
        "SELECT seq, tbl, pk, kind, changed, hlc FROM _sy_changes WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        limit,
    ))?;
    let rows = stmt.query_map([after, upto], |r| {
        Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?, r.get(5)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, table, pk, kind, changed, hlc) = row?;
        // Stamping set aside whatever does not parse, so this is the database's own doing.
        let kind = ChangeKind::from_sql(&kind)
            .ok_or_else(|| SyncError::Corrupt(format!("change {seq} has unknown kind `{kind}`")))?;
        let changed =
            serde_json::from_str(&changed).map_err(|e| SyncError::Corrupt(format!("change {seq} columns: {e}")))?;
        out.push((CapturedRef { seq, table, pk, kind, changed }, hlc));
    }
    Ok(out)
}

/// What the writing half of building a batch leaves for the reading half.
#[derive(Default)]
pub struct Stamped {
    rows: StampedRows,
    /// Changes stamped so far.
    count: usize,
    /// Every change up to here is stamped.
    upto: i64,
    /// The clock as the batch's frontier.
    clock: i64,
}

impl Stamped {
    pub fn count(&self) -> usize {
        self.count
    }
}

/// One pass of the writing half of building a batch for `peer`: stamps up to
/// `limit` more changes and ticks the clock. Must run in a write transaction;
/// the rest (`assemble_batch`) only reads, so the application's writers wait
/// for the stamping only, and between passes not at all.
pub fn stamp_for_batch(
    conn: &Connection,
    registry: &Registry,
    peer: &str,
    limit: usize,
    stamped: &mut Stamped,
) -> Result<usize> {
    let count = stamp_oldest(conn, registry, Some(limit.max(1)), &mut stamped.rows)?;
    stamped.count += count;
    stamped.clock = tick(read_clock(conn)?, wall_now_ms());
    write_clock(conn, stamped.clock)?;
    conn.prepare_cached("UPDATE _sy_peers SET last_sent_ms = ?1 WHERE site = ?2")?
        .execute(params![wall_now_ms(), peer])?;
    stamped.upto = stamped_upto(conn)?;
    Ok(count)
}

/// The batch of stamped changes `peer` has not acknowledged (starting after
/// `after` when that is further: the batch following one still in flight),
/// oldest first, within `limits`; and the rows too large for any batch, for
/// `set_aside_oversize`. Only reads.
pub fn assemble_batch(
    conn: &Connection,
    registry: &Registry,
    peer: &str,
    after: i64,
    limits: BatchLimits,
    mut stamped: Stamped,
) -> Result<(Batch, Vec<Oversize>)> {
    let max_changes = limits.max_changes.max(1);
    let acked = acked_seq(conn, peer)?.max(after);
    let captured = read_range(conn, acked, stamped.upto, max_changes)?;
    let (conflicts, conflicts_upto) = found_here_after(conn, conflicts_sent(conn, peer)?, CONFLICTS_PER_BATCH)?;
    let mut batch = Batch {
        origin: origin(conn, registry, peer)?,
        from_seq: acked,
        to_seq: acked,
        to_hlc: 0,
        frontier_hlc: stamped.clock,
        changes: Vec::new(),
        conflicts,
        conflicts_upto,
    };
    let mut size = encoded_len(&batch);
    let mut cut_before = None;
    let mut oversize = Vec::new();
    let refs: Vec<CapturedRef> = captured.iter().map(|(c, _)| c.clone()).collect();
    for touch in consolidate(&refs) {
        let Some(change) = entry_for(conn, registry, touch, &mut stamped.rows)? else {
            continue;
        };
        let len = encoded_len(&change);
        if size + len > limits.max_bytes {
            if batch.changes.is_empty() && len + encoded_len(&batch) > limits.max_bytes {
                oversize.push(Oversize { table: change.table, pk: change.pk, len, max_bytes: limits.max_bytes });
                continue;
            }
            cut_before = Some(change_first_seq(&captured, &change));
            break;
        }
        size += len;
        batch.changes.push(change);
    }
    finish_range(&mut batch, &captured, cut_before, max_changes);
    if state_due(conn, peer)? {
        // Until our full state has reached the peer, older writes of ours may
        // still be on their way to it: no frontier to prune tombstones by.
        batch.frontier_hlc = 0;
    }
    Ok((batch, oversize))
}

/// Why `peer`'s acknowledgement of a position (and the change stamped there)
/// cannot be of this log, if it cannot. A change pruned here since (or the marker the upgrade
/// to layout 5 left), or an acknowledgement that names no HLC (from before they did), passes.
fn acknowledged_elsewhere(conn: &Connection, peer: &str, position: Position) -> Result<Option<String>> {
    let Position { seq: upto, hlc } = position;
    let end = log_end(conn)?;
    if upto > end {
        return Ok(Some(format!("`{peer}` acknowledged position {upto}, beyond this log's end {end}")));
    }
    if upto == 0 || hlc == 0 {
        return Ok(None);
    }
    let logged: Option<Option<i64>> = conn
        .prepare_cached("SELECT hlc FROM _sy_changes WHERE seq = ?1")?
        .query_row([upto], |r| r.get(0))
        .optional()?;
    Ok(match logged {
        // The upgrade's marker (stamped 0) passes like a pruned change: that change's HLC is gone.
        Some(ours) if ours != Some(hlc) && ours != Some(0) => Some(format!(
            "`{peer}` acknowledged position {upto} as a change stamped {hlc}; this log has another change there"
        )),
        _ => None,
    })
}

/// Conflict records shipped with one batch at most (each about a hundred bytes).
const CONFLICTS_PER_BATCH: usize = 1000;

fn conflicts_sent(conn: &Connection, peer: &str) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT conflicts_sent FROM _sy_peers WHERE site = ?1")?.query_row([peer], |r| r.get(0))?)
}

/// Records that `peer` took a batch's conflict records.
pub fn conflicts_delivered(conn: &Connection, peer: &str, upto: i64) -> Result<()> {
    conn.prepare_cached("UPDATE _sy_peers SET conflicts_sent = max(conflicts_sent, ?1) WHERE site = ?2")?
        .execute(params![upto, peer])?;
    Ok(())
}

fn state_due(conn: &Connection, peer: &str) -> Result<bool> {
    Ok(conn.prepare_cached("SELECT state_due FROM _sy_peers WHERE site = ?1")?.query_row([peer], |r| r.get(0))?)
}

fn change_first_seq(captured: &[(CapturedRef, i64)], change: &RowChange) -> i64 {
    captured.iter().find(|(c, _)| c.table == change.table && c.pk == change.pk).map_or(i64::MAX, |(c, _)| c.seq)
}

/// Sets the batch's range: everything read, or up to just before the first
/// change of the row that did not fit. A full batch promises a frontier only
/// up to its last change (older-stamped changes may be left behind).
fn finish_range(batch: &mut Batch, captured: &[(CapturedRef, i64)], cut_before: Option<i64>, max_changes: usize) {
    let included: Vec<&(CapturedRef, i64)> =
        captured.iter().take_while(|(c, _)| cut_before.is_none_or(|cut| c.seq < cut)).collect();
    if let Some((last, hlc)) = included.last() {
        batch.to_seq = last.seq;
        batch.to_hlc = *hlc;
        if cut_before.is_some() || captured.len() >= max_changes {
            batch.frontier_hlc = *hlc;
        }
    }
}

/// The batch entry for one touched row: its current registers (as stamping
/// just left them, or read).
fn entry_for(
    conn: &Connection,
    registry: &Registry,
    touch: RowTouch,
    stamped: &mut StampedRows,
) -> Result<Option<RowChange>> {
    // Tables no longer synchronised are skipped, not shipped.
    if registry.table(&touch.table).is_none() {
        return Ok(None);
    }
    let (row, cells) = match stamped.take(&touch.table, &touch.pk) {
        Some(registers) => registers,
        None => load(conn, &touch.table, &touch.pk)?,
    };
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(RowChange {
        cells,
        table: touch.table,
        pk: touch.pk,
        kind: touch.kind,
        changed: touch.changed.into_iter().collect(),
        row,
    }))
}

/// A row whose change alone is larger than a batch may be: set aside, so the rest can go.
pub struct Oversize {
    table: String,
    pk: Value,
    len: usize,
    max_bytes: usize,
}

pub fn set_aside_oversize(conn: &Connection, rows: &[Oversize]) -> Result<()> {
    for row in rows {
        let reason =
            format!("the row's change takes {} bytes, more than sync.max_batch_bytes ({})", row.len, row.max_bytes);
        let entry = Entry {
            direction: Direction::Outbound,
            peer: "",
            table: &row.table,
            pk: &row.pk,
            reason: &reason,
            change: None,
        };
        quarantine::set_aside(conn, &entry)?;
    }
    Ok(())
}

/// What a peer's reply changed in our view of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterReply {
    /// Positions moved on as usual.
    Steady,
    /// The peer or this site has a new incarnation: positions started over.
    Restarted,
}

/// Records a peer's reply to any request: a new incarnation of the peer, and
/// for a batch its acknowledgement. An acknowledgement of a change our log
/// does not hold (beyond its end, or another change at that position) means
/// our database went back in time (restored from a backup): we take a new
/// incarnation, so the peer stops taking our new writes for old ones.
pub fn record_reply(conn: &Connection, registry: &Registry, peer: &str, reply: &Reply) -> Result<AfterReply> {
    let own: Incarnation = incarnation(conn)?;
    let seen = note_incarnation(conn, registry, own, peer, reply.incarnation)?;
    let Answer::Ack { received, passed } = reply.answer else {
        return Ok(if seen == Seen::Renewed { AfterReply::Restarted } else { AfterReply::Steady });
    };
    for position in std::iter::once(received).chain(passed) {
        if let Some(reason) = acknowledged_elsewhere(conn, peer, position)? {
            renew_own(conn, &reason)?;
            return Ok(AfterReply::Restarted);
        }
    }
    let received_upto = received.seq;
    let update = if seen == Seen::Renewed {
        "UPDATE _sy_peers SET acked_seq = ?1, last_ack_ms = ?2 WHERE site = ?3"
    } else {
        "UPDATE _sy_peers SET acked_seq = max(acked_seq, ?1), last_ack_ms = ?2 WHERE site = ?3"
    };
    conn.prepare_cached(update)?.execute(params![received_upto, wall_now_ms(), peer])?;
    Ok(if seen == Seen::Renewed { AfterReply::Restarted } else { AfterReply::Steady })
}
