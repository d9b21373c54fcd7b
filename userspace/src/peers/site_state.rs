//! The state a site reports about itself is the policy's site state.
pub use crate::policy::SiteState;
