//! Switchyard: health-aware authoritative DNS for services that run at several sites.
//!
//! Hot A/AAAA answers come from an XDP program (`ebpf/`); this crate is the daemon that serves
//! everything else, keeps the program's maps true, and the operator's CLI.
pub mod admin;
pub mod answers;
pub mod bpf;
pub mod config;
pub mod daemon;
pub mod dns;
