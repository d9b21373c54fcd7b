//! Waiting for a condition with a deadline instead of sleeping fixed times.

use std::time::Duration;

use crate::health::HealthMonitor;

pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `condition` every 10 ms until it holds; panics with the monitor's
/// status after `DEADLINE`.
pub async fn until(monitor: &HealthMonitor, what: &str, mut condition: impl FnMut(&HealthMonitor) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition(monitor) {
        if tokio::time::Instant::now() > deadline {
            let status = serde_json::to_string_pretty(&monitor.status()).unwrap();
            panic!("timed out waiting for {what}; status:\n{status}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn available(monitor: &HealthMonitor, site: &str) -> bool {
    monitor.sites().get(site).is_some_and(|state| state.available)
}
