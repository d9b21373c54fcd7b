//! Switchyard: health-aware authoritative DNS for services that run at several sites.
//!
//! Hot A/AAAA answers come from an XDP program (`ebpf/`); this crate is the daemon that serves
//! everything else, keeps the program's maps true, and the operator's CLI.
//!
//! A probe result becomes an answer in stages, one module each: `health` probes the sites and
//! publishes each `site`'s state (`peers` adds the states other sites report), `policy`
//! decides which sites answer and in what order, `answers` turns the decisions into the answer
//! table that `dns` serves and `bpf` mirrors into the XDP program's map. `daemon` starts,
//! serves, reloads and stops all of it; `operator` holds what an operator set by hand; `cli`
//! is the commands that talk to a running daemon.
pub mod answers;
pub mod bpf;
pub mod cli;
pub mod client;
pub mod client_places;
pub mod config;
pub mod cookie_secrets;
pub mod daemon;
pub mod dns;
pub mod dnssec;
pub mod geo;
pub mod health;
pub mod json_file;
pub mod local_addresses;
#[cfg(test)]
mod log_capture;
pub mod operator;
pub mod peers;
pub mod policy;
pub mod rrl;
pub mod site;
pub mod sync;
