//! What a reload replaces while everything else keeps running: the config and the health
//! monitor. Readers (status, metrics, admin checks) load the current ones on each use.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::{config::Config, health::HealthMonitor};

/// The config and health monitor in use, swapped whole by a reload.
pub struct Reloadable {
    pub config: Arc<ArcSwap<Config>>,
    pub monitor: ArcSwap<HealthMonitor>,
}

impl Reloadable {
    pub fn new(config: Config, monitor: Arc<HealthMonitor>) -> Reloadable {
        Reloadable { config: Arc::new(ArcSwap::from_pointee(config)), monitor: ArcSwap::new(monitor) }
    }
}
