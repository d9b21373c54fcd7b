//! Reading the XDP program's per-CPU counters from the pinned map.

use std::path::Path;

use aya::maps::{Map, MapData, PerCpuArray};
use switchyard_common::{Counter, map_names};

/// Every counter, summed over CPUs, in `Counter::ALL` order.
pub fn read(pin_dir: &Path) -> Result<Vec<(&'static str, u64)>, String> {
    let path = pin_dir.join(map_names::COUNTERS);
    let data = MapData::from_pin(&path).map_err(|e| {
        format!("cannot open {}: {e} (is the daemon running with XDP on, and are you root?)", path.display())
    })?;
    let map = Map::from_map_data(data).map_err(|e| e.to_string())?;
    let array: PerCpuArray<MapData, u64> = PerCpuArray::try_from(map).map_err(|e| e.to_string())?;
    sum(&array).map_err(|e| e.to_string())
}

/// Every counter of an open counters map, summed over CPUs.
pub fn sum<T: std::borrow::Borrow<MapData>>(
    array: &PerCpuArray<T, u64>,
) -> Result<Vec<(&'static str, u64)>, aya::maps::MapError> {
    Counter::ALL
        .iter()
        .map(|c| {
            let values = array.get(&(*c as u32), 0)?;
            Ok((c.name(), values.iter().sum()))
        })
        .collect()
}
