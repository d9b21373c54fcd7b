//! Hybrid logical clock: 48 bits of wall-clock milliseconds and 16 bits of
//! counter in one i64, so versions sort as plain integers and fit SQLite.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::schema::meta_value;

pub const LOGICAL_BITS: u32 = 16;

/// A write's identity for ordering: HLC first, site id breaks ties.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub hlc: i64,
    pub site: String,
}

impl Version {
    pub fn new(hlc: i64, site: impl Into<String>) -> Self {
        Self { hlc, site: site.into() }
    }
}

pub fn wall_now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// The smallest HLC value at the given wall-clock time.
pub fn physical(wall_ms: f64) -> i64 {
    (wall_ms.max(0.0) as i64) << LOGICAL_BITS
}

/// Next local timestamp: never below the wall clock, always above `last`.
pub fn tick(last: i64, wall_ms: f64) -> i64 {
    (last + 1).max(physical(wall_ms))
}

const CLOCK_KEY: &str = "hlc";

/// The persisted clock; it only moves forward, also across restarts.
pub fn read_clock(conn: &Connection) -> Result<i64> {
    Ok(meta_value(conn, CLOCK_KEY)?.unwrap_or(0))
}

pub fn write_clock(conn: &Connection, value: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO _sy_meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
    )?
    .execute(params![CLOCK_KEY, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_never_goes_backwards() {
        let now = physical(1_000.0);
        assert_eq!(tick(0, 1_000.0), now);
        assert_eq!(tick(now, 1_000.0), now + 1);
        assert_eq!(tick(now + 5, 500.0), now + 6);
    }

    #[test]
    fn site_breaks_hlc_ties() {
        assert!(Version::new(7, "b") > Version::new(7, "a"));
        assert!(Version::new(8, "a") > Version::new(7, "b"));
        assert_eq!(physical(1234.0) >> LOGICAL_BITS, 1234);
    }
}
