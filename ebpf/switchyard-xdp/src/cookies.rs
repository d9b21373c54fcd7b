//! Server cookies (RFC 7873, RFC 9018) on the fast path, with the code the daemon uses
//! (`switchyard_common::reply_cookie`), so both paths give a client the same cookie. The time
//! is the wall clock in Unix seconds, taken from CLOCK_MONOTONIC plus the offset the daemon
//! keeps in the `COOKIES` map: cookies of the other nodes sharing the secret carry wall-clock
//! timestamps too.

use core::mem::offset_of;

use aya_ebpf::{helpers::bpf_ktime_get_ns, programs::XdpContext};
use network_types::ip::{Ipv4Hdr, Ipv6Hdr};
use switchyard_common::{
    CLIENT_COOKIE_LEN, COOKIE_CLIENT_ONLY_LEN, COOKIE_MAX_LEN, COOKIE_MIN_WITH_SERVER_LEN, COOKIE_REPLY_LEN, CookieAddr,
    Counter, OwnSipHash, ServerCookie, reply_cookie,
};

use crate::{
    maps,
    packet::Packet,
    query::{Frame, Question},
};

/// The COOKIE option of our reply.
pub struct ReplyCookie {
    /// The client cookie's eight bytes as a little-endian word.
    pub client: u64,
    pub server: ServerCookie,
    /// The query carried a valid server cookie of ours: the client has talked to us before from
    /// this address (what response rate limiting exempts).
    pub valid_server_cookie: bool,
}

/// The cookie the reply carries: none when the query had no COOKIE option or cookies are off;
/// a malformed option goes to userspace, which answers FORMERR.
#[inline(always)]
pub fn for_reply(ctx: &XdpContext, f: &Frame, q: &Question) -> Result<Option<ReplyCookie>, Counter> {
    let Some(option) = q.cookie else { return Ok(None) };
    let Some(config) = maps::cookies().filter(|c| c.enabled()) else { return Ok(None) };
    let len = option.len;
    if len != COOKIE_CLIENT_ONLY_LEN && !(COOKIE_MIN_WITH_SERVER_LEN..=COOKIE_MAX_LEN).contains(&len) {
        return Err(Counter::PassCookieMalformed);
    }
    let pkt = Packet::new(ctx);
    let at = f.dns + option.at;
    let client = word(&pkt, at)?;
    // A server cookie of another length is not one of ours: it gets a new one.
    let server = if len == COOKIE_REPLY_LEN {
        let head = word(&pkt, at + CLIENT_COOKIE_LEN)?;
        Some(ServerCookie { head, hash: word(&pkt, at + CLIENT_COOKIE_LEN + 8)? })
    } else {
        None
    };
    let addr = if f.ipv6 {
        CookieAddr::V6(pkt.read(f.l3 + offset_of!(Ipv6Hdr, src_addr)).ok_or(Counter::PassMalformed)?)
    } else {
        CookieAddr::V4(pkt.read(f.l3 + offset_of!(Ipv4Hdr, src_addr)).ok_or(Counter::PassMalformed)?)
    };
    // SAFETY: a helper without arguments that only reads the clock.
    let now = config.wall_seconds(unsafe { bpf_ktime_get_ns() });
    let (server, valid_server_cookie) = reply_cookie::<OwnSipHash>(config, client, server.as_ref(), now, &addr);
    Ok(Some(ReplyCookie { client, server, valid_server_cookie }))
}

/// Eight bytes of the frame as a little-endian word.
#[inline(always)]
fn word(pkt: &Packet, at: usize) -> Result<u64, Counter> {
    pkt.read::<[u8; 8]>(at).map(u64::from_le_bytes).ok_or(Counter::PassMalformed)
}
