//! Property test: random writes at 2–4 sites, an unreliable network, crashes;
//! after full delivery every site equals the "newest write per column wins"
//! model, and every write discarded by a conflict is logged somewhere.

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value;
use switchyard::sync::{ConflictRule, Replica, Request, Seen, Version, decode, encode, load_registers};

use super::support::{TABLES, app, db_path, dump, open_site_with, sync_all};

const SITES: [&str; 4] = ["s0", "s1", "s2", "s3"];
const INTEGER_COLUMNS: [&str; 2] = ["b", "z"];

#[derive(Debug, Clone)]
enum Op {
    Insert { site: usize, table: usize, pk: i64 },
    Update { site: usize, table: usize, pk: i64, col: usize },
    Delete { site: usize, table: usize, pk: i64 },
    Ship { from: usize, to: usize },
    Deliver { pick: usize, drop_ack: bool, duplicate: bool },
    Lose { pick: usize },
    Reopen { site: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let site = 0..4usize;
    let table = 0..TABLES.len();
    let pk = 1..4i64;
    prop_oneof![
        3 => (site.clone(), table.clone(), pk.clone()).prop_map(|(site, table, pk)| Op::Insert { site, table, pk }),
        4 => (site.clone(), table.clone(), pk.clone(), 0..3usize)
            .prop_map(|(site, table, pk, col)| Op::Update { site, table, pk, col }),
        2 => (site.clone(), table, pk).prop_map(|(site, table, pk)| Op::Delete { site, table, pk }),
        4 => (site.clone(), 0..4usize).prop_map(|(from, to)| Op::Ship { from, to }),
        4 => (any::<usize>(), proptest::bool::weighted(0.25), proptest::bool::weighted(0.2))
            .prop_map(|(pick, drop_ack, duplicate)| Op::Deliver { pick, drop_ack, duplicate }),
        1 => any::<usize>().prop_map(|pick| Op::Lose { pick }),
        1 => site.prop_map(|site| Op::Reopen { site }),
    ]
}

/// One write as the application made it, with the versions it got.
#[derive(Debug, Clone)]
struct Write {
    table: &'static str,
    pk: i64,
    /// `Some(alive)` for inserts and deletes (they set the row's existence).
    existence: Option<bool>,
    cells: Vec<(String, Value)>,
    version: Version,
    /// The run of the site's replica that stamped the write (0 when it wrote no column).
    epoch: u32,
    /// Each written column's history as the write recorded it (what it knew it overwrote).
    seen: BTreeMap<String, Seen>,
}

struct Message {
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

struct World {
    dir: tempfile::TempDir,
    policy: ConflictRule,
    sites: usize,
    replicas: Vec<Option<Replica>>,
    apps: Vec<Connection>,
    network: Vec<Message>,
    writes: Vec<Write>,
    next_value: i64,
}

impl World {
    fn new(sites: usize, policy: ConflictRule) -> Self {
        // Memory-backed when available: the test is about ordering, not fsync speed.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
        let replicas = (0..sites).map(|i| Some(Self::open(dir.path(), sites, i, &policy))).collect();
        let apps = (0..sites).map(|i| app(&db_path(dir.path(), SITES[i]))).collect();
        Self { dir, policy, sites, replicas, apps, network: Vec::new(), writes: Vec::new(), next_value: 0 }
    }

    fn open(dir: &std::path::Path, sites: usize, i: usize, policy: &ConflictRule) -> Replica {
        let peers: Vec<&str> = (0..sites).filter(|&j| j != i).map(|j| SITES[j]).collect();
        open_site_with(dir, SITES[i], &peers, policy.clone())
    }

    fn replica(&mut self, i: usize) -> &mut Replica {
        self.replicas[i].as_mut().expect("replica open")
    }

    /// A value never written before, of the column's declared type.
    fn value(&mut self, column: &str) -> Value {
        self.next_value += 1;
        if INTEGER_COLUMNS.contains(&column) {
            Value::Integer(self.next_value)
        } else {
            Value::Text(format!("v{}", self.next_value))
        }
    }

    /// Runs a statement through the application connection and records the
    /// write if it changed anything.
    fn write(&mut self, site: usize, table: usize, pk: i64, existence: Option<bool>, cols: Vec<usize>) {
        let (name, columns) = TABLES[table];
        let cells: Vec<(String, Value)> =
            cols.iter().map(|&c| (columns[c].to_string(), self.value(columns[c]))).collect();
        let conn = &self.apps[site];
        let changed = match existence {
            Some(true) => {
                let names: Vec<&str> = cells.iter().map(|(c, _)| c.as_str()).collect();
                let sql = format!(
                    "INSERT INTO {name}(id, {}) VALUES (?1, {}) ON CONFLICT(id) DO NOTHING",
                    names.join(", "),
                    (2..=names.len() + 1).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
                );
                let params: Vec<Value> =
                    std::iter::once(Value::Integer(pk)).chain(cells.iter().map(|(_, v)| v.clone())).collect();
                conn.execute(&sql, rusqlite::params_from_iter(params)).unwrap()
            }
            Some(false) => conn.execute(&format!("DELETE FROM {name} WHERE id = ?1"), [pk]).unwrap(),
            None => {
                let (col, value) = &cells[0];
                conn.execute(&format!("UPDATE {name} SET {col} = ?1 WHERE id = ?2"), rusqlite::params![value, pk])
                    .unwrap()
            }
        };
        if changed == 0 {
            return;
        }
        // Stamp now so the test can read the version the write received.
        self.replica(site).stamp_pending().unwrap();
        let hlc: i64 = self.apps[site]
            .query_row("SELECT hlc FROM _sy_changes ORDER BY seq DESC LIMIT 1", [], |r| r.get(0))
            .unwrap();
        let (epoch, seen) =
            if existence == Some(false) { (0, BTreeMap::new()) } else { self.seen_of(site, name, pk, &cells) };
        self.writes.push(Write {
            table: name,
            pk,
            existence,
            cells: if existence == Some(false) { Vec::new() } else { cells },
            version: Version::new(hlc, SITES[site]),
            epoch,
            seen,
        });
    }

    /// The run that made a local write and the history each written column's
    /// register holds right after it.
    fn seen_of(&self, site: usize, table: &str, pk: i64, cells: &[(String, Value)]) -> (u32, BTreeMap<String, Seen>) {
        let conn = &self.apps[site];
        let (_, registers) = load_registers(conn, table, &switchyard::sync::Value::Integer(pk)).unwrap();
        let mut epoch = 0;
        let mut seen = BTreeMap::new();
        for (col, _) in cells {
            let cell = &registers[col];
            epoch = cell.epoch;
            seen.insert(col.clone(), cell.seen.clone());
        }
        (epoch, seen)
    }

    fn run(&mut self, op: &Op) {
        let n = self.sites;
        match *op {
            Op::Insert { site, table, pk } => {
                let cols = (0..TABLES[table].1.len()).collect();
                self.write(site % n, table, pk, Some(true), cols)
            }
            Op::Update { site, table, pk, col } => {
                let col = col % TABLES[table].1.len();
                self.write(site % n, table, pk, None, vec![col])
            }
            Op::Delete { site, table, pk } => self.write(site % n, table, pk, Some(false), Vec::new()),
            Op::Ship { from, to } => {
                let (from, to) = (from % n, to % n);
                if from != to {
                    let batch = self.replica(from).build_batch(SITES[to]).unwrap();
                    self.network.push(Message { from, to, bytes: encode(&Request::Batch(batch)) });
                }
            }
            Op::Deliver { pick, drop_ack, duplicate } => {
                if self.network.is_empty() {
                    return;
                }
                let index = pick % self.network.len();
                let message = if duplicate {
                    let m = &self.network[index];
                    Message { from: m.from, to: m.to, bytes: m.bytes.clone() }
                } else {
                    self.network.remove(index)
                };
                let request: Request = decode(&message.bytes).unwrap();
                let reply = self.replica(message.to).handle(&request).unwrap();
                if !drop_ack {
                    self.replica(message.from).record_reply(SITES[message.to], &reply).unwrap();
                }
            }
            Op::Lose { pick } => {
                if !self.network.is_empty() {
                    let index = pick % self.network.len();
                    self.network.remove(index);
                }
            }
            Op::Reopen { site } => {
                let site = site % n;
                self.replicas[site] = None;
                self.replicas[site] = Some(Self::open(self.dir.path(), n, site, &self.policy));
            }
        }
    }

    fn settle(&mut self) -> Vec<Replica> {
        let mut replicas: Vec<Replica> = self.replicas.iter_mut().map(|r| r.take().unwrap()).collect();
        sync_all(&mut replicas);
        replicas
    }
}

type CellKey = (&'static str, i64, String);
type Rows = Vec<(String, Vec<Value>)>;

/// Final state under "newest write per column wins".
fn model(writes: &[Write]) -> (Rows, BTreeMap<CellKey, Version>) {
    let mut existence: BTreeMap<(&str, i64), (Version, bool)> = BTreeMap::new();
    let mut cells: BTreeMap<CellKey, (Version, Value)> = BTreeMap::new();
    for w in writes {
        if let Some(alive) = w.existence {
            let slot = existence.entry((w.table, w.pk)).or_insert((w.version.clone(), alive));
            if w.version > slot.0 {
                *slot = (w.version.clone(), alive);
            }
        }
        for (col, value) in &w.cells {
            let slot = cells.entry((w.table, w.pk, col.clone())).or_insert((w.version.clone(), value.clone()));
            if w.version > slot.0 {
                *slot = (w.version.clone(), value.clone());
            }
        }
    }
    let mut rows = Vec::new();
    for (table, columns) in TABLES {
        for ((t, pk), (row_version, alive)) in &existence {
            if *t != table {
                continue;
            }
            let cell = |c: &str| cells.get(&(table, *pk, c.to_string()));
            let revived = columns.iter().any(|c| cell(c).is_some_and(|(v, _)| v > row_version));
            if *alive || revived {
                let values = columns.iter().map(|c| cell(c).map_or(Value::Null, |(_, v)| v.clone()));
                rows.push((table.to_string(), std::iter::once(Value::Integer(*pk)).chain(values).collect()));
            }
        }
    }
    rows.sort_by(|a, b| (a.0.clone(), format!("{:?}", a.1)).cmp(&(b.0.clone(), format!("{:?}", b.1))));
    (rows, cells.into_iter().map(|(k, (v, _))| (k, v)).collect())
}

fn sorted(mut rows: Rows) -> Rows {
    rows.sort_by(|a, b| (a.0.clone(), format!("{:?}", a.1)).cmp(&(b.0.clone(), format!("{:?}", b.1))));
    rows
}

/// Runs the ops, delivers everything, and checks all sites hold the same rows.
fn converge(sites: usize, policy: ConflictRule, ops: &[Op]) -> Result<(World, Vec<Replica>, Rows), TestCaseError> {
    let mut world = World::new(sites, policy);
    for op in ops {
        world.run(op);
    }
    let replicas = world.settle();
    let dumps: Vec<_> = replicas.iter().map(|r| sorted(dump(r.connection()))).collect();
    for (i, d) in dumps.iter().enumerate().skip(1) {
        prop_assert_eq!(&dumps[0], d, "site {} differs from site 0", i);
    }
    let first = dumps.into_iter().next().unwrap();
    Ok((world, replicas, first))
}

fn check(sites: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let (world, replicas, state) = converge(sites, ConflictRule::LastWriterWins, ops)?;
    let dumps = [state];
    let (expected, winners) = model(&world.writes);
    prop_assert_eq!(&dumps[0], &expected, "sites differ from the model");

    let logged: HashSet<(String, i64, String, Version)> = replicas
        .iter()
        .flat_map(|r| r.conflicts().unwrap())
        .filter_map(|c| Some((c.table, c.pk.as_i64()?, c.column?, c.loser)))
        .collect();
    for w in &world.writes {
        for (col, _) in &w.cells {
            let key = (w.table, w.pk, col.clone());
            if winners[&key] == w.version {
                continue;
            }
            let overwritten_knowingly = world.writes.iter().any(|x| {
                x.table == w.table
                    && x.pk == w.pk
                    && x.seen.get(col).is_some_and(|seen| seen.covers(&w.version, w.epoch))
            });
            let in_log = logged.contains(&(w.table.to_string(), w.pk, col.clone(), w.version.clone()));
            prop_assert!(overwritten_knowingly || in_log, "discarded write {:?} column {} is not logged", w, col);
        }
    }
    for mut replica in replicas {
        let status = replica.status().unwrap();
        prop_assert!(status.peers.iter().all(|p| p.backlog == 0));
        replica.prune().unwrap();
        prop_assert_eq!(super::support::changes_in_log(replica.connection()), 0);
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_policy_converges(
        policy in prop_oneof![
            Just(ConflictRule::DeleteWins),
            Just(ConflictRule::UpdateWins),
            Just(ConflictRule::SitePriority(vec!["s2".into(), "s0".into()])),
        ],
        sites in 2..=4usize,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        converge(sites, policy, &ops)?;
    }

    #[test]
    fn sites_converge_to_newest_write_per_column(sites in 2..=4usize, ops in proptest::collection::vec(op(), 1..60)) {
        check(sites, &ops)?;
    }
}
