//! What a client of the service does: resolve the name at a given DNS server, keep the order it
//! answered in (best site first), and send requests to the first address that works, moving on
//! to the next only when one fails.
pub mod cli;
pub mod error;
mod failover;
pub mod fetch;
pub mod reqwest_dns;
pub mod resolv_conf;
pub mod resolve;

#[cfg(test)]
mod fetch_tests;
#[cfg(test)]
mod resolve_tests;
#[cfg(test)]
mod test_servers;

pub use error::ClientError;
pub use fetch::{FetchOptions, Fetched, Fetcher};
pub use reqwest_dns::{OrderedResolve, http_client};
pub use resolve::{FamilyOrder, Resolved, Resolver, ResolverOptions};
