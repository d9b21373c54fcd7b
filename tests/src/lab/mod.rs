//! The two-site lab behind `cargo xtask demo`: per site a load balancer (HAProxy) in front of
//! two web app instances sharing the site's SQLite database, and a Switchyard daemon with XDP
//! on the site's link; a client namespace; all joined by a bridge. A scripted story then breaks
//! and repairs site A piece by piece and prints what the DNS servers and a client saw.
//!
//! Everything is made in namespaces of its own and removed on drop, also on failure.

pub mod addresses;
pub mod bring_up;
pub mod client_loop;
pub mod daemon_config;
pub mod database;
pub mod haproxy;
pub mod http;
pub mod process;
pub mod site;
pub mod story;
pub mod timeline;
pub mod topology;
pub mod web;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Set by Ctrl-C: every wait gives up and the lab is torn down.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
