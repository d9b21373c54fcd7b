//! `bench dnsperf`: the same zone, query mix and veth pair for Switchyard (XDP on and off),
//! well-known authoritative servers and two floors, measured one at a time with dnsperf.

pub mod chart;
pub mod cores;
pub mod floors;
pub mod kernel;
pub mod loadgen;
pub mod process;
pub mod report;
pub mod servers;
pub mod signed;
pub mod xdpgun;
pub mod zone;
