//! Writing the rate limiter's settings and exempt prefixes into the XDP program's maps, either
//! through a loaded object's maps or through their pins (a live change from the CLI).

use std::path::Path;

use aya::maps::{Array, HashMap, LpmTrie, Map, MapData, MapError};
use ipnet::IpNet;
use switchyard_common::{RrlBucket, RrlConfig, RrlKey, map_names};

use super::prefix_trie;

#[derive(Debug, thiserror::Error)]
pub enum RrlMapError {
    #[error("map {0}: {1}")]
    Map(&'static str, MapError),
    #[error("cannot open the pinned map {0}: {1}")]
    Pin(String, String),
    #[error("map {0} is not in the XDP object")]
    Missing(&'static str),
}

/// The three maps the settings go to.
pub struct RrlMaps<'a> {
    pub config: &'a mut Map,
    pub exempt_v4: &'a mut Map,
    pub exempt_v6: &'a mut Map,
}

impl RrlMaps<'_> {
    /// Writes the settings and makes the exempt tries hold exactly `exempt`.
    pub fn write(self, limits: RrlConfig, exempt: &[IpNet]) -> Result<(), RrlMapError> {
        write_config(self.config, limits)?;
        let v4 = exempt.iter().filter_map(|net| match net {
            IpNet::V4(n) => Some((n.prefix_len(), n.network().octets())),
            IpNet::V6(_) => None,
        });
        write_prefixes(self.exempt_v4, map_names::RRL_EXEMPT_V4, v4.collect())?;
        let v6 = exempt.iter().filter_map(|net| match net {
            IpNet::V6(n) => Some((n.prefix_len(), n.network().octets())),
            IpNet::V4(_) => None,
        });
        write_prefixes(self.exempt_v6, map_names::RRL_EXEMPT_V6, v6.collect())
    }
}

/// Writes the settings through the maps pinned in `pin_dir`.
pub fn write_pinned(pin_dir: &Path, limits: RrlConfig, exempt: &[IpNet]) -> Result<(), RrlMapError> {
    let mut config = open_pinned(pin_dir, map_names::RRL_CONFIG)?;
    let mut exempt_v4 = open_pinned(pin_dir, map_names::RRL_EXEMPT_V4)?;
    let mut exempt_v6 = open_pinned(pin_dir, map_names::RRL_EXEMPT_V6)?;
    RrlMaps { config: &mut config, exempt_v4: &mut exempt_v4, exempt_v6: &mut exempt_v6 }.write(limits, exempt)
}

/// The program's bucket map, pinned in `pin_dir`, for the daemon to charge the same buckets.
pub fn open_buckets(pin_dir: &Path) -> Result<HashMap<MapData, RrlKey, RrlBucket>, RrlMapError> {
    let name = map_names::RRL_BUCKETS;
    HashMap::try_from(open_pinned(pin_dir, name)?).map_err(|e| RrlMapError::Map(name, e))
}

fn open_pinned(pin_dir: &Path, name: &'static str) -> Result<Map, RrlMapError> {
    let path = pin_dir.join(name);
    let data = MapData::from_pin(&path).map_err(|e| RrlMapError::Pin(path.display().to_string(), e.to_string()))?;
    Map::from_map_data(data).map_err(|e| RrlMapError::Map(name, e))
}

fn write_config(map: &mut Map, limits: RrlConfig) -> Result<(), RrlMapError> {
    let name = map_names::RRL_CONFIG;
    let mut array: Array<&mut MapData, RrlConfig> = Array::try_from(map).map_err(|e| RrlMapError::Map(name, e))?;
    array.set(0, limits, 0).map_err(|e| RrlMapError::Map(name, e))
}

/// Makes the exempt trie hold exactly `wanted`.
fn write_prefixes<const N: usize>(
    map: &mut Map,
    name: &'static str,
    wanted: Vec<(u8, [u8; N])>,
) -> Result<(), RrlMapError> {
    let mut trie: LpmTrie<&mut MapData, [u8; N], u32> =
        LpmTrie::try_from(map).map_err(|e| RrlMapError::Map(name, e))?;
    let wanted = wanted.into_iter().map(|(len, addr)| ((u32::from(len), addr), 1)).collect();
    prefix_trie::write(&mut trie, &wanted).map_err(|e| RrlMapError::Map(name, e))
}
