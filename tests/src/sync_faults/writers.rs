//! Writers that log every acknowledged write. Each writer owns its rows of
//! `ledger` (so the last acknowledged write of a row is what every site must
//! end with) and competes with all others for the few rows of `shared`,
//! reading the value it overwrites in the same transaction.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use switchyard::sync::Value;

pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS ledger(id INTEGER PRIMARY KEY, v);
    CREATE TABLE IF NOT EXISTS shared(id INTEGER PRIMARY KEY, v);";
pub const SHARED_ROWS: i64 = 10;

/// One acknowledged (committed) write.
#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    /// `value` `None`: the row was deleted.
    Ledger {
        id: i64,
        value: Option<Value>,
    },
    Shared {
        id: i64,
        value: Value,
        overwrote: Option<Value>,
    },
}

/// Whether a site's writers may write now (they pause while its database is
/// restored), and how many are between passing the gate and finishing a write.
pub struct Gate {
    open: AtomicBool,
    writing: AtomicUsize,
}

impl Gate {
    pub fn opened() -> Gate {
        Gate { open: AtomicBool::new(true), writing: AtomicUsize::new(0) }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Closes the gate and returns once no write that passed it is still going
    /// (one may wait up to the writers' busy timeout for the daemon's lock).
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        while self.writing.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs `write` unless the gate is closed. Counting the write before looking at
    /// the gate (both sequentially consistent) means `close` either sees it or it
    /// sees the gate closed.
    fn pass<T>(&self, write: impl FnOnce() -> T) -> Option<T> {
        self.writing.fetch_add(1, Ordering::SeqCst);
        let done = self.open.load(Ordering::SeqCst).then(write);
        self.writing.fetch_sub(1, Ordering::SeqCst);
        done
    }
}

pub struct Writer {
    pub site: &'static str,
    pub number: usize,
    pub db: PathBuf,
    pub gate: Arc<Gate>,
    pub log: Arc<Mutex<Vec<Ack>>>,
}

fn open(db: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(conn)
}

impl Writer {
    /// Writes until `stop`; a fresh connection per write, so the file can be swapped between writes.
    pub fn run(&self, stop: &AtomicBool, seed: u64) {
        let mut rng = seed | 1;
        let mut next = 0i64;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
            let written = self.gate.pass(|| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                next += 1;
                match rng % 10 {
                    0..=5 => self.ledger_write(next, rng),
                    6 => self.ledger_delete(rng),
                    _ => self.shared_write(next, rng),
                }
            });
            // An error (a busy database, a file being swapped) is a write not acknowledged.
            if let Some(Ok(Some(ack))) = written {
                self.log.lock().unwrap().push(ack);
            }
        }
    }

    fn base_id(&self) -> i64 {
        let site_index = (self.site.as_bytes()[0] - b'a') as i64;
        (site_index * 10 + self.number as i64) * 1_000_000
    }

    /// One of this writer's 200 rows.
    fn own_id(&self, k: u64) -> i64 {
        self.base_id() + (k % 200) as i64
    }

    fn ledger_write(&self, n: i64, rng: u64) -> rusqlite::Result<Option<Ack>> {
        let id = self.own_id(rng >> 8);
        let value = Value::text(format!("{}{}-{n}", self.site, self.number));
        open(&self.db)?.execute(
            "INSERT INTO ledger(id, v) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET v = excluded.v",
            rusqlite::params![id, value],
        )?;
        Ok(Some(Ack::Ledger { id, value: Some(value) }))
    }

    fn ledger_delete(&self, rng: u64) -> rusqlite::Result<Option<Ack>> {
        let id = self.own_id(rng >> 8);
        let deleted = open(&self.db)?.execute("DELETE FROM ledger WHERE id = ?1", [id])?;
        Ok((deleted > 0).then_some(Ack::Ledger { id, value: None }))
    }

    /// Reads the row's value and overwrites it in one transaction.
    fn shared_write(&self, n: i64, rng: u64) -> rusqlite::Result<Option<Ack>> {
        let id = 1 + (rng >> 8) as i64 % SHARED_ROWS;
        let value = Value::text(format!("{}{}-s{n}", self.site, self.number));
        let mut conn = open(&self.db)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let overwrote: Option<Value> =
            tx.query_row("SELECT v FROM shared WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        tx.execute(
            "INSERT INTO shared(id, v) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET v = excluded.v",
            rusqlite::params![id, value],
        )?;
        tx.commit()?;
        Ok(Some(Ack::Shared { id, value, overwrote }))
    }

    /// A value SQLite takes but that is not UTF-8 (and a BLOB), in the middle of everything.
    pub fn bad_bytes(&self) -> rusqlite::Result<Vec<Ack>> {
        let conn = open(&self.db)?;
        let (text_id, blob_id) = (self.base_id() + 900_000, self.base_id() + 900_001);
        conn.execute("INSERT OR REPLACE INTO ledger(id, v) VALUES (?1, CAST(x'fffe41' AS TEXT))", [text_id])?;
        conn.execute("INSERT OR REPLACE INTO ledger(id, v) VALUES (?1, x'00ff00')", [blob_id])?;
        Ok(vec![
            Ack::Ledger { id: text_id, value: Some(Value::Text(vec![0xff, 0xfe, b'A'])) },
            Ack::Ledger { id: blob_id, value: Some(Value::Blob(vec![0, 0xff, 0])) },
        ])
    }
}
