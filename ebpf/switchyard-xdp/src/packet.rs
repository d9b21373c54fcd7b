//! Bounds-checked access to the frame. Every read and write goes through these, so the verifier
//! sees a check against `data_end` before each access.

use aya_ebpf::programs::XdpContext;
use network_types::{eth::EthHdr, ip::Ipv4Hdr, udp::UdpHdr};

/// Pointer to `T` at `offset`, or `None` when the frame is too short.
#[inline(always)]
pub fn at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + offset) as *mut T)
}

#[inline(always)]
pub fn u8_at(ctx: &XdpContext, offset: usize) -> Option<u8> {
    at::<u8>(ctx, offset).map(|p| unsafe { *p })
}

#[inline(always)]
pub fn u16_at(ctx: &XdpContext, offset: usize) -> Option<u16> {
    at::<[u8; 2]>(ctx, offset).map(|p| u16::from_be_bytes(unsafe { *p }))
}

#[inline(always)]
pub fn set_u16(ctx: &XdpContext, offset: usize, value: u16) -> Option<()> {
    let p = at::<[u8; 2]>(ctx, offset)?;
    unsafe { *p = value.to_be_bytes() };
    Some(())
}

/// Swaps two equally long fields of the frame (addresses, ports).
#[inline(always)]
pub fn swap<const N: usize>(ctx: &XdpContext, a: usize, b: usize) -> Option<()> {
    let pa = at::<[u8; N]>(ctx, a)?;
    let pb = at::<[u8; N]>(ctx, b)?;
    unsafe { core::ptr::swap(pa, pb) };
    Some(())
}

/// The benchmark floor: untagged IPv4 UDP, swap MACs, addresses and ports.
#[inline(always)]
pub fn swap_ipv4_udp(ctx: &XdpContext) -> Option<()> {
    if u16_at(ctx, 12)? != 0x0800 || u8_at(ctx, EthHdr::LEN + 9)? != 17 {
        return None;
    }
    let l4 = EthHdr::LEN + Ipv4Hdr::LEN;
    at::<UdpHdr>(ctx, l4)?;
    swap::<6>(ctx, 0, 6)?;
    swap::<4>(ctx, EthHdr::LEN + 12, EthHdr::LEN + 16)?;
    swap::<2>(ctx, l4, l4 + 2)
}
