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
    let cell = cell_register(conn, "ledger", id);
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
    format!("row {row:?} cell {cell} conflicts {conflicts:?}")
}

/// A row's register of column `v`, for reports: value, version and history.
fn cell_register(conn: &Connection, table: &str, id: i64) -> String {
    let registers = switchyard::sync::load_registers(conn, table, &Value::Integer(id));
    match registers.as_ref().map(|(_, cells)| cells.get("v")) {
        Ok(Some(cell)) => format!(
            "{} {}@{} run {} seen {:?}",
            cell.value, cell.version.site, cell.version.hlc, cell.epoch, cell.seen.0
        ),
        Ok(None) => "no register".into(),
        Err(e) => format!("unreadable: {e}"),
    }
}

fn or_nothing(value: Option<&Value>) -> String {
    value.map_or("nothing".into(), Value::to_string)
}

/// Why a discarded shared write is unexplained, with what a reader needs to tell why:
/// what it overwrote, the next writes to its row, the row's register at each site.
fn unexplained(sites: &[Connection], acks: &[Ack], position: usize, losers: &BTreeSet<(i64, Value)>) -> String {
    let Ack::Shared { id, value, overwrote } = &acks[position] else { unreachable!("a shared write") };
    let logged: Vec<String> = losers.iter().filter(|(pk, _)| pk == id).map(|(_, v)| v.to_string()).collect();
    let later: Vec<String> = acks[position + 1..]
        .iter()
        .filter_map(|a| match a {
            Ack::Shared { id: other, value, overwrote } if other == id => {
                Some(format!("{value} over {}", or_nothing(overwrote.as_ref())))
            }
            _ => None,
        })
        .take(4)
        .collect();
    let registers: Vec<String> = sites.iter().map(|c| cell_register(c, "shared", *id)).collect();
    format!(
        "shared {id} = {value} (write {position} of {}, over {}; next writes to the row: {}; registers by site: {}; losers logged for the row: {})",
        acks.len(),
        or_nothing(overwrote.as_ref()),
        later.join(", "),
        registers.join("; "),
        logged.join(" ")
    )
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
    for (position, ack) in acks.iter().enumerate() {
        let Ack::Shared { id, value, .. } = ack else { continue };
        if shared.get(id) == Some(value) {
            continue;
        }
        verdict.discarded_writes += 1;
        let key = (*id, value.clone());
        if !seen.contains(&key) && !losers.contains(&key) {
            verdict.discarded_unexplained.push(unexplained(sites, acks, position, &losers));
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use switchyard::sync::{Replica, TableConfig};

    use super::*;
    use crate::sync_faults::writers::SCHEMA;

    /// A site whose `shared` row 1 holds `final_value`, written through the capture triggers.
    fn site(dir: &std::path::Path, final_value: &str) -> Connection {
        let path = dir.join("a.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let tables = [TableConfig::new("ledger"), TableConfig::new("shared")];
        let mut replica = Replica::open_path(&path, "a", &tables, &["b".to_string()]).unwrap();
        conn.execute("INSERT INTO shared(id, v) VALUES (1, ?1)", [final_value]).unwrap();
        replica.stamp_pending().unwrap();
        conn
    }

    fn shared(value: &str, overwrote: Option<&str>) -> Ack {
        Ack::Shared { id: 1, value: Value::text(value), overwrote: overwrote.map(Value::text) }
    }

    /// A discarded write that a later write read is explained; one nobody read and no
    /// conflict names is reported, with the row's register and the write after it.
    #[test]
    fn a_discarded_write_nobody_read_or_logged_is_unexplained() {
        let dir = tempfile::tempdir().unwrap();
        let sites = [site(dir.path(), "z")];
        let explained = judge(&sites, &[shared("x", None), shared("z", Some("x"))]);
        assert_eq!((explained.discarded_writes, explained.discarded_unexplained.len()), (1, 0), "{explained:?}");

        let verdict = judge(&sites, &[shared("x", None), shared("z", Some("y"))]);
        assert_eq!(verdict.discarded_writes, 1);
        let [report] = verdict.discarded_unexplained.as_slice() else { panic!("{verdict:?}") };
        for part in ["shared 1 = 'x'", "write 0 of 2", "over nothing", "'z' over 'y'", "'z' a@"] {
            assert!(report.contains(part), "`{part}` missing from {report}");
        }
    }
}
