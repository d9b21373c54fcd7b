//! Server cookies (RFC 7873, RFC 9018) on the fast path, with the code the daemon uses
//! (`switchyard_common::reply_cookie`, here in its two steps), so both paths give a client the
//! same cookie. The time
//! is the wall clock in Unix seconds, taken from CLOCK_MONOTONIC plus the offset the daemon
//! keeps in the `COOKIES` map: cookies of the other nodes sharing the secret carry wall-clock
//! timestamps too.

use aya_ebpf::programs::XdpContext;
use switchyard_common::{
    CLIENT_COOKIE_LEN, COOKIE_REPLY_LEN, CookieAddr, CookieCheck, CookieConfig, Counter, OwnSipHash, ServerCookie,
    cookie_len_ok, cookie_verdict, reply_after,
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

/// A query's COOKIE option, read and its server cookie checked; the reply's cookie is made
/// only once the query is to be answered (`reply`), so a rate-limited query costs no hash for it.
pub struct CheckedCookie {
    config: &'static CookieConfig,
    client: u64,
    server: Option<ServerCookie>,
    addr: CookieAddr,
    now: u32,
    verdict: CookieCheck,
}

impl CheckedCookie {
    /// The query carried a valid server cookie of ours (what response rate limiting exempts).
    #[inline(always)]
    pub fn valid(&self) -> bool {
        matches!(self.verdict, CookieCheck::Valid { .. })
    }

    #[inline(always)]
    pub fn reply(&self) -> ReplyCookie {
        let (client, server, now, addr) = (self.client, self.server.as_ref(), self.now, &self.addr);
        let (server, valid_server_cookie) = reply_after::<OwnSipHash>(self.verdict, self.config, client, server, now, addr);
        ReplyCookie { client, server, valid_server_cookie }
    }
}

/// The query's cookie, checked: none when the query had no COOKIE option or cookies are off; a
/// malformed option goes to userspace, which answers FORMERR.
#[inline(always)]
pub fn checked(ctx: &XdpContext, f: &Frame, q: &Question, now_ns: u64) -> Result<Option<CheckedCookie>, Counter> {
    let Some(option) = q.cookie else { return Ok(None) };
    let Some(config) = maps::cookies().filter(|c| c.enabled()) else { return Ok(None) };
    let len = option.len;
    if !cookie_len_ok(len) {
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
    let addr = if f.ipv6 { CookieAddr::V6(f.src_v6()) } else { CookieAddr::V4(f.src_v4()) };
    let now = config.wall_seconds(now_ns);
    let verdict = cookie_verdict::<OwnSipHash>(config, client, server.as_ref(), now, &addr);
    Ok(Some(CheckedCookie { config, client, server, addr, now, verdict }))
}

/// Eight bytes of the frame as a little-endian word.
#[inline(always)]
fn word(pkt: &Packet, at: usize) -> Result<u64, Counter> {
    pkt.read::<[u8; 8]>(at).map(u64::from_le_bytes).ok_or(Counter::PassMalformed)
}
