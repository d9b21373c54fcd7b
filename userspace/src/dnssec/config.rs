//! `[zone.dnssec]`: the key files, their algorithm and the signature timing of a signed zone.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// The algorithms a zone can be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256, DNSSEC algorithm 13.
    Ecdsap256sha256,
    /// Ed25519, DNSSEC algorithm 15.
    Ed25519,
}

impl SigningAlgorithm {
    /// The name used in config and key files.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::Ecdsap256sha256 => "ecdsap256sha256",
            SigningAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn from_name(name: &str) -> Option<SigningAlgorithm> {
        match name {
            "ecdsap256sha256" => Some(SigningAlgorithm::Ecdsap256sha256),
            "ed25519" => Some(SigningAlgorithm::Ed25519),
            _ => None,
        }
    }

    pub fn dnssec(self) -> hickory_proto::dnssec::Algorithm {
        match self {
            SigningAlgorithm::Ecdsap256sha256 => hickory_proto::dnssec::Algorithm::ECDSAP256SHA256,
            SigningAlgorithm::Ed25519 => hickory_proto::dnssec::Algorithm::ED25519,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecConfig {
    pub algorithm: SigningAlgorithm,
    /// The combined signing key, as written by `switchyard dnssec keygen` (mode 0600 or stricter).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Several combined signing keys, for a rollover: every one is published in the DNSKEY set
    /// (with its CDS and CDNSKEY) and signs every RRset. Instead of `key_file`.
    #[serde(default)]
    pub key_files: Option<Vec<PathBuf>>,
    /// How long a signature is valid from the moment it is made.
    #[serde(default = "default_validity_ms")]
    pub validity_ms: u64,
    /// A signature is made anew when less than this is left of its validity.
    #[serde(default = "default_refresh_ms")]
    pub refresh_ms: u64,
    /// Inception is set this far in the past, for validators whose clock is behind.
    #[serde(default = "default_backdate_ms")]
    pub backdate_ms: u64,
    /// Whether the answers one site's change of availability would give are signed ahead of
    /// it (memory for their signatures, CPU at the lowest priority).
    #[serde(default = "default_sign_failover_ahead")]
    pub sign_failover_ahead: bool,
}

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

fn default_validity_ms() -> u64 {
    14 * DAY_MS
}
fn default_refresh_ms() -> u64 {
    7 * DAY_MS
}
fn default_backdate_ms() -> u64 {
    HOUR_MS
}
fn default_sign_failover_ahead() -> bool {
    true
}

/// Validity bounds: long enough to outlast every TTL we serve, short enough that a leaked
/// signature ages out (and the RRSIG time fields cannot wrap).
const VALIDITY_MS: std::ops::RangeInclusive<u64> = (2 * HOUR_MS)..=(90 * DAY_MS);
const MAX_BACKDATE_MS: u64 = DAY_MS;
/// A rollover needs two keys; a third leaves room to stage the next one. More only makes
/// every answer bigger.
pub const MAX_KEYS: usize = 3;

impl DnssecConfig {
    /// Checks the timing; `key` is the config key of this table, for messages.
    pub fn validate(&self, key: &str) -> Result<(), (String, String)> {
        self.validate_keys(key)?;
        if !VALIDITY_MS.contains(&self.validity_ms) {
            let (min, max) = (VALIDITY_MS.start(), VALIDITY_MS.end());
            return Err((format!("{key}.validity_ms"), format!("must be {min} (2 hours) to {max} (90 days)")));
        }
        if self.refresh_ms < HOUR_MS || self.refresh_ms >= self.validity_ms {
            return Err((
                format!("{key}.refresh_ms"),
                format!("must be at least {HOUR_MS} (1 hour) and less than validity_ms ({})", self.validity_ms),
            ));
        }
        if self.backdate_ms > MAX_BACKDATE_MS {
            return Err((format!("{key}.backdate_ms"), format!("must be at most {MAX_BACKDATE_MS} (1 day)")));
        }
        Ok(())
    }

    fn validate_keys(&self, key: &str) -> Result<(), (String, String)> {
        let paths = match (&self.key_file, &self.key_files) {
            (Some(_), None) => return Ok(()),
            (Some(_), Some(_)) => {
                return Err((format!("{key}.key_files"), "give key_file or key_files, not both".into()));
            }
            (None, None) => {
                return Err((format!("{key}.key_file"), "a signed zone needs key_file (or key_files)".into()));
            }
            (None, Some(paths)) => paths,
        };
        // A key listed twice (under any path) is refused when the keys are read: same key tag.
        if paths.is_empty() || paths.len() > MAX_KEYS {
            return Err((format!("{key}.key_files"), format!("1 to {MAX_KEYS} keys (a rollover needs two)")));
        }
        Ok(())
    }

    /// The zone's key files, in the order given: one, or several during a rollover.
    pub fn key_paths(&self) -> Vec<&Path> {
        self.key_file.iter().chain(self.key_files.iter().flatten()).map(PathBuf::as_path).collect()
    }

    pub fn validity(&self) -> Duration {
        Duration::from_millis(self.validity_ms)
    }
    pub fn refresh(&self) -> Duration {
        Duration::from_millis(self.refresh_ms)
    }
    pub fn backdate(&self) -> Duration {
        Duration::from_millis(self.backdate_ms)
    }
}
