//! TTLs and SOA intervals: every TTL the config carries within what RFC 2181 §8 allows, and
//! SOA intervals that are not negative.

use super::{Config, ZoneConfig};

type Problem = (String, String);

/// Largest TTL RFC 2181 §8 allows (2^31 - 1): resolvers take a larger one as zero.
pub const MAX_TTL: u32 = i32::MAX as u32;

/// Why `ttl` cannot be a TTL, if it cannot.
pub fn ttl_problem(ttl: u32) -> Option<String> {
    (ttl > MAX_TTL).then(|| format!("must be at most {MAX_TTL} (RFC 2181 §8)"))
}

fn check_ttl(key: String, ttl: u32) -> Result<(), Problem> {
    match ttl_problem(ttl) {
        Some(problem) => Err((key, problem)),
        None => Ok(()),
    }
}

impl ZoneConfig {
    /// The zone's TTLs and SOA intervals; `at` is this zone's key, e.g. "zone[0]".
    pub(super) fn validate_times(&self, at: &str) -> Result<(), Problem> {
        check_ttl(format!("{at}.ttl"), self.ttl)?;
        check_ttl(format!("{at}.soa.minimum"), self.soa.minimum)?;
        // Signed 32-bit on the wire (RFC 1035 §3.3.13), but a negative interval means nothing.
        let intervals = [("refresh", self.soa.refresh), ("retry", self.soa.retry), ("expire", self.soa.expire)];
        for (field, seconds) in intervals {
            if seconds < 0 {
                return Err((format!("{at}.soa.{field}"), format!("is {seconds}; must be 0 to {MAX_TTL} seconds")));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Every service's TTL, fixed-address and site-based alike (the policy checks the latter
    /// too, with the same limit).
    pub(super) fn validate_service_ttls(&self) -> Result<(), Problem> {
        for (i, service) in self.service.iter().enumerate() {
            check_ttl(format!("service[{i}].ttl"), service.ttl)?;
        }
        Ok(())
    }
}
