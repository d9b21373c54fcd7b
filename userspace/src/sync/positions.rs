//! What this site knows of each peer: positions in each other's change logs,
//! the peer's incarnation, and whether our full state must be sent to it.
//!
//! Positions only mean something within one incarnation. When a peer shows up
//! with a new one (restored, recreated), both positions with it start over and
//! a full state exchange makes up for what either side lost. When our own
//! database turns out to be behind what a peer has acknowledged (it was
//! restored), we take a new incarnation ourselves.

use rusqlite::{Connection, OptionalExtension, params};

use super::error::{Result, SyncError};
use super::hlc::wall_now_ms;
use super::incarnation::Incarnation;
use super::registry::Registry;
use super::schema::store_incarnation;

/// How a peer's presented incarnation compares with what we knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// As before (or the first we hear of it).
    Known,
    /// A new incarnation: positions start over and a full state exchange is due.
    Renewed,
}

fn stored_incarnation(conn: &Connection, peer: &str) -> Result<Option<Incarnation>> {
    let text: Option<Option<String>> = conn
        .prepare_cached("SELECT incarnation FROM _sy_peers WHERE site = ?1")?
        .query_row([peer], |r| r.get(0))
        .optional()?;
    let text = text.ok_or_else(|| SyncError::UnknownSite(peer.to_string()))?;
    Ok(text.and_then(|t| Incarnation::parse(&t)))
}

pub fn peer_incarnation(conn: &Connection, peer: &str) -> Result<Option<Incarnation>> {
    stored_incarnation(conn, peer)
}

/// Checks the incarnation a peer presents and records a new one. Refuses one
/// that is ours or another peer's (a database copied to two sites) and one
/// the peer has left behind (a replay from before its restore).
pub fn note_incarnation(
    conn: &Connection,
    registry: &Registry,
    own: Incarnation,
    peer: &str,
    presented: Incarnation,
) -> Result<Seen> {
    let shared = |owner: &str| SyncError::SharedIncarnation {
        site: peer.to_string(),
        incarnation: presented.to_string(),
        owner: owner.to_string(),
    };
    if presented == own {
        return Err(shared(&format!("this site `{}`", registry.site_id)));
    }
    for other in registry.peers.iter().filter(|p| *p != peer) {
        if stored_incarnation(conn, other)? == Some(presented) {
            return Err(shared(&format!("site `{other}`")));
        }
    }
    let retired: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM _sy_retired WHERE site = ?1 AND incarnation = ?2)")?
        .query_row(params![peer, presented.to_string()], |r| r.get(0))?;
    if retired {
        return Err(SyncError::RetiredIncarnation { site: peer.to_string(), incarnation: presented.to_string() });
    }
    match stored_incarnation(conn, peer)? {
        Some(known) if known == presented => Ok(Seen::Known),
        None => {
            set_incarnation(conn, peer, presented)?;
            Ok(Seen::Known)
        }
        Some(old) => {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO _sy_retired(site, incarnation, retired_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![peer, old.to_string(), wall_now_ms()])?;
            set_incarnation(conn, peer, presented)?;
            conn.prepare_cached(
                "UPDATE _sy_peers SET received_upto = 0, received_hlc = 0, acked_seq = 0, conflicts_sent = 0, state_due = 1,
                                      state_table = NULL, state_after = NULL WHERE site = ?1",
            )?
            .execute([peer])?;
            tracing::warn!(
                peer,
                old = %old,
                new = %presented,
                "peer's database has a new incarnation (restored, copied or recreated); exchanging full state"
            );
            Ok(Seen::Renewed)
        }
    }
}

fn set_incarnation(conn: &Connection, peer: &str, incarnation: Incarnation) -> Result<()> {
    conn.prepare_cached("UPDATE _sy_peers SET incarnation = ?1 WHERE site = ?2")?
        .execute(params![incarnation.to_string(), peer])?;
    Ok(())
}

/// Takes a new incarnation for our own database (it went back in time): every
/// peer gets our log again from the start under it, and our full state; what
/// the peers' frontiers promised no longer holds here, so tombstones are not
/// pruned on their strength until they speak again.
pub fn renew_own(conn: &Connection, reason: &str) -> Result<Incarnation> {
    let incarnation = Incarnation::random();
    store_incarnation(conn, &incarnation)?;
    // The peers' frontiers promised what they had sent us; we no longer hold all of it.
    conn.execute(
        "UPDATE _sy_peers SET acked_seq = 0, frontier_hlc = 0, state_due = 1, state_table = NULL, state_after = NULL",
        [],
    )?;
    tracing::warn!(new = %incarnation, reason, "this database was restored or copied; it has a new incarnation");
    Ok(incarnation)
}

pub fn acked_seq(conn: &Connection, peer: &str) -> Result<i64> {
    let acked: Option<i64> = conn
        .prepare_cached("SELECT acked_seq FROM _sy_peers WHERE site = ?1")?
        .query_row([peer], |r| r.get(0))
        .optional()?;
    acked.ok_or_else(|| SyncError::UnknownSite(peer.to_string()))
}

/// The newest position of our change log. The newest change is never deleted, so this
/// is also the newest position ever given out.
pub fn log_end(conn: &Connection) -> Result<i64> {
    Ok(conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM _sy_changes")?.query_row([], |r| r.get(0))?)
}

/// The table name of a position marker: a change of no table (the prefix is reserved, so
/// no synced table has it), which ships as nothing.
pub const MARKER_TABLE: &str = "_sy_position";

/// Turns the change at `seq` into a marker that keeps its position and its HLC. SQLite gives
/// the next change the largest position + 1, so a change that must go (set aside, or pruned
/// while the newest) leaves a marker instead, and no peer's position is ever given to another
/// change. The HLC stays, so a peer's acknowledgement of the position is still checked
/// against it (a restored log has another change there).
pub fn leave_marker(conn: &Connection, seq: i64) -> Result<()> {
    conn.prepare_cached("UPDATE _sy_changes SET tbl = ?2, pk = NULL, kind = 'delete', changed = '[]' WHERE seq = ?1")?
        .execute(params![seq, MARKER_TABLE])?;
    Ok(())
}

/// Writes a marker at `seq`, a position given out by a log whose changes are gone with their
/// HLCs (the upgrade from layout 4): stamped 0, which an acknowledgement is not checked
/// against. A batch that ends on it names no HLC there, as batches from before HLCs were
/// named did; the peer's position moves past it with the next change.
pub fn keep_position(conn: &Connection, seq: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _sy_changes(seq, tbl, pk, kind, changed, wall_ms, hlc) VALUES (?1, ?2, NULL, 'delete', '[]', ?3, 0)",
    )?
    .execute(params![seq, MARKER_TABLE, wall_now_ms()])?;
    Ok(())
}
