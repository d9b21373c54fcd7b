//! Which sites answer for each service, and in what order.
//!
//! The policy is pure: it takes the current [`SiteState`](crate::site::SiteState) of every
//! site and produces its [`Decisions`]: the ordered addresses per service, family and view.
//! The only state it keeps between evaluations is what hysteresis and `keep_last` need, so the
//! same inputs in the same sequence always give the same answers.
//!
//! Rules, per service and view: available sites in order; if none is
//! available, `when_all_down` decides (`answer_all`: every site in preference
//! order; `answer_none`: no addresses; `keep_last`: the sites of the last
//! answer that had one available). With `by_load` / `by_rtt`, an available
//! site moves ahead of the one before it only when clearly better (lower by
//! more than `margin_abs` and by more than `margin_percent`), and only after
//! the new order came out of `reorder_hold` consecutive evaluations.
//!
//! Configuration:
//!
//! ```toml
//! [[service]]
//! name = "www.example.com"
//! ttl = 20                          # seconds, default 20
//! sites = ["a", "b"]                # preference for the default view
//! when_all_down = "answer_all"      # | "answer_none" | "keep_last"
//! views = { eu = ["b", "a"] }       # preference per client view
//! reorder_hold = 3                  # default 3
//! by_load = { margin_percent = 20, margin_abs = 100 }     # optional
//! by_rtt = { margin_percent = 20, margin_abs_us = 5000 }  # optional
//! first_weights = { a = 3, b = 1 }  # optional: weighted first answer
//! ```
//!
//! With `first_weights`, each decision also carries the address group of every answered site
//! with a weight above 0: a client subnet gets one of them first (chosen by weight from a hash
//! of the subnet, see `switchyard_common::FirstChoice`), the others in the decision's order.

mod config;
mod decisions;
mod engine;
mod ordering;

#[cfg(test)]
mod tests;

pub use config::{LoadOrdering, PolicyConfig, PolicyConfigError, RttOrdering, ServiceConfig, WhenAllDown};
pub use decisions::{Decision, DecisionChange, DecisionKey, Decisions, Family, FirstGroup, diff};
pub use engine::Policy;
