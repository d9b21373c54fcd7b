//! The userspace DNS server: authoritative logic and its UDP/TCP listeners.
pub mod authority;
mod client_subnet;
pub mod cookies;
pub mod counters;
mod fast_answer;
mod fast_denial;
pub mod identity;
mod reply_from;
pub mod server;
mod signed;
mod tcp;
mod udp;

pub use fast_denial::NegativeTemplate;

#[cfg(test)]
mod authority_tests;
#[cfg(test)]
mod cookie_tests;
#[cfg(test)]
mod fast_answer_tests;
#[cfg(test)]
mod signed_tests;
#[cfg(test)]
mod wildcard_tests;
