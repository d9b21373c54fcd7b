//! The lab: network namespaces joined by veth pairs, the daemon started inside them, and real
//! clients. Used by the integration tests, the demo and the benchmarks.
//!
//! Everything made here is removed on drop, also when a test fails.
pub mod answers;
pub mod bench;
pub mod bind_resolver;
pub mod browser;
pub mod capture;
pub mod client;
pub mod daemon;
pub mod dnsperf;
pub mod fault_proxy;
pub mod frames;
pub mod haproxy;
pub mod http_server;
pub mod key_file;
pub mod lab;
pub mod link;
pub mod netns;
pub mod peer_sites;
pub mod privileges;
pub mod query_loop;
pub mod reference;
pub mod resolver;
pub mod rrl_flood;
pub mod signed_zone;
pub mod sync_attack;
pub mod sync_bench;
pub mod sync_faults;
pub mod sync_lab;
pub mod topology;
pub mod two_sites;
pub mod xdp_harness;
