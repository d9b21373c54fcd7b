//! `bench dnsperf`: the same zone, query mix and veth pair for Switchyard (XDP on and off) and
//! well-known authoritative servers, measured one at a time with dnsperf.

pub mod chart;
pub mod cores;
pub mod kernel;
pub mod loadgen;
pub mod process;
pub mod report;
pub mod servers;
pub mod xdpgun;
pub mod zone;
