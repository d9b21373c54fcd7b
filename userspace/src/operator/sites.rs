//! Drain and weight of one site, and how they change the state the policy sees.

use serde::{Deserialize, Serialize};

use crate::site::{SiteMap, SiteState};

/// Weight of a site nobody changed: its load is taken as measured.
pub const FULL_WEIGHT: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSetting {
    /// A drained site counts as unavailable whatever its checks say.
    #[serde(default)]
    pub drained: bool,
    /// Percent of the site's spare capacity the policy may count on (0..=100).
    #[serde(default = "full_weight")]
    pub weight: u32,
}

fn full_weight() -> u32 {
    FULL_WEIGHT
}

impl Default for SiteSetting {
    fn default() -> Self {
        SiteSetting { drained: false, weight: FULL_WEIGHT }
    }
}

impl SiteSetting {
    /// The state the policy sees. Weight scales the spare capacity (1000 − load, per mille):
    /// weight 50 makes an idle site look half loaded, weight 0 fully loaded. Only services with
    /// `by_load` order by load, so weight changes nothing for the others.
    pub fn apply(&self, mut state: SiteState) -> SiteState {
        if self.drained {
            state.available = false;
        }
        if self.weight < FULL_WEIGHT {
            let spare = 1000 - state.load.min(1000);
            state.load = 1000 - spare * self.weight / FULL_WEIGHT;
        }
        state
    }
}

/// Every site's state after drains and weights.
pub fn effective(states: &SiteMap, settings: &std::collections::BTreeMap<String, SiteSetting>) -> SiteMap {
    states
        .iter()
        .map(|(name, state)| {
            let state = settings.get(name).map_or(*state, |s| s.apply(*state));
            (name.clone(), state)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_makes_unavailable_and_weight_scales_spare_capacity() {
        let idle = SiteState { available: true, load: 0, rtt_us: 0 };
        let drained = SiteSetting { drained: true, weight: FULL_WEIGHT };
        assert!(!drained.apply(idle).available);
        let half = SiteSetting { drained: false, weight: 50 };
        assert_eq!(half.apply(idle).load, 500);
        assert_eq!(half.apply(SiteState { load: 600, ..idle }).load, 800);
        assert_eq!(SiteSetting::default().apply(SiteState { load: 300, ..idle }).load, 300);
    }
}
