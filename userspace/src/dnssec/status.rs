//! What `switchyard status` and the metrics say of each signed zone: its algorithm, the keys
//! that sign it (two during a rollover), how many RRsets it has signatures for and how many
//! signatures it made.

use serde::{Deserialize, Serialize};

use super::ZoneSigning;
use crate::answers::Zones;

/// What the last pass signing failover answers ahead found for a zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAheadStatus {
    /// Unix seconds the pass ended.
    pub at: u64,
    /// Answer sets that one site's change of availability would give and that are not served.
    pub sets: usize,
    /// Of those, the ones with signatures made (by this pass or before).
    pub ready: usize,
    /// Left unsigned: the signature cache was as full as signing ahead may make it.
    pub no_room: usize,
    /// The pass was stopped before its end (a map write needed the cores).
    pub stopped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignedZoneStatus {
    pub zone: String,
    /// `ecdsap256sha256` or `ed25519`; empty when the keys could not be loaded.
    pub algorithm: String,
    /// The key tags, in the order configured: each key is published and signs every RRset.
    pub key_tags: Vec<u16>,
    /// RRsets with signatures in the signer's cache.
    pub signatures_cached: usize,
    /// Signatures made since the key was loaded: it stays put across a failover that was
    /// signed ahead.
    #[serde(default)]
    pub signatures_made: u64,
    /// Whether failover answers are signed ahead (`sign_failover_ahead`).
    #[serde(default)]
    pub signs_failover_ahead: bool,
    /// The last pass's findings; `None` before the first ends.
    #[serde(default)]
    pub signed_ahead: Option<SignedAheadStatus>,
    /// Why the zone cannot be signed (its DO=1 queries get SERVFAIL), when it cannot.
    pub problem: Option<String>,
}

/// One line per signed zone of `zones`.
pub fn of(zones: &Zones) -> Vec<SignedZoneStatus> {
    let status = |zone: &crate::answers::Zone| {
        let name = zone.name.to_string();
        match &zone.signing {
            ZoneSigning::Unsigned => None,
            ZoneSigning::Signed(signer) => Some(SignedZoneStatus {
                zone: name,
                algorithm: signer.algorithm().name().to_string(),
                key_tags: signer.key_tags(),
                signatures_cached: signer.cached(),
                signatures_made: signer.signatures_made(),
                signs_failover_ahead: signer.signs_ahead(),
                signed_ahead: signer.last_ahead(),
                problem: None,
            }),
            ZoneSigning::Unavailable(problem) => Some(SignedZoneStatus {
                zone: name,
                algorithm: String::new(),
                key_tags: Vec::new(),
                signatures_cached: 0,
                signatures_made: 0,
                signs_failover_ahead: false,
                signed_ahead: None,
                problem: Some(problem.clone()),
            }),
        }
    };
    zones.zones.iter().filter_map(status).collect()
}
