//! The XDP program's outcome counters, listed once: the enum, its order, its length and the
//! names `switchyard stats` and the metrics show all come from the list below.

/// Defines `Counter` from `Variant = "name"` lines: the slot is the position in the list.
macro_rules! counters {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// Outcome counters, one slot each in a per-CPU array.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Counter {
            $($(#[$doc])* $variant,)+
        }

        impl Counter {
            /// Slots in the counters map.
            pub const COUNT: usize = [$(stringify!($variant),)+].len();

            /// Every counter, in slot order.
            pub const ALL: [Counter; Counter::COUNT] = [$(Counter::$variant,)+];

            /// Stable name used by `switchyard stats` and metrics.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Counter::$variant => $name,)+
                }
            }
        }
    };
}

counters! {
    AnsweredV4 = "answered_v4",
    AnsweredV6 = "answered_v6",
    /// Not IPv4/IPv6 UDP (ARP, TCP, ICMP, extension headers...).
    PassNotUdp = "pass_not_udp",
    /// UDP to another port.
    PassOtherPort = "pass_other_port",
    PassFragment = "pass_fragment",
    /// QR=1: a response must never be answered.
    PassResponse = "pass_response",
    PassOpcode = "pass_opcode",
    PassQdcount = "pass_qdcount",
    /// A name, type, class or EDNS feature the fast path leaves to userspace.
    PassUnsupported = "pass_unsupported",
    PassNameTooLong = "pass_name_too_long",
    PassMalformed = "pass_malformed",
    /// No entry for (view, name, type).
    PassMiss = "pass_miss",
    /// Query with EDNS Client Subnet: locality is decided in userspace.
    PassClientSubnet = "pass_client_subnet",
    /// EDNS version above 0: userspace answers BADVERS.
    PassBadVersion = "pass_bad_version",
    /// The response would not fit, or the packet could not be grown.
    PassTooBig = "pass_too_big",
    /// XDP disabled by config (maps not ready yet).
    PassDisabled = "pass_disabled",
    /// Sent to a multicast or broadcast address.
    PassNotUnicast = "pass_not_unicast",
    /// The entry found under the name's hash holds another name.
    PassHashCollision = "pass_hash_collision",
    /// The daemon's liveness stamp is older than `stale_after`: it died without cleanup.
    PassStale = "pass_stale",
    /// A frame to the broadcast MAC or a multicast MAC.
    PassMacNotUnicast = "pass_mac_not_unicast",
    /// A unicast frame to another host's MAC (promiscuous capture, a bridge's flood).
    PassMacOtherHost = "pass_mac_other_host",
    /// Arrived on an interface whose MAC the daemon has not written.
    PassUnknownInterface = "pass_unknown_interface",
    /// To a unicast address this host does not own or serves no DNS on (the subnet broadcast
    /// included).
    PassNotLocal = "pass_not_local",
    /// From an address no client can have: multicast, broadcast (also a subnet's), loopback,
    /// unspecified, IPv4-mapped, or one of this host's own IPv4 addresses.
    PassBadSource = "pass_bad_source",
    PassBadIpv4Checksum = "pass_bad_ipv4_checksum",
    /// The UDP checksum does not match (a local sender on veth leaves it to offload: see README).
    PassBadUdpChecksum = "pass_bad_udp_checksum",
    /// UDP over IPv6 without a checksum, which IPv6 does not allow (RFC 8200 8.1).
    PassZeroUdpChecksumV6 = "pass_zero_udp_checksum_v6",
    /// The query asks for the server's identifier (NSID): userspace adds it when configured.
    PassNsid = "pass_nsid",
    /// DO=1 for a name in a signed zone whose RRSIG the map lacks (none yet, due for renewal,
    /// or made for an earlier answer set): userspace signs.
    PassDnssec = "pass_dnssec",
    /// A COOKIE option of a length RFC 7873 does not allow: userspace answers FORMERR.
    PassCookieMalformed = "pass_cookie_malformed",
    /// Counted besides the answer: the query carried a valid server cookie of ours.
    CookieValid = "cookie_valid",
    /// Counted besides the answer: the reply carries a server cookie made for it (the query had
    /// none, one not ours or expired, or one old enough to renew).
    CookieIssued = "cookie_issued",
    /// Over its client prefix's response rate: dropped (`[rrl]`).
    RrlDropped = "rrl_dropped",
    /// Over its client prefix's response rate: answered with an empty truncated reply (`slip`).
    RrlSlipped = "rrl_slipped",
    /// Answered without charging a bucket: the client is in an exempt prefix (also counted as
    /// answered).
    RrlExempt = "rrl_exempt",
    /// Counted besides the answer: DO=1 in a signed zone, answered with its RRSIG.
    AnsweredSigned = "answered_signed",
    /// The answer table slot was being rewritten by the daemon when found, or changed while its
    /// answer was copied out: userspace answers (never a mix of two answer sets).
    PassSlotBusy = "pass_slot_busy",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_its_own_name() {
        // Slots follow the list by construction; the names are written by hand.
        let mut names: Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Counter::COUNT);
    }
}
