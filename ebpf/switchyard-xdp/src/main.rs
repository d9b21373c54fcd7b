//! Switchyard's in-kernel DNS responder.
//!
//! Answers standard A/AAAA queries (IPv4 or IPv6, optional 802.1Q tag, optional EDNS OPT) for
//! names in the `ANSWERS` map by rewriting the frame in place and sending it back (XDP_TX).
//! Everything else goes up to the stack unchanged (XDP_PASS), counted by reason.
#![no_std]
#![no_main]

mod checksum;
mod packet;
mod query;
mod response;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{Array, HashMap, LpmTrie, PerCpuArray},
    programs::XdpContext,
};
use switchyard_common::{Counter, MapEntry, MapKey, Scratch, XdpConfig};

/// Preallocated (no BPF_F_NO_PREALLOC): a lookup of an entry that is not in the CPU's caches
/// measured about a fifth cheaper than with allocate-on-insert (`cargo xtask bench xdp`,
/// ipv4_a_hit_many, medians of interleaved runs, which vary by a third from one load to the
/// next). The memory, about 300 bytes per entry of `xdp.max_entries`, is taken at load. Since
/// Linux 6.1 allocate-on-insert maps reuse freed elements at once as well, so neither kind
/// protects a reader better from an element replaced under it.
#[map]
static ANSWERS: HashMap<MapKey, MapEntry> = HashMap::with_max_entries(65536, 0);
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT as u32, 0);
#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);
#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);
#[map]
static VIEWS_V4: LpmTrie<[u8; 4], u32> = LpmTrie::with_max_entries(16384, 0);
#[map]
static VIEWS_V6: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(16384, 0);

#[xdp]
pub fn switchyard(ctx: XdpContext) -> u32 {
    let (action, outcome) = match response::respond(&ctx) {
        Ok(answered) => (xdp_action::XDP_TX, answered),
        Err(reason) => (xdp_action::XDP_PASS, reason),
    };
    count(outcome);
    action
}

/// Passes everything. Attached to the far end of a veth pair, where frames sent with XDP_TX are
/// otherwise dropped.
#[xdp]
pub fn switchyard_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Swaps MAC and IPv4 addresses and UDP ports and transmits: the least any responder must do.
/// Only used as the floor in benchmarks.
#[xdp]
pub fn switchyard_swap(ctx: XdpContext) -> u32 {
    match packet::swap_ipv4_udp(&ctx) {
        Some(()) => xdp_action::XDP_TX,
        None => xdp_action::XDP_PASS,
    }
}

#[inline(always)]
fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU slot: no other writer.
        unsafe { *slot += 1 };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
