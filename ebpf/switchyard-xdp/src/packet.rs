//! Bounds-checked access to the frame. Every read and write goes through these, so the verifier
//! sees a check against the frame's end before each access.
//!
//! The frame's bounds are read from the context once per `Packet`: read on every access they
//! would be loaded again after each store, which the compiler cannot prove leaves them alone.
//! Helpers that resize the frame (adjust_head/adjust_tail) make a `Packet` stale.

use aya_ebpf::programs::XdpContext;
use network_types::{eth::EthHdr, ip::Ipv4Hdr, udp::UdpHdr};

use switchyard_common::{fold_swapped, word_sum_swapped};

#[derive(Clone, Copy)]
pub struct Packet {
    start: usize,
    end: usize,
}

impl Packet {
    #[inline(always)]
    pub fn new(ctx: &XdpContext) -> Packet {
        Packet { start: ctx.data(), end: ctx.data_end() }
    }

    /// Pointer to `T` at `offset`, or `None` when the frame is too short.
    #[inline(always)]
    pub fn at<T>(&self, offset: usize) -> Option<*mut T> {
        if self.start + offset + core::mem::size_of::<T>() > self.end {
            return None;
        }
        Some((self.start + offset) as *mut T)
    }

    #[inline(always)]
    pub fn u8_at(&self, offset: usize) -> Option<u8> {
        self.at::<u8>(offset).map(|p| unsafe { *p })
    }

    #[inline(always)]
    pub fn u16_at(&self, offset: usize) -> Option<u16> {
        self.at::<[u8; 2]>(offset).map(|p| u16::from_be_bytes(unsafe { *p }))
    }

    #[inline(always)]
    pub fn set_u16(&self, offset: usize, value: u16) -> Option<()> {
        let p = self.at::<[u8; 2]>(offset)?;
        unsafe { *p = value.to_be_bytes() };
        Some(())
    }

    /// Swaps two equally long fields of the frame (addresses, ports) that start at even offsets,
    /// and returns their checksum contribution (folded), which the swap leaves as it was.
    #[inline(always)]
    pub fn swap<const N: usize>(&self, a: usize, b: usize) -> Option<u64> {
        let pa = self.at::<[u8; N]>(a)? as usize;
        let pb = self.at::<[u8; N]>(b)? as usize;
        // Whole words at a time (the build allows misaligned access); the sum is kept as
        // little-endian lanes and turned into the wire's order once.
        let mut sum = 0u64;
        let mut i = 0;
        while i + 8 <= N {
            sum += unsafe { swap_words::<u64>(pa + i, pb + i) };
            i += 8;
        }
        if i + 4 <= N {
            sum += unsafe { swap_words::<u32>(pa + i, pb + i) };
            i += 4;
        }
        if i + 2 <= N {
            sum += unsafe { swap_words::<u16>(pa + i, pb + i) };
        }
        Some(fold_swapped(sum))
    }
}

/// Swaps the `T`s at `a` and `b` and returns their sum as little-endian lanes, unfolded.
///
/// # Safety
/// Both must lie in the frame (checked by the caller).
#[inline(always)]
unsafe fn swap_words<T: Copy + Into<u64>>(a: usize, b: usize) -> u64 {
    let (pa, pb) = (a as *mut T, b as *mut T);
    let (va, vb) = unsafe { (pa.read_unaligned(), pb.read_unaligned()) };
    unsafe { (pa.write_unaligned(vb), pb.write_unaligned(va)) };
    word_sum_swapped(va.into()) + word_sum_swapped(vb.into())
}

/// The benchmark floor: untagged IPv4 UDP, swap MACs, addresses and ports.
#[inline(always)]
pub fn swap_ipv4_udp(ctx: &XdpContext) -> Option<()> {
    let pkt = Packet::new(ctx);
    if pkt.u16_at(12)? != 0x0800 || pkt.u8_at(EthHdr::LEN + 9)? != 17 {
        return None;
    }
    let l4 = EthHdr::LEN + Ipv4Hdr::LEN;
    pkt.at::<UdpHdr>(l4)?;
    pkt.swap::<6>(0, 6)?;
    pkt.swap::<4>(EthHdr::LEN + 12, EthHdr::LEN + 16)?;
    pkt.swap::<2>(l4, l4 + 2).map(|_| ())
}

/// Pointer to `T` at `offset` with the bounds read from the context: each check starts afresh,
/// which lets the verifier merge the paths the parser takes for different name lengths.
#[inline(always)]
pub fn at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    Packet::new(ctx).at(offset)
}

#[inline(always)]
pub fn u8_at(ctx: &XdpContext, offset: usize) -> Option<u8> {
    Packet::new(ctx).u8_at(offset)
}

#[inline(always)]
pub fn u16_at(ctx: &XdpContext, offset: usize) -> Option<u16> {
    Packet::new(ctx).u16_at(offset)
}
