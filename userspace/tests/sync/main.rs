//! Integration tests; they use only the public API plus plain SQL on the database files.

mod bad_batches;
mod capture;
mod consolidation;
mod convergence;
mod hlc;
mod http;
mod pruning;
mod setup;
mod support;
