//! Which networks of the database each geographic view selects.

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::{GeoConfig, GeoError, Located, csv_table, mmdb};

/// The countries and continents one view selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub countries: Vec<String>,
    pub continents: Vec<String>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.countries.is_empty() && self.continents.is_empty()
    }

    fn selects(&self, place: &Located<'_>) -> bool {
        place.country.is_some_and(|c| self.countries.iter().any(|s| s == c))
            || place.continent.is_some_and(|c| self.continents.iter().any(|s| s == c))
    }
}

/// The networks of the database `geo` names that each selection selects, in the order of
/// `selections`; read in one pass. A selected country that no network has is refused (a typo
/// such as "UK" for "GB" would otherwise select nothing).
pub fn expand(geo: &GeoConfig, selections: &[Selection]) -> Result<Vec<Vec<IpNet>>, GeoError> {
    let wanted: BTreeSet<&str> = selections.iter().flat_map(|s| s.countries.iter().map(String::as_str)).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut found = vec![Vec::new(); selections.len()];
    let mut visit = |place: Located<'_>| {
        if let Some(country) = place.country.filter(|c| wanted.contains(c) && !seen.contains(*c)) {
            seen.insert(country.to_string());
        }
        for (networks, selection) in found.iter_mut().zip(selections) {
            if selection.selects(&place) {
                networks.push(place.network);
            }
        }
    };
    let path = match (&geo.mmdb, &geo.csv) {
        (Some(path), _) => {
            mmdb::walk(path, &mut visit)?;
            path
        }
        (None, Some(path)) => {
            csv_table::walk(path, &mut visit)?;
            path
        }
        (None, None) => return Ok(found),
    };
    if let Some(code) = wanted.iter().find(|c| !seen.contains(**c)) {
        return Err(GeoError::UnknownCountry { path: path.display().to_string(), code: code.to_string() });
    }
    Ok(found)
}
