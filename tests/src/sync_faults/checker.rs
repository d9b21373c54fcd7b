//! The verdict after a fault run: every site holds the same rows, no
//! acknowledged write is lost, and every discarded write was either seen by
//! the write that replaced it or is in a conflict log, decided by the rule.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;
use serde::Serialize;
use switchyard::sync::Value;

use super::writers::Ack;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub sites_identical: bool,
    pub acknowledged_writes: usize,
    pub lost_writes: Vec<String>,
    pub discarded_writes: usize,
    pub discarded_unexplained: Vec<String>,
    pub conflicts_logged: usize,
    pub conflicts_against_rule: Vec<String>,
    pub quarantined: usize,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.sites_identical
            && self.lost_writes.is_empty()
            && self.discarded_unexplained.is_empty()
            && self.conflicts_against_rule.is_empty()
            && self.quarantined == 0
    }
}

pub type Rows = BTreeMap<i64, Value>;

pub fn rows(conn: &Connection, table: &str) -> Rows {
    let mut stmt = conn.prepare(&format!("SELECT id, v FROM {table} ORDER BY id")).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Loser values per (row, column) and rule violations, from one site's conflict log.
fn conflicts(conn: &Connection, losers: &mut BTreeSet<(i64, Value)>, verdict: &mut Verdict) {
    let mut stmt = conn
        .prepare(
            "SELECT pk, col, loser_value, winner_hlc, winner_site, loser_hlc, loser_site FROM _sy_conflicts
             WHERE tbl = 'shared'",
        )
        .unwrap();
    let entries = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Value>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .unwrap();
    for entry in entries {
        let (pk, col, loser_value, winner_hlc, winner_site, loser_hlc, loser_site) = entry.unwrap();
        verdict.conflicts_logged += 1;
        // last_writer_wins: the later (HLC, site) wins.
        if (winner_hlc, &winner_site) <= (loser_hlc, &loser_site) {
            verdict
                .conflicts_against_rule
                .push(format!("row {pk}: {winner_site}@{winner_hlc} over {loser_site}@{loser_hlc}"));
        }
        if col == "v" {
            losers.insert((pk, loser_value));
        }
    }
}

/// A row's existence register and its column's version, for reports.
fn row_register(conn: &Connection, id: i64) -> String {
    let row: Option<(bool, i64, String)> = conn
        .query_row("SELECT alive, hlc, site FROM _sy_rows WHERE tbl = 'ledger' AND pk = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .ok();
    let cell: Option<(i64, String)> = conn
        .query_row("SELECT hlc, site FROM _sy_cells WHERE tbl = 'ledger' AND pk = ?1 AND col = 'v'", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .ok();
    let conflicts: Vec<String> = conn
        .prepare("SELECT via_site, winner_hlc, winner_site, loser_hlc, loser_site, found_at FROM _sy_conflicts WHERE tbl = 'ledger' AND pk = ?1")
        .unwrap()
        .query_map([id], |r| {
            Ok(format!(
                "via {} winner {}@{} loser {}@{} found at {:?}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(5)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    format!("row {row:?} cell {cell:?} conflicts {conflicts:?}")
}

/// A shared row's column register at one site: value, version and history.
fn shared_register(conn: &Connection, id: i64) -> String {
    let cell: Option<(Value, i64, String, String)> = conn
        .query_row(
            "SELECT value, hlc, site, seen FROM _sy_cells WHERE tbl = 'shared' AND pk = ?1 AND col = 'v'",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .ok();
    match cell {
        Some((value, hlc, site, seen)) => format!("{value} {site}@{hlc} seen {seen}"),
        None => "no register".into(),
    }
}

/// Judges the sites' databases against the writers' logs.
pub fn judge(sites: &[Connection], acks: &[Ack]) -> Verdict {
    let mut verdict = Verdict { acknowledged_writes: acks.len(), ..Verdict::default() };
    let dumps: Vec<(Rows, Rows)> = sites.iter().map(|c| (rows(c, "ledger"), rows(c, "shared"))).collect();
    verdict.sites_identical = dumps.windows(2).all(|w| w[0] == w[1]);
    let (ledger, shared) = &dumps[0];

    let mut expected: BTreeMap<i64, Option<Value>> = BTreeMap::new();
    for ack in acks {
        if let Ack::Ledger { id, value } = ack {
            expected.insert(*id, value.clone());
        }
    }
    for (id, value) in &expected {
        if ledger.get(id) != value.as_ref() {
            let registers: Vec<String> = sites.iter().map(|c| row_register(c, *id)).collect();
            verdict.lost_writes.push(format!(
                "ledger {id}: expected {}, found {} (row registers by site: {})",
                value.as_ref().map_or("no row".into(), |v| v.to_string()),
                ledger.get(id).map_or("no row".into(), |v| v.to_string()),
                registers.join("; ")
            ));
        }
    }

    let mut losers = BTreeSet::new();
    for conn in sites {
        conflicts(conn, &mut losers, &mut verdict);
        verdict.quarantined +=
            conn.query_row("SELECT count(*) FROM _sy_quarantine", [], |r| r.get::<_, usize>(0)).unwrap();
    }
    let seen: BTreeSet<(i64, Value)> = acks
        .iter()
        .filter_map(|a| match a {
            Ack::Shared { id, overwrote: Some(old), .. } => Some((*id, old.clone())),
            _ => None,
        })
        .collect();
    for ack in acks {
        let Ack::Shared { id, value, .. } = ack else { continue };
        if shared.get(id) == Some(value) {
            continue;
        }
        verdict.discarded_writes += 1;
        let key = (*id, value.clone());
        if !seen.contains(&key) && !losers.contains(&key) {
            let logged: Vec<String> = losers.iter().filter(|(pk, _)| pk == id).map(|(_, v)| v.to_string()).collect();
            let position = acks.iter().position(|a| a == ack).unwrap_or(0);
            let overwrote = match ack {
                Ack::Shared { overwrote, .. } => overwrote.as_ref().map_or("nothing".into(), |v| v.to_string()),
                _ => String::new(),
            };
            let registers: Vec<String> = sites.iter().map(|c| shared_register(c, *id)).collect();
            let later: Vec<String> = acks[position + 1..]
                .iter()
                .filter_map(|a| match a {
                    Ack::Shared { id: other, value, overwrote } if other == id => {
                        Some(format!("{value} over {}", overwrote.as_ref().map_or("nothing".into(), |v| v.to_string())))
                    }
                    _ => None,
                })
                .take(4)
                .collect();
            verdict.discarded_unexplained.push(format!(
                "shared {id} = {value} (write {position} of {}, over {overwrote}; next writes to the row: {}; registers by site: {}; losers logged for the row: {})",
                acks.len(),
                later.join(", "),
                registers.join("; "),
                logged.join(" ")
            ));
        }
    }
    verdict
}
