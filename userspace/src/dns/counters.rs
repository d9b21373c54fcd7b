//! What the userspace server counts: queries by transport and by outcome, shared by the UDP
//! threads and the TCP tasks, read by `switchyard stats` and the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::authority::Outcome;

/// Queries seen by the userspace server, by transport and outcome.
#[derive(Default)]
pub struct ServerCounters {
    pub udp: AtomicU64,
    pub tcp: AtomicU64,
    pub answered: AtomicU64,
    pub nodata: AtomicU64,
    pub nxdomain: AtomicU64,
    pub refused: AtomicU64,
    pub formerr: AtomicU64,
    pub notimp: AtomicU64,
    pub badvers: AtomicU64,
    pub notauth: AtomicU64,
    pub dropped: AtomicU64,
    pub servfail: AtomicU64,
    pub cookie_valid: AtomicU64,
    /// Response rate limiting (`crate::rrl`): limited and dropped, limited and sent truncated,
    /// answered without charge (exempt prefix).
    pub rrl_dropped: AtomicU64,
    pub rrl_slipped: AtomicU64,
    pub rrl_exempt: AtomicU64,
    /// TCP connections closed at once: the server's or the client's bound was reached.
    pub tcp_refused: AtomicU64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ServerCountersSnapshot {
    pub udp: u64,
    pub tcp: u64,
    pub answered: u64,
    pub nodata: u64,
    pub nxdomain: u64,
    pub refused: u64,
    pub formerr: u64,
    pub notimp: u64,
    pub badvers: u64,
    /// TSIG-signed queries, answered NOTAUTH (BADKEY).
    #[serde(default)]
    pub notauth: u64,
    /// Not answered: responses, messages without a header, and queries to a broadcast or
    /// multicast address or from one no reply can go to.
    pub dropped: u64,
    /// A signed zone's answer that could not be signed.
    #[serde(default)]
    pub servfail: u64,
    /// Queries that carried a valid server cookie of ours (counted besides their outcome).
    #[serde(default)]
    pub cookie_valid: u64,
    /// Over their client prefix's response rate: not answered (`[rrl]`).
    #[serde(default)]
    pub rrl_dropped: u64,
    /// Over their client prefix's response rate: answered with an empty truncated reply.
    #[serde(default)]
    pub rrl_slipped: u64,
    /// Answered without charging a bucket (an exempt prefix).
    #[serde(default)]
    pub rrl_exempt: u64,
    /// TCP connections closed at once, over the bound in all or for their client address.
    #[serde(default)]
    pub tcp_refused: u64,
}

impl ServerCounters {
    pub(super) fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Answered => &self.answered,
            Outcome::NoData => &self.nodata,
            Outcome::NxDomain => &self.nxdomain,
            Outcome::Refused => &self.refused,
            Outcome::FormErr => &self.formerr,
            Outcome::NotImp => &self.notimp,
            Outcome::BadVers => &self.badvers,
            Outcome::NotAuth => &self.notauth,
            Outcome::Dropped => &self.dropped,
            Outcome::ServFail => &self.servfail,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts what a reply says besides its outcome.
    pub(super) fn record_reply(&self, reply: &super::authority::Reply) {
        self.record(reply.outcome);
        if reply.valid_server_cookie {
            self.cookie_valid.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> ServerCountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerCountersSnapshot {
            udp: get(&self.udp),
            tcp: get(&self.tcp),
            answered: get(&self.answered),
            nodata: get(&self.nodata),
            nxdomain: get(&self.nxdomain),
            refused: get(&self.refused),
            formerr: get(&self.formerr),
            notimp: get(&self.notimp),
            badvers: get(&self.badvers),
            notauth: get(&self.notauth),
            dropped: get(&self.dropped),
            servfail: get(&self.servfail),
            cookie_valid: get(&self.cookie_valid),
            rrl_dropped: get(&self.rrl_dropped),
            rrl_slipped: get(&self.rrl_slipped),
            rrl_exempt: get(&self.rrl_exempt),
            tcp_refused: get(&self.tcp_refused),
        }
    }
}
