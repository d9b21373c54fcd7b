//! Which addresses the XDP program may answer queries to: this host's addresses that a DNS
//! socket listens on (all of a family's for an unspecified `listen` address, else the ones
//! named), kept in step with the interfaces while the daemon runs (`follow`). The same table
//! names this host's other addresses and its IPv4 subnet broadcasts, which are no client's.

mod follow;

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
};

use switchyard_common::local_addr;

pub use self::follow::{Follower, LocalAddressError};
use crate::bpf::local_maps::LocalTable;

/// One address of an interface, as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// The IPv4 broadcast address the kernel was given for it, if any.
    pub broadcast: Option<Ipv4Addr>,
}

/// The table for the XDP program: every address of this host, served when a `listen` address
/// covers it, and the IPv4 broadcast addresses of its subnets (given, and computed from the
/// prefix as the kernel does for prefixes shorter than /31).
pub fn table(listen: &[IpAddr], addresses: &[InterfaceAddress]) -> LocalTable {
    let mut table = LocalTable::default();
    for a in addresses {
        if let IpAddr::V4(v4) = a.address {
            for broadcast in a.broadcast.into_iter().chain(subnet_broadcast(v4, a.prefix_len)) {
                table.v4.insert(broadcast, local_addr::BROADCAST);
            }
        }
    }
    // Addresses after broadcasts: an address that is both (a /32 on another interface) is ours.
    for a in addresses {
        let kind = if served(listen, a.address) { local_addr::SERVED } else { local_addr::NOT_SERVED };
        match a.address {
            IpAddr::V4(v4) => table.v4.insert(v4, kind),
            IpAddr::V6(v6) => table.v6.insert(v6, kind),
        };
    }
    table
}

/// Every address of this host's interfaces (in this network namespace), now. Synchronous, for
/// the config's checks before anything runs; the daemon follows changes over netlink (`follow`).
pub fn of_this_host() -> nix::Result<BTreeSet<IpAddr>> {
    let addresses = nix::ifaddrs::getifaddrs()?.filter_map(|interface| interface.address);
    Ok(addresses
        .filter_map(|a| match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
            (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
            (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
            _ => None,
        })
        .collect())
}

/// Whether a socket bound to one of `listen` receives datagrams sent to `address` (IPv6
/// sockets are v6-only, so `::` covers no IPv4 address).
fn served(listen: &[IpAddr], address: IpAddr) -> bool {
    listen.iter().any(|l| *l == address || (l.is_unspecified() && l.is_ipv4() == address.is_ipv4()))
}

fn subnet_broadcast(address: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Addr> {
    if prefix_len >= 31 {
        return None;
    }
    let host_bits = u32::MAX >> prefix_len;
    Some(Ipv4Addr::from(u32::from(address) | host_bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(a: &str, prefix_len: u8) -> InterfaceAddress {
        InterfaceAddress { address: a.parse().unwrap(), prefix_len, broadcast: None }
    }

    fn host() -> Vec<InterfaceAddress> {
        vec![
            address("127.0.0.1", 8),
            address("198.18.0.1", 24),
            address("198.18.0.3", 24),
            address("198.18.7.1", 31),
            address("::1", 128),
            address("fd00:5::1", 64),
            address("fd00:5::3", 64),
            address("fe80::1", 64),
        ]
    }

    fn kind_v4(t: &LocalTable, a: &str) -> Option<u32> {
        t.v4.get(&a.parse().unwrap()).copied()
    }

    fn kind_v6(t: &LocalTable, a: &str) -> Option<u32> {
        t.v6.get(&a.parse().unwrap()).copied()
    }

    #[test]
    fn unspecified_listen_addresses_serve_every_address_of_their_family() {
        let t = table(&["0.0.0.0".parse().unwrap(), "::".parse().unwrap()], &host());
        for a in ["198.18.0.1", "198.18.0.3", "198.18.7.1", "127.0.0.1"] {
            assert_eq!(kind_v4(&t, a), Some(local_addr::SERVED), "{a}");
        }
        for a in ["fd00:5::1", "fd00:5::3", "fe80::1", "::1"] {
            assert_eq!(kind_v6(&t, a), Some(local_addr::SERVED), "{a}");
        }
        assert_eq!(kind_v4(&t, "198.18.0.255"), Some(local_addr::BROADCAST), "the /24's broadcast");
        assert_eq!(kind_v4(&t, "127.255.255.255"), Some(local_addr::BROADCAST));
        assert_eq!(kind_v4(&t, "198.18.7.1"), Some(local_addr::SERVED), "a /31 has no broadcast");
        assert_eq!(kind_v4(&t, "198.18.0.99"), None, "not ours");
    }

    #[test]
    fn named_listen_addresses_serve_only_themselves() {
        let t = table(&["198.18.0.3".parse().unwrap(), "fd00:5::1".parse().unwrap()], &host());
        assert_eq!(kind_v4(&t, "198.18.0.3"), Some(local_addr::SERVED));
        assert_eq!(kind_v4(&t, "198.18.0.1"), Some(local_addr::NOT_SERVED));
        assert_eq!(kind_v6(&t, "fd00:5::1"), Some(local_addr::SERVED));
        assert_eq!(kind_v6(&t, "fd00:5::3"), Some(local_addr::NOT_SERVED));
        let v6_only = table(&["::".parse().unwrap()], &host());
        assert_eq!(kind_v4(&v6_only, "198.18.0.1"), Some(local_addr::NOT_SERVED), ":: is v6-only");
    }

    #[test]
    fn a_given_broadcast_address_counts_too() {
        let mut odd = address("198.18.0.1", 24);
        odd.broadcast = Some("198.18.0.127".parse().unwrap());
        let t = table(&["0.0.0.0".parse().unwrap()], &[odd]);
        assert_eq!(kind_v4(&t, "198.18.0.127"), Some(local_addr::BROADCAST));
        assert_eq!(kind_v4(&t, "198.18.0.255"), Some(local_addr::BROADCAST));
    }
}
