//! Answer stability while nothing changes: every answer change counted is a flap.

use std::time::{Duration, Instant};

use super::{
    interrupt,
    watch::{POLL, Watcher},
};

#[derive(Debug, Default)]
pub struct Changes {
    pub queries: u64,
    pub timeouts: u64,
    pub changes: u64,
}

/// Polls for `length` and counts how often the answer differs from the one before it.
pub fn count_changes(watcher: &mut Watcher, length: Duration) -> Result<Changes, String> {
    let started = Instant::now();
    let mut changes = Changes::default();
    let mut previous: Option<Vec<String>> = None;
    while started.elapsed() < length {
        interrupt::check()?;
        changes.queries += 1;
        match watcher.ask() {
            None => changes.timeouts += 1,
            Some(answer) => {
                if previous.as_ref().is_some_and(|p| *p != answer) {
                    changes.changes += 1;
                }
                previous = Some(answer);
            }
        }
        std::thread::sleep(POLL);
    }
    Ok(changes)
}
