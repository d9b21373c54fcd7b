//! Where a UDP reply goes out from: the address its query was sent to, read from the query's
//! packet-info control message. A query sent to a broadcast or multicast address gets no reply.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use nix::sys::socket::{CmsgIterator, ControlMessage, ControlMessageOwned};

/// The source address of a reply, and the interface for an IPv6 link-local one (which needs
/// one; 0 elsewhere, so the routing table picks as for any other packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplySource {
    pub address: IpAddr,
    pub ifindex: u32,
}

/// The reply source for a received datagram, from its control messages, and the interface it
/// came in on; `None` when it was sent to an address that is not one of ours as unicast.
pub fn of_received(cmsgs: CmsgIterator) -> Option<(ReplySource, u32)> {
    for cmsg in cmsgs {
        match cmsg {
            ControlMessageOwned::Ipv4PacketInfo(info) => return Some((v4(&info)?, info.ipi_ifindex as u32)),
            ControlMessageOwned::Ipv6PacketInfo(info) => return Some((v6(&info)?, info.ipi6_ifindex)),
            _ => {}
        }
    }
    None
}

/// For a unicast address of ours the kernel gives the destination as the local address as
/// well; for a broadcast or multicast destination it gives another address of the interface.
fn v4(info: &libc::in_pktinfo) -> Option<ReplySource> {
    let destination = Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr));
    let local = Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr));
    let unicast = !(destination.is_multicast() || destination.is_broadcast() || destination.is_unspecified());
    (unicast && destination == local).then_some(ReplySource { address: IpAddr::V4(destination), ifindex: 0 })
}

fn v6(info: &libc::in6_pktinfo) -> Option<ReplySource> {
    let destination = Ipv6Addr::from(info.ipi6_addr.s6_addr);
    if destination.is_multicast() || destination.is_unspecified() {
        return None;
    }
    let ifindex = if destination.is_unicast_link_local() { info.ipi6_ifindex } else { 0 };
    Some(ReplySource { address: IpAddr::V6(destination), ifindex })
}

/// Whether a reply can go to `peer` at all: a unicast address and a port.
pub fn plausible_client(peer: SocketAddr) -> bool {
    let ip = peer.ip();
    let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
    peer.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

impl ReplySource {
    /// The IPv4 packet info that makes the kernel send from this address.
    pub fn pktinfo_v4(&self) -> libc::in_pktinfo {
        let spec_dst = match self.address {
            IpAddr::V4(a) => u32::from(a).to_be(),
            IpAddr::V6(_) => 0,
        };
        libc::in_pktinfo {
            ipi_ifindex: self.ifindex as libc::c_int,
            ipi_spec_dst: libc::in_addr { s_addr: spec_dst },
            ipi_addr: libc::in_addr { s_addr: 0 },
        }
    }

    pub fn pktinfo_v6(&self) -> libc::in6_pktinfo {
        let address = match self.address {
            IpAddr::V6(a) => a.octets(),
            IpAddr::V4(_) => [0; 16],
        };
        libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: address }, ipi6_ifindex: self.ifindex }
    }

    /// The control message for this source, borrowing the packet info of its family.
    pub fn control_message<'a>(&self, v4: &'a libc::in_pktinfo, v6: &'a libc::in6_pktinfo) -> ControlMessage<'a> {
        match self.address {
            IpAddr::V4(_) => ControlMessage::Ipv4PacketInfo(v4),
            IpAddr::V6(_) => ControlMessage::Ipv6PacketInfo(v6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_v4(destination: &str, local: &str) -> libc::in_pktinfo {
        let be = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap()).to_be();
        libc::in_pktinfo {
            ipi_ifindex: 3,
            ipi_spec_dst: libc::in_addr { s_addr: be(local) },
            ipi_addr: libc::in_addr { s_addr: be(destination) },
        }
    }

    fn info_v6(destination: &str) -> libc::in6_pktinfo {
        let octets = destination.parse::<Ipv6Addr>().unwrap().octets();
        libc::in6_pktinfo { ipi6_addr: libc::in6_addr { s6_addr: octets }, ipi6_ifindex: 3 }
    }

    #[test]
    fn a_reply_goes_out_from_the_address_the_query_was_sent_to() {
        let secondary = v4(&info_v4("198.18.0.3", "198.18.0.3")).unwrap();
        assert_eq!((secondary.address, secondary.ifindex), ("198.18.0.3".parse().unwrap(), 0));
        let back = secondary.pktinfo_v4();
        assert_eq!(Ipv4Addr::from(u32::from_be(back.ipi_spec_dst.s_addr)), Ipv4Addr::new(198, 18, 0, 3));
        let global = v6(&info_v6("fd00:5::3")).unwrap();
        assert_eq!((global.address, global.ifindex), ("fd00:5::3".parse().unwrap(), 0));
        assert_eq!(global.pktinfo_v6().ipi6_addr.s6_addr, "fd00:5::3".parse::<Ipv6Addr>().unwrap().octets());
        let link_local = v6(&info_v6("fe80::1")).unwrap();
        assert_eq!(link_local.ifindex, 3, "a link-local source keeps its interface");
    }

    #[test]
    fn broadcast_and_multicast_destinations_get_no_reply() {
        // The kernel names another local address for a datagram to the subnet broadcast.
        assert_eq!(v4(&info_v4("198.18.0.255", "198.18.0.1")), None);
        assert_eq!(v4(&info_v4("255.255.255.255", "198.18.0.1")), None);
        assert_eq!(v4(&info_v4("224.0.0.251", "198.18.0.1")), None);
        assert_eq!(v6(&info_v6("ff02::1")), None);
        assert!(!plausible_client("0.0.0.0:53".parse().unwrap()));
        assert!(!plausible_client("198.18.0.2:0".parse().unwrap()));
        assert!(!plausible_client("255.255.255.255:4000".parse().unwrap()));
        assert!(plausible_client("[fd00:5::2]:4000".parse().unwrap()));
    }
}
