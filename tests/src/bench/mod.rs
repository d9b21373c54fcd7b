//! What the bench binaries share: answer watching and flap counting, the map rewrite
//! measurement, Ctrl-C handling, statistics and the JSON report.

pub mod flap;
pub mod interrupt;
pub mod load;
pub mod map_rewrite;
pub mod report;
pub mod signed_failover;
pub mod stats;
pub mod watch;
