//! Keeps the XDP program's address table and MACs in step with the interfaces: written at start,
//! again as soon as the kernel announces an address or link change (rtnetlink notifications,
//! so a new address is answered within milliseconds), and every `RESYNC` whatever happened,
//! which repairs the table should a notification be lost (the kernel drops them when the
//! socket's buffer is full). Each pass reads every address afresh rather than applying the
//! notifications one by one: a few hundred bytes per address, and never out of step.

use std::{collections::BTreeSet, net::IpAddr, time::Duration};

use futures_util::{FutureExt, StreamExt, TryStreamExt};
use rtnetlink::{
    Handle, MulticastGroup, new_multicast_connection,
    packet_route::{
        address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage},
        link::LinkAttribute,
    },
};
use switchyard_common::local_addr;
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};

use super::InterfaceAddress;
use crate::bpf::local_maps::{LocalMaps, LocalMapsError, LocalTable};

/// Longest the table goes without a full read, notifications or not.
const RESYNC: Duration = Duration::from_secs(10);
/// Changes announced together (an interface coming up with several addresses) are applied in
/// one pass.
const SETTLE: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum LocalAddressError {
    #[error("reading the interfaces over netlink: {0}")]
    Netlink(String),
    #[error("XDP interface {0}: not found")]
    NoSuchInterface(String),
    #[error("XDP interface {0}: no Ethernet MAC address")]
    NoMac(String),
    #[error(transparent)]
    Maps(#[from] LocalMapsError),
}

/// Follows the interfaces until dropped.
pub struct Follower {
    task: JoinHandle<()>,
    connection: JoinHandle<()>,
    /// The listen addresses and interfaces followed; a reload changes them.
    scope: watch::Sender<Scope>,
}

type Scope = (Vec<IpAddr>, Vec<String>);

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
        self.connection.abort();
    }
}

struct State {
    handle: Handle,
    maps: LocalMaps,
    listen: Vec<IpAddr>,
    interfaces: Vec<String>,
    table: LocalTable,
    macs: Vec<(u32, [u8; 6])>,
}

impl Follower {
    /// Writes the MACs of `interfaces` and the address table for `listen`, then follows changes.
    /// Fails when the interfaces cannot be read or one of them does not exist.
    pub async fn start(
        maps: LocalMaps,
        listen: &[IpAddr],
        interfaces: &[String],
    ) -> Result<Follower, LocalAddressError> {
        let groups = [MulticastGroup::Link, MulticastGroup::Ipv4Ifaddr, MulticastGroup::Ipv6Ifaddr];
        let (connection, handle, mut changes) =
            new_multicast_connection(&groups).map_err(|e| LocalAddressError::Netlink(e.to_string()))?;
        let connection = tokio::spawn(connection);
        let mut state = State {
            handle,
            maps,
            listen: listen.to_vec(),
            interfaces: interfaces.to_vec(),
            table: LocalTable::default(),
            macs: Vec::new(),
        };
        state.sync().await?;
        let (scope, mut scope_changes) = watch::channel((listen.to_vec(), interfaces.to_vec()));
        let task = tokio::spawn(async move {
            let mut resync = tokio::time::interval(RESYNC);
            resync.tick().await;
            let mut notified = true;
            loop {
                tokio::select! {
                    change = changes.next(), if notified => {
                        if change.is_none() {
                            warn!("netlink notifications ended: local addresses are read every {} s only", RESYNC.as_secs());
                            notified = false;
                            continue;
                        }
                        tokio::time::sleep(SETTLE).await;
                        while let Some(Some(_)) = changes.next().now_or_never() {}
                    }
                    _ = resync.tick() => {}
                    Ok(()) = scope_changes.changed() => {
                        (state.listen, state.interfaces) = scope_changes.borrow_and_update().clone();
                        // Written in full: another program sharing the maps may have written them.
                        state.forget_written();
                    }
                }
                if let Err(e) = state.sync().await {
                    warn!(error = %e, "local addresses not updated; XDP keeps the previous ones");
                }
            }
        });
        Ok(Follower { task, connection, scope })
    }

    /// Writes the maps again in full, at once (another program sharing them wrote them).
    pub fn rewrite(&self) {
        self.scope.send_modify(|_| {});
    }

    /// Follows other listen addresses or interfaces from now on (a reload), applied at once.
    pub fn update(&self, listen: &[IpAddr], interfaces: &[String]) {
        self.scope.send_if_modified(|scope| {
            let changed = scope.0 != listen || scope.1 != interfaces;
            *scope = (listen.to_vec(), interfaces.to_vec());
            changed
        });
    }
}

impl State {
    /// Forgets what was written, so that the next sync writes everything.
    fn forget_written(&mut self) {
        self.table = LocalTable::default();
        self.macs.clear();
    }

    /// Reads the interfaces and writes what changed.
    async fn sync(&mut self) -> Result<(), LocalAddressError> {
        let macs = self.macs().await?;
        if macs != self.macs {
            self.maps.set_macs(&macs)?;
            info!(interfaces = ?self.interfaces, ?macs, "XDP answers frames to these MACs");
            self.macs = macs;
        }
        let table = super::table(&self.listen, &self.addresses().await?);
        if table != self.table {
            self.maps.set_addresses(&table)?;
            let (before, after) = (served(&self.table), served(&table));
            let added: Vec<&IpAddr> = after.difference(&before).collect();
            let removed: Vec<&IpAddr> = before.difference(&after).collect();
            info!(?added, ?removed, "addresses answered by XDP changed");
            self.table = table;
        }
        Ok(())
    }

    /// (ifindex, MAC) of each XDP interface.
    async fn macs(&self) -> Result<Vec<(u32, [u8; 6])>, LocalAddressError> {
        let mut macs = Vec::new();
        for name in &self.interfaces {
            let mut links = self.handle.link().get().match_name(name.clone()).execute();
            let link = match links.try_next().await {
                Ok(Some(link)) => link,
                Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => {
                    return Err(LocalAddressError::NoSuchInterface(name.clone()));
                }
                Err(e) => return Err(LocalAddressError::Netlink(e.to_string())),
            };
            let mac = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
                _ => None,
            });
            macs.push((link.header.index, mac.ok_or_else(|| LocalAddressError::NoMac(name.clone()))?));
        }
        Ok(macs)
    }

    async fn addresses(&self) -> Result<Vec<InterfaceAddress>, LocalAddressError> {
        let mut dump = self.handle.address().get().execute();
        let mut out = Vec::new();
        while let Some(message) = dump.try_next().await.map_err(|e| LocalAddressError::Netlink(e.to_string()))? {
            out.extend(interface_address(&message));
        }
        Ok(out)
    }
}

/// The local address in a kernel address message; `None` for an IPv6 address still in (or
/// failed) duplicate address detection, which the kernel does not deliver to.
fn interface_address(message: &AddressMessage) -> Option<InterfaceAddress> {
    let header_flags = message.header.flags;
    let unusable = header_flags.contains(AddressHeaderFlags::Tentative)
        || header_flags.contains(AddressHeaderFlags::Dadfailed)
        || message.attributes.iter().any(|a| {
            matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Tentative) || f.contains(AddressFlags::Dadfailed))
        });
    if unusable {
        return None;
    }
    // IFA_LOCAL is the local end of a point-to-point link (IFA_ADDRESS the peer); elsewhere
    // only IFA_ADDRESS may be present.
    let local = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = local.or_else(|| {
        message.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    let broadcast = message.attributes.iter().find_map(|a| match a {
        AddressAttribute::Broadcast(b) => Some(*b),
        _ => None,
    });
    Some(InterfaceAddress { address, prefix_len: message.header.prefix_len, broadcast })
}

fn served(table: &LocalTable) -> BTreeSet<IpAddr> {
    let v4 = table.v4.iter().filter(|(_, k)| **k == local_addr::SERVED).map(|(a, _)| IpAddr::V4(*a));
    let v6 = table.v6.iter().filter(|(_, k)| **k == local_addr::SERVED).map(|(a, _)| IpAddr::V6(*a));
    v4.chain(v6).collect()
}
