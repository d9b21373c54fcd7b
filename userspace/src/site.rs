//! What is known about each site right now: the state the health monitor publishes, peers
//! report and the policy orders sites by, and the addresses a site puts in answers.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// What is known about one site right now.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SiteState {
    pub available: bool,
    /// Per-mille, 0..=1000.
    pub load: u32,
    pub rtt_us: u32,
}

impl SiteState {
    pub const UNAVAILABLE: SiteState = SiteState { available: false, load: 0, rtt_us: 0 };
}

/// Site name → state, as the health monitor publishes it.
pub type SiteMap = BTreeMap<String, SiteState>;

/// The addresses a site contributes to DNS answers, in answer order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiteAddresses {
    pub a: Vec<Ipv4Addr>,
    pub aaaa: Vec<Ipv6Addr>,
}

impl SiteAddresses {
    pub(crate) fn v4(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.a.iter().map(|ip| IpAddr::V4(*ip))
    }

    pub(crate) fn v6(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.aaaa.iter().map(|ip| IpAddr::V6(*ip))
    }
}
