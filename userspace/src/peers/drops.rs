//! Why a datagram was dropped, and how often.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Wrong size, unknown version, bad lengths, out-of-range fields.
    Malformed,
    /// Signed with a key id none of our keys has (a wrong or retired key).
    UnknownKey,
    /// The key id matched but the HMAC did not (tampered, or an id collision).
    BadMac,
    /// Authentic, but the (site, node) is not in our peer list.
    UnknownPeer,
    /// Sequence not above the last accepted one for that (peer, boot id), or
    /// a boot id the peer has since replaced.
    Replayed,
    /// Send time further from our clock than `max_skew_ms`.
    Stale,
    /// Echoes a boot id other than this start's: captured before this server restarted, or
    /// sent before the peer heard this start (it is answered at once, so it hears it).
    OtherStart,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        Self::Malformed,
        Self::UnknownKey,
        Self::BadMac,
        Self::UnknownPeer,
        Self::Replayed,
        Self::Stale,
        Self::OtherStart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::BadMac => "bad_mac",
            Self::UnknownPeer => "unknown_peer",
            Self::Replayed => "replayed",
            Self::Stale => "stale",
            Self::OtherStart => "other_start",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounters {
    pub malformed: u64,
    pub unknown_key: u64,
    pub bad_mac: u64,
    pub unknown_peer: u64,
    pub replayed: u64,
    pub stale: u64,
    #[serde(default)]
    pub other_start: u64,
}

impl DropCounters {
    pub fn count(&mut self, reason: DropReason) {
        *self.slot(reason) += 1;
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        let mut copy = *self;
        *copy.slot(reason)
    }

    pub fn total(&self) -> u64 {
        self.malformed
            + self.unknown_key
            + self.bad_mac
            + self.unknown_peer
            + self.replayed
            + self.stale
            + self.other_start
    }

    fn slot(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::UnknownKey => &mut self.unknown_key,
            DropReason::BadMac => &mut self.bad_mac,
            DropReason::UnknownPeer => &mut self.unknown_peer,
            DropReason::Replayed => &mut self.replayed,
            DropReason::Stale => &mut self.stale,
            DropReason::OtherStart => &mut self.other_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once_and_the_listed_counts_make_the_total() {
        let mut drops = DropCounters::default();
        for (n, reason) in DropReason::ALL.into_iter().enumerate() {
            for _ in 0..=n {
                drops.count(reason);
            }
        }
        let listed: u64 = DropReason::ALL.iter().map(|r| drops.get(*r)).sum();
        assert_eq!(listed, drops.total(), "a reason counted in the total but not listed");
        let names: std::collections::BTreeSet<&str> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), DropReason::ALL.len());
        assert_eq!(drops.get(DropReason::OtherStart), 7);
    }
}
