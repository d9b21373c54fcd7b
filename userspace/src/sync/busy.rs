//! Waiting for the database's write lock, which the applications writing to it share.
//!
//! SQLite's own busy timeout sleeps 1, 2, 5, 10 and then up to 100 ms between tries,
//! so a transaction that finds an application's write under way usually waits far
//! longer than that write takes, and the application's next write then waits for
//! ours. The daemon tries again in short steps instead, for about as long in all.

use std::time::Duration;

use rusqlite::Connection;

/// How long the daemon waits for the lock in all, about, before a transaction fails as busy.
const WAIT: Duration = Duration::from_secs(10);

/// The first pause, in µs; each next one doubles, `DOUBLINGS` times, to `LONGEST`.
const FIRST_MICROS: u64 = 50;
const DOUBLINGS: i32 = 4;
const LONGEST: Duration = Duration::from_micros(FIRST_MICROS << DOUBLINGS);
/// No pause is longer than `LONGEST`, so this many add up to `WAIT` at most.
const TRIES: i32 = (WAIT.as_micros() / LONGEST.as_micros()) as i32;

/// The pause before the next try after `tries` failed ones; `None`: give up.
fn pause(tries: i32) -> Option<Duration> {
    (tries < TRIES).then(|| Duration::from_micros(FIRST_MICROS << tries.clamp(0, DOUBLINGS)))
}

fn wait_for_lock(tries: i32) -> bool {
    pause(tries).map(std::thread::sleep).is_some()
}

/// Makes `conn` wait for the write lock in short steps: the daemon's own connection, and
/// any application writing to a synced database that wants its writes to wait no longer
/// than the daemon's transactions take.
pub fn wait_in_short_steps(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_for_lock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_fifty_microseconds_and_add_up_to_the_wait() {
        let pauses: Vec<Duration> = (0..).map_while(pause).collect();
        assert_eq!(pauses[..6], [50, 100, 200, 400, 800, 800].map(Duration::from_micros));
        let total: Duration = pauses.iter().sum();
        assert!(total <= WAIT && total > WAIT - Duration::from_millis(5), "{total:?}");
    }
}
