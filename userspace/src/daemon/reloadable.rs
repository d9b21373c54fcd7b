//! What a reload replaces while everything else keeps running: the config, the health
//! monitor, the peer service and the sync node. Readers (status, metrics, admin checks) load the current ones
//! on each use.

use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::{config::Config, health::HealthMonitor, peers::PeerHandle, sync::SyncNode};

/// The config and health monitor in use, swapped whole by a reload.
pub struct Reloadable {
    pub config: Arc<ArcSwap<Config>>,
    pub monitor: ArcSwap<HealthMonitor>,
    /// `None` without `[peers]`.
    pub peers: ArcSwapOption<PeerHandle>,
    /// `None` without `[sync]`.
    pub sync: ArcSwapOption<SyncNode>,
}

impl Reloadable {
    pub fn new(config: Config, monitor: Arc<HealthMonitor>) -> Reloadable {
        Reloadable {
            config: Arc::new(ArcSwap::from_pointee(config)),
            monitor: ArcSwap::new(monitor),
            peers: ArcSwapOption::empty(),
            sync: ArcSwapOption::empty(),
        }
    }
}
