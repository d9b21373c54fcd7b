//! What the rest of the server consumes: one entry per peer site.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::site::SiteState;

/// Site name -> what this server currently believes about that site.
pub type PeerViews = BTreeMap<String, PeerView>;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Liveness by the N-period rule (see [`super::liveness`]).
    pub alive: bool,
    /// The last state the site reported about itself, if it ever did.
    pub state: Option<SiteState>,
}

impl PeerView {
    /// The state to route by: a site that is not alive, or never reported,
    /// is unavailable whatever it last said.
    pub fn effective_state(&self) -> SiteState {
        match self.state {
            Some(state) if self.alive => state,
            Some(state) => SiteState { available: false, ..state },
            None => SiteState { available: false, load: 0, rtt_us: 0 },
        }
    }
}
