//! What an operator changes by hand while the daemon runs: answer overrides, drained sites and
//! site weights. Kept apart from the config so that a reload does not undo it, and saved in a
//! state file so that a restart does not either.

mod error;
mod handle;
mod overrides;
mod sites;
mod state_file;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use error::{OperatorError, StateFileError};
pub use handle::Handle;
pub use overrides::{Override, Qtype, apply as apply_overrides};
pub use sites::{FULL_WEIGHT, SiteSetting, effective as effective_sites};
pub use state_file::{load as load_state, path as state_path, save as save_state};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorState {
    /// At most one per (name, type, view).
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Only sites an operator touched; the others are undrained with full weight.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteSetting>,
}

impl OperatorState {
    /// Adds `new`, replacing an override of the same name, type and view.
    pub fn set_override(&mut self, new: Override) {
        self.overrides.retain(|o| !o.same_key(&new));
        self.overrides.push(new);
        self.overrides.sort_by(|a, b| (&a.name, a.qtype, &a.view).cmp(&(&b.name, b.qtype, &b.view)));
    }

    /// Removes the override with this key; false when there was none.
    pub fn remove_override(&mut self, key: &Override) -> bool {
        let before = self.overrides.len();
        self.overrides.retain(|o| !o.same_key(key));
        self.overrides.len() != before
    }

    /// Whether every override still has a place in `config` (its service and view exist).
    pub fn fits(&self, config: &crate::config::Config) -> bool {
        self.overrides.iter().all(|o| placed(o, config).is_ok())
    }

    /// The overrides `config` has no place for, as an operator names them
    /// ("api.example.com. A (view default)").
    pub fn unfitting(&self, config: &crate::config::Config) -> Vec<String> {
        self.overrides
            .iter()
            .filter(|o| placed(o, config).is_err())
            .map(|o| format!("{} {} (view {})", o.name, o.qtype, view_name(&o.view)))
            .collect()
    }

    /// Drops, with a log line each, the overrides `config` has no place for; true when any went.
    pub fn drop_unfitting(&mut self, config: &crate::config::Config) -> bool {
        let before = self.overrides.len();
        self.overrides.retain(|o| match placed(o, config) {
            Ok(()) => true,
            Err(e) => {
                let view = view_name(&o.view);
                tracing::warn!(name = %o.name, qtype = %o.qtype, view, error = %e, "override dropped: the config has no place for it");
                false
            }
        });
        self.overrides.len() != before
    }

    pub fn site(&self, name: &str) -> SiteSetting {
        self.sites.get(name).copied().unwrap_or_default()
    }

    /// Stores a site's setting, forgetting it when it is back to the default.
    pub fn set_site(&mut self, name: &str, setting: SiteSetting) {
        if setting == SiteSetting::default() {
            self.sites.remove(name);
        } else {
            self.sites.insert(name.to_string(), setting);
        }
    }
}

/// Whether `config` has a place for `o`: its service and view exist, its addresses fit.
fn placed(o: &Override, config: &crate::config::Config) -> Result<(), OperatorError> {
    o.clone().checked(config, true).map(|_| ())
}

/// An override's view as the operator names it (`None` is the default view).
pub fn view_name(view: &Option<String>) -> &str {
    view.as_deref().unwrap_or(crate::config::DEFAULT_VIEW_NAME)
}

/// The operator state with the number of the change that made it, so that a caller can wait
/// until the control loop applied its change.
#[derive(Clone, Debug, Default)]
pub struct Versioned {
    pub generation: u64,
    pub state: OperatorState,
}
