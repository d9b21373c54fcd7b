//! The frame's memory. Every read and write of the packet goes through this file, after one
//! bounds check (`Packet::span_in_frame`), so the verifier sees a check against the frame's end
//! before each access; nothing else in the program touches packet memory.
//!
//! SAFETY, for every `unsafe` below: an access is made only to bytes `span_in_frame` found
//! between the frame's start and end as the context gave them when the `Packet` was made, and
//! no `Packet` is used across a call that resizes the frame (`adjust_tail`, `adjust_head`),
//! which would move those bounds (the verifier refuses a program that tries: a resize
//! invalidates every packet pointer it tracks). Packet memory is plain bytes: it is read and written through
//! unaligned raw-pointer loads and stores (never references, so no aliasing rules apply), and
//! only as `Plain` types, which every bit pattern is a valid value of. The resize helpers take
//! the live context's own `xdp_md` pointer.
//!
//! Two ways to hold the bounds, one check: a `Packet` reads them from the context once (the
//! response writer: read on every access they would be loaded again after each store, which
//! the compiler cannot prove leaves them alone); a `Cursor` reads them afresh for every access
//! (the parser: each check then starts afresh, which lets the verifier merge the paths it takes
//! for different name lengths).

use core::mem::size_of;

use aya_ebpf::{
    helpers::generated::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_store_bytes},
    programs::XdpContext,
};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
    vlan::VlanHdr,
};
use switchyard_common::{
    fold_swapped,
    proto::{DnsHdr, OptHdr},
    word_sum_swapped,
};

/// Types that any bytes are a valid value of, so they can be read straight from the frame.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid `Self`: integers, byte
/// arrays and `#[repr(C)]` structs of them without padding.
pub unsafe trait Plain: Copy {}

unsafe impl Plain for u8 {}
unsafe impl<const N: usize> Plain for [u8; N] {}
unsafe impl Plain for EthHdr {}
unsafe impl Plain for VlanHdr {}
unsafe impl Plain for Ipv4Hdr {}
unsafe impl Plain for Ipv6Hdr {}
unsafe impl Plain for UdpHdr {}
unsafe impl Plain for DnsHdr {}
unsafe impl Plain for OptHdr {}

/// The frame, with its bounds read from the context once.
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

    #[inline(always)]
    pub fn frame_len(&self) -> usize {
        self.end - self.start
    }

    /// The bounds check: the address of the `len` bytes at `offset`, when they end at or before
    /// the frame's end.
    #[inline(always)]
    fn span_in_frame(&self, offset: usize, len: usize) -> Option<usize> {
        if self.start + offset + len > self.end {
            return None;
        }
        Some(self.start + offset)
    }

    /// Whether a whole `T` lies at `offset`.
    #[inline(always)]
    pub fn has<T>(&self, offset: usize) -> bool {
        self.span_in_frame(offset, size_of::<T>()).is_some()
    }

    #[inline(always)]
    pub fn read<T: Plain>(&self, offset: usize) -> Option<T> {
        let at = self.span_in_frame(offset, size_of::<T>())?;
        Some(unsafe { (at as *const T).read_unaligned() })
    }

    #[inline(always)]
    pub fn write<T: Plain>(&self, offset: usize, value: T) -> Option<()> {
        let at = self.span_in_frame(offset, size_of::<T>())?;
        unsafe { (at as *mut T).write_unaligned(value) };
        Some(())
    }

    /// Copies `head` and `tail` to the frame back to back, under one bounds check for both.
    #[inline(always)]
    pub fn write_pair<A: Plain, B: Plain>(&self, offset: usize, head: &A, tail: &B) -> Option<()> {
        let at = self.span_in_frame(offset, size_of::<A>() + size_of::<B>())?;
        unsafe {
            core::ptr::copy_nonoverlapping(head, at as *mut A, 1);
            core::ptr::copy_nonoverlapping(tail, (at + size_of::<A>()) as *mut B, 1);
        }
        Some(())
    }

    /// The big-endian (wire order) 16-bit field at `offset`.
    #[inline(always)]
    pub fn read_u16(&self, offset: usize) -> Option<u16> {
        self.read::<[u8; 2]>(offset).map(u16::from_be_bytes)
    }

    #[inline(always)]
    pub fn write_u16(&self, offset: usize, value: u16) -> Option<()> {
        self.write(offset, value.to_be_bytes())
    }

    /// Writes one byte at a computed offset, checked as the first of two: for a one-byte check
    /// the compiler emits a comparison the verifier cannot tie to the store.
    #[inline(always)]
    pub fn write_u8_checked_as_pair(&self, offset: usize, value: u8) -> Option<()> {
        let at = self.span_in_frame(offset, size_of::<[u8; 2]>())?;
        unsafe { (at as *mut u8).write(value) };
        Some(())
    }

    /// Swaps two equally long fields of the frame (addresses, ports) that start at even offsets,
    /// and returns their checksum contribution (folded), which the swap leaves as it was.
    #[inline(always)]
    pub fn swap<const N: usize>(&self, a: usize, b: usize) -> Option<u64> {
        let pa = self.span_in_frame(a, size_of::<[u8; N]>())?;
        let pb = self.span_in_frame(b, size_of::<[u8; N]>())?;
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

/// Reads the frame front to back (xdp-tutorial's header cursor), with the bounds read from the
/// context afresh for every access.
pub struct Cursor<'a> {
    ctx: &'a XdpContext,
    /// Offset of the next byte to parse.
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext, pos: usize) -> Cursor<'a> {
        Cursor { ctx, pos }
    }

    /// The `T` at the cursor; the cursor moves past it.
    #[inline(always)]
    pub fn parse<T: Plain>(&mut self) -> Option<T> {
        let value = self.peek::<T>(0)?;
        self.pos += size_of::<T>();
        Some(value)
    }

    /// The `T` `ahead` bytes past the cursor; the cursor stays.
    #[inline(always)]
    pub fn peek<T: Plain>(&self, ahead: usize) -> Option<T> {
        Packet::new(self.ctx).read(self.pos + ahead)
    }

    /// The big-endian 16-bit field `ahead` bytes past the cursor.
    #[inline(always)]
    pub fn peek_u16(&self, ahead: usize) -> Option<u16> {
        Packet::new(self.ctx).read_u16(self.pos + ahead)
    }

    /// The frame's length in bytes.
    #[inline(always)]
    pub fn frame_len(&self) -> usize {
        Packet::new(self.ctx).frame_len()
    }
}

/// Grows (positive) or shrinks the frame at its tail; false when the kernel refuses. Every
/// `Packet` made before is stale afterwards.
#[inline(always)]
pub fn adjust_tail(ctx: &XdpContext, delta: i32) -> bool {
    unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) == 0 }
}

/// Copies the first `len` bytes of `words` (in memory order) into the frame at `offset` with
/// one kernel call, which checks the frame's bounds itself (a copy loop would be checked by the
/// verifier word by word, on every path that reaches it); false when `len` is 0, longer than
/// `words` or past the frame's end.
#[inline(always)]
pub fn store_words<const W: usize>(ctx: &XdpContext, offset: usize, words: &[u64; W], len: usize) -> bool {
    if len == 0 || len > W * size_of::<u64>() {
        return false;
    }
    // SAFETY: the kernel reads `len` bytes from `words`, which holds at least that many, and
    // writes them into the frame only within its bounds.
    unsafe { bpf_xdp_store_bytes(ctx.ctx, offset as u32, words.as_ptr() as *mut _, len as u32) == 0 }
}

/// Moves the frame's start by `delta` bytes (negative: takes headroom); false when the kernel
/// refuses. Every `Packet` made before is stale afterwards.
#[inline(always)]
pub fn adjust_head(ctx: &XdpContext, delta: i32) -> bool {
    unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) == 0 }
}
