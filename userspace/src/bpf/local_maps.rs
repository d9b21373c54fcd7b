//! The maps that tell the XDP program what is addressed to this host: the MAC of each interface
//! it is attached to (`OWN_MACS`), this host's addresses (`LOCAL_V4`, `LOCAL_V6`) and their
//! summary (`LOCAL_SUMMARY`). Taken out of the loaded object so that whoever follows the
//! interfaces can own them.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData, MapError},
};
use switchyard_common::{InterfaceMac, LocalSummary, MAX_XDP_INTERFACES, OwnMacs, map_names};

use super::ingress::XdpIngress;

/// What the local-address maps should hold: each address with its `local_addr` kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalTable {
    pub v4: BTreeMap<Ipv4Addr, u32>,
    pub v6: BTreeMap<Ipv6Addr, u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalMapsError {
    #[error("map {0}: {1}")]
    Map(&'static str, MapError),
    #[error("map {0} is not in the XDP object")]
    Missing(&'static str),
    #[error("XDP on {0} interfaces: at most {MAX_XDP_INTERFACES} are supported")]
    TooManyInterfaces(usize),
}

pub struct LocalMaps {
    macs: Array<MapData, OwnMacs>,
    /// Told the interfaces whenever the MACs are written.
    ingress: Arc<XdpIngress>,
    v4: HashMap<MapData, [u8; 4], u32>,
    v6: HashMap<MapData, [u8; 16], u32>,
    summary: Array<MapData, LocalSummary>,
}

impl LocalMaps {
    /// Takes the four maps out of `ebpf` (pin them first if they are to be pinned). Address
    /// maps adopted from an earlier daemon get a summary that holds their addresses, under a
    /// new generation.
    pub fn take(ebpf: &mut Ebpf) -> Result<LocalMaps, LocalMapsError> {
        let mut take = |name: &'static str| ebpf.take_map(name).ok_or(LocalMapsError::Missing(name));
        let (macs, v4, v6) = (take(map_names::OWN_MACS)?, take(map_names::LOCAL_V4)?, take(map_names::LOCAL_V6)?);
        let summary = take(map_names::LOCAL_SUMMARY)?;
        let mut maps = LocalMaps {
            macs: Array::try_from(macs).map_err(|e| LocalMapsError::Map(map_names::OWN_MACS, e))?,
            ingress: Arc::default(),
            v4: HashMap::try_from(v4).map_err(|e| LocalMapsError::Map(map_names::LOCAL_V4, e))?,
            v6: HashMap::try_from(v6).map_err(|e| LocalMapsError::Map(map_names::LOCAL_V6, e))?,
            summary: Array::try_from(summary).map_err(|e| LocalMapsError::Map(map_names::LOCAL_SUMMARY, e))?,
        };
        let held: Vec<[u8; 4]> =
            maps.v4.keys().collect::<Result<_, _>>().map_err(|e| LocalMapsError::Map(map_names::LOCAL_V4, e))?;
        let written = maps.written_summary()?;
        let generation = next_generation(written.generation);
        maps.write_summary(&LocalSummary { generation, ..written.union(&summary_of(held)) })?;
        Ok(maps)
    }

    /// Writes the (ifindex, MAC) of every interface the program is attached to.
    pub fn set_macs(&mut self, interfaces: &[(u32, [u8; 6])]) -> Result<(), LocalMapsError> {
        if interfaces.len() > MAX_XDP_INTERFACES {
            return Err(LocalMapsError::TooManyInterfaces(interfaces.len()));
        }
        let mut own = OwnMacs::default();
        for (slot, (ifindex, mac)) in own.interfaces.iter_mut().zip(interfaces) {
            *slot = InterfaceMac { ifindex: *ifindex, mac: *mac, _pad: [0; 2] };
        }
        self.macs.set(0, own, 0).map_err(|e| LocalMapsError::Map(map_names::OWN_MACS, e))?;
        self.ingress.set_interfaces(interfaces.iter().map(|(ifindex, _)| *ifindex).collect());
        Ok(())
    }

    /// The interfaces in front of which the program stands, as written here.
    pub fn ingress(&self) -> Arc<XdpIngress> {
        self.ingress.clone()
    }

    /// Makes the address maps hold exactly `table`: new and changed entries first, then the
    /// removal of the others, so an address that stays is never missing in between.
    ///
    /// The summary's filter gains the new addresses' bits before the maps gain the addresses,
    /// and loses the old ones' after the maps lost them, so that it never says "not ours" of an
    /// address in the maps; its new generation, written last whatever became of the maps,
    /// makes every CPU forget the destination it last found served.
    pub fn set_addresses(&mut self, table: &LocalTable) -> Result<(), LocalMapsError> {
        let before = self.written_summary()?;
        let after = summary_of(table.v4.keys().map(Ipv4Addr::octets));
        let during = before.union(&after);
        self.write_summary(&during)?;
        let synced = sync(&mut self.v4, map_names::LOCAL_V4, table.v4.iter().map(|(a, k)| (a.octets(), *k)))
            .and_then(|()| sync(&mut self.v6, map_names::LOCAL_V6, table.v6.iter().map(|(a, k)| (a.octets(), *k))));
        // A sync that failed half way may have removed addresses a CPU remembers, and left
        // others in the map: the new generation all the same, over the union.
        let filter = if synced.is_ok() { after } else { during };
        self.write_summary(&LocalSummary { generation: next_generation(before.generation), ..filter })?;
        synced
    }

    fn written_summary(&self) -> Result<LocalSummary, LocalMapsError> {
        self.summary.get(&0, 0).map_err(|e| LocalMapsError::Map(map_names::LOCAL_SUMMARY, e))
    }

    fn write_summary(&mut self, summary: &LocalSummary) -> Result<(), LocalMapsError> {
        self.summary.set(0, summary, 0).map_err(|e| LocalMapsError::Map(map_names::LOCAL_SUMMARY, e))
    }
}

/// The filter of these IPv4 addresses (as their bytes), generation 0.
fn summary_of(v4: impl IntoIterator<Item = [u8; 4]>) -> LocalSummary {
    let mut summary = LocalSummary::default();
    v4.into_iter().for_each(|a| summary.add_v4(a));
    summary
}

/// A generation after `previous` that no other writer picks either: the clock when it is
/// later (two daemons write the maps for a moment while one hands over to the next), never 0.
fn next_generation(previous: u64) -> u64 {
    previous.wrapping_add(1).max(super::stamp::monotonic_ns()).max(1)
}

fn sync<const N: usize>(
    map: &mut HashMap<MapData, [u8; N], u32>,
    name: &'static str,
    wanted: impl Iterator<Item = ([u8; N], u32)>,
) -> Result<(), LocalMapsError> {
    let wanted: BTreeMap<[u8; N], u32> = wanted.collect();
    for (key, kind) in &wanted {
        if map.get(key, 0).ok() != Some(*kind) {
            map.insert(key, kind, 0).map_err(|e| LocalMapsError::Map(name, e))?;
        }
    }
    let present: Vec<[u8; N]> = map.keys().filter_map(Result::ok).collect();
    for key in present.iter().filter(|k| !wanted.contains_key(*k)) {
        map.remove(key).map_err(|e| LocalMapsError::Map(name, e))?;
    }
    Ok(())
}
