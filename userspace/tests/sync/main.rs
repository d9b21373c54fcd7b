//! Integration tests; they use only the public API plus plain SQL on the database files.

mod anti_entropy;
mod bad_batches;
mod capture;
mod consolidation;
mod convergence;
mod hlc;
mod http;
mod lock_wait;
mod migration;
mod pruning;
mod restore;
mod setup;
mod sqlite_build;
mod statements;
mod support;
