//! The RRSIG a DO=1 answer of a signed zone carries: the daemon's record from `SIGNATURES`,
//! served only while it belongs to the answer set found and is fresh; otherwise the query goes
//! to userspace, which signs.

use core::mem::offset_of;

use aya_ebpf::programs::XdpContext;
use switchyard_common::{
    AnswerCopy, Counter, MAX_SIGNATURE_RECORD, MapKey, SignatureEntry, proto::OptHdr, signature_place,
};

use crate::{
    maps,
    packet::{self, Packet},
    query::Question,
};

// `len` bounds a record's length with a mask.
const _: () = assert!(MAX_SIGNATURE_RECORD <= 0xff);

/// The signature to append to this answer; `None` when it gets none (DO=0, or a name in an
/// unsigned zone).
#[inline(always)]
pub fn for_answer(
    key: &MapKey,
    entry: &AnswerCopy,
    q: &Question,
    now: u64,
) -> Result<Option<&'static SignatureEntry>, Counter> {
    if entry.signed == 0 || q.edns_do != Some(true) {
        return Ok(None);
    }
    // An entry that names no signature yet costs no lookup.
    if entry.signature == 0 {
        return Err(Counter::PassDnssec);
    }
    let signature = maps::signature(&signature_place(key, entry.signature)).ok_or(Counter::PassDnssec)?;
    let stored_len = signature.len as usize;
    if signature.serial != entry.signature
        || now >= signature.fresh_until_ns
        || stored_len == 0
        || stored_len > MAX_SIGNATURE_RECORD
    {
        return Err(Counter::PassDnssec);
    }
    Ok(Some(signature))
}

/// The record's length, bounded for the verifier (`for_answer` refused longer ones).
#[inline(always)]
pub fn len(signature: &SignatureEntry) -> usize {
    signature.len as usize & 0xff
}

/// The largest UDP response the client takes, as userspace reckons it: the payload size of the
/// query's OPT record (at `opt_at`), at least 512, at most ours.
#[inline(always)]
pub fn udp_limit(pkt: &Packet, opt_at: usize, ours: u16) -> Option<usize> {
    let theirs = pkt.read_u16(opt_at + offset_of!(OptHdr, udp_payload))?;
    Some(theirs.max(512).min(ours) as usize)
}

/// Writes the record at `at` (the frame must already have room for it).
#[inline(always)]
pub fn write(ctx: &XdpContext, at: usize, signature: &SignatureEntry) -> bool {
    packet::store_words(ctx, at, &signature.record, len(signature))
}
