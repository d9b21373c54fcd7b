//! The userspace DNS server: authoritative logic and its UDP/TCP listeners.
pub mod authority;
pub mod counters;
mod reply_from;
pub mod server;
mod udp;

#[cfg(test)]
mod authority_tests;
