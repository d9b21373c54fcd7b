//! Receiving side: checking who sent a request, then applying what it
//! carries atomically together with the new receive position.

use rusqlite::{Connection, OptionalExtension, params};

use super::batch::{Batch, FORMAT, Origin, RowChange, max_hlc};
use super::conflicts::store_found_elsewhere;
use super::error::{Result, SyncError};
use super::hlc::{read_clock, wall_now_ms, write_clock};
use super::merge::{MergeSource, merge_remote};
use super::positions::{note_incarnation, renew_own};
use super::quarantine::{self, Direction, Entry};
use super::registry::{Registry, TableSpec};
use super::repair::{answer_digests, answer_repair};
use super::savepoint::in_savepoint;
use super::schema::{incarnation, set_applying};
use super::stamp::stamp_pending;
use super::wire::{Answer, Position, Reply, Request, encode};

/// Limits on what this site takes from peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receiving {
    /// How far a peer's HLC may be ahead of our wall clock.
    pub max_clock_ahead_ms: u64,
}

/// Checks the sender, then applies or answers the request. Must run in a
/// write transaction, so a crash applies all of it or none.
pub fn handle(conn: &Connection, registry: &Registry, request: &Request, receiving: Receiving) -> Result<Reply> {
    let origin = request.origin();
    check_origin(registry, origin)?;
    note_incarnation(conn, registry, incarnation(conn)?, &origin.site, origin.incarnation)?;
    let answer = match request {
        Request::Batch(batch) => apply_batch(conn, registry, batch, receiving)?,
        Request::State(page) => {
            check_clock(&origin.site, max_hlc(&page.changes), receiving)?;
            apply_changes(conn, registry, &origin.site, &page.changes)?;
            record_receipt(conn, &origin.site, Position::START, 0)?;
            Answer::Ack { received: position_of(conn, &origin.site)?, passed: None }
        }
        Request::Digests(query) => Answer::Digests(answer_digests(conn, registry, query)?),
        Request::Repair(repair) => {
            check_clock(&origin.site, max_hlc(&repair.rows), receiving)?;
            Answer::Repair { rows: answer_repair(conn, registry, repair)? }
        }
    };
    Ok(Reply { incarnation: incarnation(conn)?, answer })
}

/// Checks everything about the sender that makes a request unusable.
pub fn check_origin(registry: &Registry, origin: &Origin) -> Result<()> {
    if origin.format != FORMAT {
        return Err(SyncError::OtherFormat { got: origin.format, supported: FORMAT });
    }
    if origin.site == registry.site_id || !registry.is_peer(&origin.site) {
        return Err(SyncError::UnknownSite(origin.site.clone()));
    }
    Ok(())
}

/// Refuses versions further ahead of our wall clock than allowed: they would
/// pin every later write here behind them.
pub fn check_clock(site: &str, hlc: i64, receiving: Receiving) -> Result<()> {
    let now_ms = wall_now_ms() as i64;
    let ahead_ms = (hlc >> super::hlc::LOGICAL_BITS) - now_ms;
    if ahead_ms > receiving.max_clock_ahead_ms as i64 {
        return Err(SyncError::ClockAhead {
            site: site.to_string(),
            hlc,
            ahead_ms,
            limit_ms: receiving.max_clock_ahead_ms,
        });
    }
    Ok(())
}

fn apply_batch(conn: &Connection, registry: &Registry, batch: &Batch, receiving: Receiving) -> Result<Answer> {
    if batch.from_seq < 0 || batch.to_seq < batch.from_seq {
        return Err(SyncError::Malformed(format!("bad range ({}, {}]", batch.from_seq, batch.to_seq)));
    }
    let sender = &batch.origin.site;
    store_found_elsewhere(conn, sender, &batch.conflicts)?;
    let held = position_of(conn, sender)?;
    let received = held.seq;
    // A frontier promises what the sender has sent to the incarnation it names;
    // sent to an earlier one of ours, it promises nothing about what we hold.
    let frontier = if batch.origin.peer_incarnation == Some(incarnation(conn)?) { batch.frontier_hlc } else { 0 };
    if batch.to_seq <= received {
        // Already applied (a resend after a lost ack) or an empty heartbeat:
        // only the sender's clock frontier can be news.
        check_clock(sender, batch.frontier_hlc, receiving)?;
        record_receipt(conn, sender, Position::START, frontier)?;
        return Ok(Answer::Ack { received: held, passed: None });
    }
    if batch.from_seq > received {
        // The sender holds an acknowledgement we no longer have: if it was
        // given by this very incarnation, our database went back in time.
        if batch.origin.peer_incarnation == Some(incarnation(conn)?) {
            let reason =
                format!("`{sender}` sent from position {}, beyond the {received} received here", batch.from_seq);
            renew_own(conn, &reason)?;
        }
        return Ok(Answer::Ack { received: held, passed: None });
    }
    check_clock(sender, batch.max_hlc(), receiving)?;
    apply_changes(conn, registry, sender, &batch.changes)?;
    let now_held = Position { seq: batch.to_seq, hlc: batch.to_hlc };
    record_receipt(conn, sender, now_held, frontier)?;
    // A batch that went past what we held: name that too, for the sender to check.
    Ok(Answer::Ack { received: now_held, passed: (batch.from_seq < received).then_some(held) })
}

/// What we hold of `sender`'s log: the position and the HLC of its change there.
fn position_of(conn: &Connection, sender: &str) -> Result<Position> {
    let held: Option<Position> = conn
        .prepare_cached("SELECT received_upto, received_hlc FROM _sy_peers WHERE site = ?1")?
        .query_row([sender], |r| Ok(Position { seq: r.get(0)?, hlc: r.get(1)? }))
        .optional()?;
    held.ok_or_else(|| SyncError::UnknownSite(sender.to_string()))
}

/// Merges a peer's row changes, each on its own: one that cannot be applied
/// here (a table or column this site does not have, a constraint it breaks)
/// is quarantined and the others go on.
pub fn apply_changes(conn: &Connection, registry: &Registry, via_site: &str, changes: &[RowChange]) -> Result<()> {
    // Local writes not yet stamped must get their versions before remote
    // versions are compared with them.
    stamp_pending(conn, registry)?;
    let any_quarantined = quarantine::count(conn)? > 0;
    // An error returns before the flag is lowered, but the caller then rolls
    // the whole transaction back, flag included.
    set_applying(conn, true)?;
    let source = MergeSource::new(conn, registry, via_site);
    // All at once when every change goes through (the usual case), one by one otherwise.
    let whole = in_savepoint(conn, || changes.iter().try_for_each(|c| merge_checked(conn, registry, &source, c)))?;
    if whole.is_err() {
        for change in changes {
            if let Err(reason) = in_savepoint(conn, || merge_checked(conn, registry, &source, change))? {
                set_aside(conn, via_site, change, &reason)?;
            } else if any_quarantined {
                quarantine::release(conn, Direction::Inbound, via_site, &change.table, &change.pk)?;
            }
        }
    } else if any_quarantined {
        for change in changes {
            quarantine::release(conn, Direction::Inbound, via_site, &change.table, &change.pk)?;
        }
    }
    set_applying(conn, false)?;
    let clock = read_clock(conn)?.max(max_hlc(changes));
    write_clock(conn, clock)
}

fn merge_checked<'a>(
    conn: &Connection,
    registry: &'a Registry,
    source: &MergeSource<'a>,
    change: &RowChange,
) -> Result<()> {
    let spec = registry.table(&change.table).ok_or_else(|| SyncError::UnknownTable(change.table.clone()))?;
    check_columns(spec, change)?;
    merge_remote(conn, spec, source, change)
}

fn check_columns(spec: &TableSpec, change: &RowChange) -> Result<()> {
    for column in change.cells.keys().chain(change.changed.iter()) {
        if !spec.shape.has_column(column) {
            return Err(SyncError::UnknownColumn { table: change.table.clone(), column: column.clone() });
        }
    }
    if change.pk.is_null() {
        return Err(SyncError::Unusable("the row's key is NULL".into()));
    }
    Ok(())
}

fn set_aside(conn: &Connection, via_site: &str, change: &RowChange, reason: &SyncError) -> Result<()> {
    let encoded = encode(change);
    let entry = Entry {
        direction: Direction::Inbound,
        peer: via_site,
        table: &change.table,
        pk: &change.pk,
        reason: &reason.to_string(),
        change: Some(&encoded),
    };
    quarantine::set_aside(conn, &entry)?;
    Ok(())
}

/// Tries quarantined peer changes again (the schema or the conflicting data
/// may have been fixed since); returns how many went through.
pub fn retry_quarantined(conn: &Connection, registry: &Registry) -> Result<usize> {
    let entries = quarantine::inbound_retries(conn)?;
    if entries.is_empty() {
        return Ok(0);
    }
    stamp_pending(conn, registry)?;
    set_applying(conn, true)?;
    let mut released = 0;
    for (peer, bytes) in entries {
        let Ok(change) = super::wire::decode::<RowChange>(&bytes) else {
            continue;
        };
        let source = MergeSource::new(conn, registry, &peer);
        match in_savepoint(conn, || merge_checked(conn, registry, &source, &change))? {
            Ok(()) => {
                quarantine::release(conn, Direction::Inbound, &peer, &change.table, &change.pk)?;
                released += 1;
            }
            Err(reason) => set_aside(conn, &peer, &change, &reason)?,
        }
    }
    set_applying(conn, false)?;
    Ok(released)
}

/// `upto` and `frontier_hlc` only ever grow; 0 leaves them.
/// Records what a batch or page brought: `received` moves the position (and
/// its HLC) forward; `Position::START` moves nothing.
fn record_receipt(conn: &Connection, peer: &str, received: Position, frontier_hlc: i64) -> Result<()> {
    // SET reads the columns' old values: the HLC moves with the position only.
    conn.prepare_cached(
        "UPDATE _sy_peers SET received_hlc = CASE WHEN ?1 > received_upto THEN ?2 ELSE received_hlc END,
                              received_upto = max(received_upto, ?1), frontier_hlc = max(frontier_hlc, ?3),
                              last_received_ms = ?4
         WHERE site = ?5",
    )?
    .execute(params![received.seq, received.hlc, frontier_hlc, wall_now_ms(), peer])?;
    Ok(())
}
