//! Shared fixtures: small tables, sites on temporary files, in-process delivery.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::Value;
use switchyard::sync::{ConflictRule, Replica, Request, SyncError, TableConfig, decode, encode};

pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS t1(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);
    CREATE TABLE IF NOT EXISTS t2(id INTEGER PRIMARY KEY, x TEXT, y TEXT, z INTEGER);
";

pub const TABLES: [(&str, &[&str]); 2] = [("t1", &["a", "b"]), ("t2", &["x", "y", "z"])];

pub fn tables_with(policy: ConflictRule) -> Vec<TableConfig> {
    TABLES.iter().map(|(name, _)| TableConfig::new(*name).with_rule(policy.clone())).collect()
}

pub fn db_path(dir: &Path, site: &str) -> PathBuf {
    dir.join(format!("{site}.db"))
}

/// A plain connection standing in for another program writing the database.
pub fn app(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open app connection");
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

pub fn open_site(dir: &Path, site: &str, peers: &[&str]) -> Replica {
    open_site_with(dir, site, peers, ConflictRule::LastWriterWins)
}

pub fn open_site_with(dir: &Path, site: &str, peers: &[&str], policy: ConflictRule) -> Replica {
    let path = db_path(dir, site);
    app(&path).execute_batch(SCHEMA).unwrap();
    let peers: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
    Replica::open_path(&path, site, &tables_with(policy), &peers).expect("open replica")
}

/// Site `site` syncing a table whose TEXT key SQLite lets be NULL (a change of such a row
/// cannot be stamped and is set aside). `CREATE TABLE IF NOT EXISTS`: a restored site opens again.
pub fn loose_site(dir: &Path, site: &str, peer: &str) -> Replica {
    let path = db_path(dir, site);
    app(&path).execute_batch("CREATE TABLE IF NOT EXISTS loose(k TEXT PRIMARY KEY, v TEXT);").unwrap();
    let tables = [switchyard::sync::TableConfig::new("loose")];
    Replica::open_path(&path, site, &tables, &[peer.to_string()]).expect("open replica")
}

/// All rows of the synced tables, sorted, for comparing sites.
pub fn dump(conn: &Connection) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::new();
    for (table, columns) in TABLES {
        let sql = format!("SELECT id, {} FROM {table} ORDER BY id", columns.join(", "));
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map([], |r| (0..=columns.len()).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())
            .unwrap();
        for row in rows {
            out.push((table.to_string(), row.unwrap()));
        }
    }
    out
}

/// Ships one batch from `from` to `to` and records the ack; returns whether it carried anything.
pub fn deliver(from: &mut Replica, to: &mut Replica) -> bool {
    let batch = from.build_batch(to.site_id()).unwrap();
    let had_content = !batch.is_empty();
    let received: Request = decode(&encode(&Request::Batch(batch.clone()))).unwrap();
    let reply = match to.handle(&received) {
        Ok(reply) => reply,
        // As the shipper does on HTTP 410: our database went back to an incarnation left behind.
        Err(SyncError::RetiredIncarnation { .. }) => {
            from.left_behind(to.site_id()).unwrap();
            return true;
        }
        Err(e) => panic!("{} refused a batch from {}: {e}", to.site_id(), from.site_id()),
    };
    from.record_batch_reply(to.site_id(), &batch, &reply).unwrap();
    had_content
}

/// Sends every page of a due full state transfer from `from` to `to`; returns how many.
pub fn deliver_state(from: &mut Replica, to: &mut Replica) -> usize {
    let mut pages = 0;
    while let Some(step) = from.next_state_page(to.site_id()).unwrap() {
        let received: Request = decode(&encode(&Request::State(step.page.clone()))).unwrap();
        let reply = to.handle(&received).unwrap();
        from.record_reply(to.site_id(), &reply).unwrap();
        from.state_page_delivered(to.site_id(), &step).unwrap();
        pages += 1;
        assert!(pages < 10_000, "state transfer does not end");
    }
    pages
}

/// Two distinct mutable elements of a slice.
pub fn pair<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (left, right) = items.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

/// Exchanges batches between all pairs until nothing is left to send.
pub fn sync_all(replicas: &mut [Replica]) {
    for _ in 0..10 {
        let mut busy = false;
        for from in 0..replicas.len() {
            for to in 0..replicas.len() {
                if from != to {
                    let (sender, receiver) = pair(replicas, from, to);
                    busy |= deliver_state(sender, receiver) > 0;
                    busy |= deliver(sender, receiver);
                    // A reply can start a full state transfer (a renewed incarnation).
                    busy |= sender.state_due(receiver.site_id()).unwrap();
                }
            }
        }
        if !busy {
            return;
        }
    }
    panic!("replicas did not go quiet");
}

pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Changes in the log, position markers left out.
pub fn changes_in_log(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM _sy_changes WHERE tbl <> ?1", [switchyard::sync::MARKER_TABLE], |r| r.get(0))
        .unwrap()
}
