//! Networks of a MaxMind DB file in the GeoIP2/GeoLite2 Country or City layout: every network
//! with its `country.iso_code` (else `registered_country.iso_code`) and `continent.code`.

use std::{collections::HashMap, net::IpAddr, path::Path};

use ipnet::IpNet;
use maxminddb::{Reader, WithinOptions};
use serde::Deserialize;

use super::{GeoError, Located};

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Country<'a>>,
    #[serde(borrow, default)]
    continent: Option<Continent<'a>>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Continent<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

/// Calls `visit` for every network of the file at `path` that has data.
pub fn walk(path: &Path, mut visit: impl FnMut(Located<'_>)) -> Result<(), GeoError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| GeoError::Unreadable { path: name.clone(), source })?;
    let not_mmdb = |e: maxminddb::MaxMindDbError| GeoError::NotMmdb { path: name.clone(), reason: e.to_string() };
    let reader = Reader::from_source(bytes).map_err(not_mmdb)?;
    // Networks share records: each record is decoded once.
    let mut decoded: HashMap<usize, (Option<&str>, Option<&str>)> = HashMap::new();
    let mut located_any = false;
    for item in reader.networks(WithinOptions::default()).map_err(not_mmdb)? {
        let item = item.map_err(not_mmdb)?;
        let network = item.network().map_err(not_mmdb)?;
        let network = IpNet::new(network.ip(), network.prefix()).map_err(|e| GeoError::BadRecord {
            path: name.clone(),
            network: network.to_string(),
            reason: e.to_string(),
        })?;
        let Some(offset) = item.offset() else { continue };
        let (country, continent) = match decoded.get(&offset) {
            Some(place) => *place,
            None => {
                let record: Option<Record> = item.decode().map_err(|e| GeoError::BadRecord {
                    path: name.clone(),
                    network: network.to_string(),
                    reason: e.to_string(),
                })?;
                let place = record.map_or((None, None), place_of);
                decoded.insert(offset, place);
                place
            }
        };
        located_any |= country.is_some() || continent.is_some();
        visit(Located { network: canonical(network), country, continent });
    }
    if !located_any {
        return Err(GeoError::WrongLayout { path: name, kind: reader.metadata().database_type.clone() });
    }
    Ok(())
}

fn place_of(record: Record<'_>) -> (Option<&str>, Option<&str>) {
    let country = record.country.and_then(|c| c.iso_code).or(record.registered_country.and_then(|c| c.iso_code));
    (country, record.continent.and_then(|c| c.code))
}

/// IPv4 networks that a database lists under `::ffff:0:0/96` are IPv4 clients' networks.
fn canonical(network: IpNet) -> IpNet {
    match network {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(network),
            None => network,
        },
        other => other,
    }
}
