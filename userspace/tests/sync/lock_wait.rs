//! The daemon shares the database's write lock with the applications writing to it:
//! it waits for theirs rather than failing.

use std::time::{Duration, Instant};

use super::support::{app, db_path, open_site};

#[test]
fn a_batch_waits_for_an_applications_write_and_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_site(dir.path(), "a", &["b"]);
    let writer = app(&db_path(dir.path(), "a"));
    writer.execute_batch("BEGIN IMMEDIATE; INSERT INTO t1(id, a, b) VALUES (1, 'held', 1);").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let committed = Instant::now();
        writer.execute_batch("COMMIT").unwrap();
        committed
    });
    let batch = a.build_batch("b").expect("the batch waits for the lock instead of failing as busy");
    let built = Instant::now();
    let committed = holder.join().unwrap();
    assert!(built > committed, "the batch was built while the application held the lock");
    assert_eq!(batch.changes.len(), 1, "the batch carries the write it waited for");
}

#[test]
fn the_daemon_waits_in_its_own_short_steps_not_with_sqlites_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_site(dir.path(), "a", &["b"]);
    // Installing a busy handler clears the timeout, whose pauses grow to 100 ms.
    let timeout: i64 = a.connection().query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(timeout, 0, "SQLite's busy timeout ({timeout} ms) is in place of the short steps");
}
