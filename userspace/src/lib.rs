//! Switchyard: health-aware authoritative DNS for services that run at several sites.
//!
//! Hot A/AAAA answers come from an XDP program (`ebpf/`); this crate is the daemon that serves
//! everything else, keeps the program's maps true, and the operator's CLI.
pub mod admin;
pub mod answers;
pub mod bpf;
pub mod client;
pub mod commands;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dns;
pub mod health;
pub mod live;
pub mod metrics;
pub mod operator;
pub mod peers;
pub mod policy;
pub mod reload;
pub mod rewrites;
pub mod site_feeds;
pub mod status_table;
pub mod sync;
pub mod sync_status_table;
