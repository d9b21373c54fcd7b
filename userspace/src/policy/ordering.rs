//! Reordering of available sites by load and RTT, with hysteresis.
//!
//! The rule: an available site moves ahead of the available site just before
//! it only when it is *clearly* better — lower by more than an absolute margin
//! AND by more than a relative margin of the incumbent's value. Load is
//! compared first; RTT only breaks what load leaves undecided. A new order is
//! adopted only after it came out of `hold` consecutive evaluations, so a
//! single noisy sample cannot flip answers. Once reordered, sites stay in the
//! new order until the reverse difference is clear too (sticky order).
//! Availability changes are never held back: unavailable sites are filtered
//! out of the order at once.

use crate::policy::config::{LoadOrdering, RttOrdering};
use crate::site::SiteState;

/// Site index into the policy's site list.
pub(crate) type SiteIndex = u16;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Margin {
    percent: u32,
    abs: u32,
}

impl Margin {
    /// True when `challenger` is lower than `incumbent` by both margins.
    fn clearly_lower(self, challenger: u32, incumbent: u32) -> bool {
        let diff = incumbent.saturating_sub(challenger);
        diff > self.abs && u64::from(diff) * 100 > u64::from(incumbent) * u64::from(self.percent)
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Criteria {
    load: Option<Margin>,
    rtt: Option<Margin>,
    hold: u32,
}

impl Criteria {
    pub(crate) fn new(load: Option<LoadOrdering>, rtt: Option<RttOrdering>, hold: u32) -> Option<Self> {
        if load.is_none() && rtt.is_none() {
            return None;
        }
        Some(Criteria {
            load: load.map(|l| Margin { percent: l.margin_percent, abs: l.margin_abs }),
            rtt: rtt.map(|r| Margin { percent: r.margin_percent, abs: r.margin_abs_us }),
            hold: hold.max(1),
        })
    }

    /// Should `behind` move ahead of `ahead`?
    fn overtakes(&self, behind: &SiteState, ahead: &SiteState) -> bool {
        if let Some(margin) = self.load {
            if margin.clearly_lower(behind.load, ahead.load) {
                return true;
            }
            if margin.clearly_lower(ahead.load, behind.load) {
                return false;
            }
        }
        self.rtt.is_some_and(|margin| margin.clearly_lower(behind.rtt_us, ahead.rtt_us))
    }
}

/// The order in force for one (service, view) and the order waiting to be adopted.
#[derive(Clone, Debug)]
pub(crate) struct OrderState {
    current: Vec<SiteIndex>,
    pending: Option<(Vec<SiteIndex>, u32)>,
}

impl OrderState {
    pub(crate) fn new(preference: &[SiteIndex]) -> Self {
        OrderState { current: preference.to_vec(), pending: None }
    }

    /// Feeds one evaluation and returns the order in force afterwards.
    pub(crate) fn step(&mut self, states: &[Option<SiteState>], criteria: &Criteria) -> &[SiteIndex] {
        let candidate = reorder(&self.current, states, criteria);
        if candidate == self.current {
            self.pending = None;
            return &self.current;
        }
        let seen = match self.pending.take() {
            Some((pending, seen)) if pending == candidate => seen + 1,
            _ => 1,
        };
        if seen >= criteria.hold {
            self.current = candidate;
        } else {
            self.pending = Some((candidate, seen));
        }
        &self.current
    }
}

fn available(states: &[Option<SiteState>], site: SiteIndex) -> Option<&SiteState> {
    states[usize::from(site)].as_ref().filter(|state| state.available)
}

/// Bubble sort of the available sites, keeping unavailable ones in their
/// slots. Passes are bounded by the site count so that even a non-transitive
/// mix of load and RTT margins always ends.
fn reorder(current: &[SiteIndex], states: &[Option<SiteState>], criteria: &Criteria) -> Vec<SiteIndex> {
    let slots: Vec<usize> = (0..current.len()).filter(|&i| available(states, current[i]).is_some()).collect();
    let mut order = current.to_vec();
    for _ in 0..slots.len() {
        let mut swapped = false;
        for pair in slots.windows(2) {
            let (ahead, behind) = (order[pair[0]], order[pair[1]]);
            let (Some(ahead_state), Some(behind_state)) = (available(states, ahead), available(states, behind)) else {
                continue;
            };
            if criteria.overtakes(behind_state, ahead_state) {
                order.swap(pair[0], pair[1]);
                swapped = true;
            }
        }
        if !swapped {
            break;
        }
    }
    order
}
