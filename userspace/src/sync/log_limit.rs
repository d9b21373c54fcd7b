//! Warnings that can repeat many times a second (a peer down, a change set
//! aside again and again) are logged at most once per period, with a count of
//! those held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const PERIOD: Duration = Duration::from_secs(10);

pub struct LogLimit {
    state: Mutex<Option<(Instant, u64)>>,
}

impl LogLimit {
    pub const fn new() -> LogLimit {
        LogLimit { state: Mutex::new(None) }
    }

    /// `Some(held back since the last one)` when a line may be logged now.
    pub fn allow(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match *state {
            Some((last, ref mut held)) if now.duration_since(last) < PERIOD => {
                *held += 1;
                None
            }
            Some((_, held)) => {
                *state = Some((now, 0));
                Some(held)
            }
            None => {
                *state = Some((now, 0));
                Some(0)
            }
        }
    }
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_held_back() {
        let limit = LogLimit::new();
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
        assert_eq!(limit.allow(), None);
        *limit.state.lock().unwrap() = Some((Instant::now() - PERIOD, 2));
        assert_eq!(limit.allow(), Some(2));
    }
}
