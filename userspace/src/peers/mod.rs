//! Peer heartbeats: each Switchyard DNS server tells the servers at the other
//! sites that it is up and what state its own site is in, over authenticated
//! UDP datagrams, and learns the same about them.
//!
//! * [`PeersConfig`] — the `[peers]` config section (listen address, period,
//!   liveness window, clock skew, key files, peer list).
//! * [`PeerService::start`] — binds the socket and runs the sender, receiver
//!   and liveness-timer tasks; returns a [`PeerHandle`].
//! * [`PeerHandle::views`] — a watch channel of `site -> PeerView`; a site
//!   whose view is not alive must be treated as unavailable.
//! * [`PeerHandle::status`] — a serialisable snapshot for `switchyard status`.
//!
//! Liveness, the wire format and replay protection are documented in
//! [`liveness`], [`wire`] and `replay.rs`. A peer is identified by the
//! (site, node) inside the authenticated datagram, not by its source
//! address, so NAT or a wildcard `listen` on the sender does not matter. The
//! staleness check compares send time with our wall clock: sites need NTP.

mod config;
mod drops;
mod health_bridge;
mod keys;
pub mod liveness;
mod names;
mod peer_table;
mod period_clock;
mod replay;
mod service;
mod status;
mod view;
pub mod wire;

pub use self::config::{ConfigError, PeerConfig, PeersConfig};
pub use self::drops::{DropCounters, DropReason};
pub use self::health_bridge::HealthBridge;
pub use self::keys::{KeyError, KeyRing, PeerKey, read_key_file};
pub use self::liveness::LivenessRule;
pub use self::peer_table::SavedPeer;
pub use self::period_clock::PeriodClock;
pub use self::service::{PeerHandle, PeerService, StartError};
pub use self::status::{PeerStatus, PeersStatus};
pub use self::view::{PeerView, PeerViews};
