//! Networks of a CSV file: one network per line, as `prefix,country[,continent]` (e.g.
//! `198.18.0.0/24,DE,EU`) or as an address range `first,last,country[,continent]` (e.g.
//! `198.18.0.0,198.18.1.255,DE,EU`), which becomes the fewest prefixes that cover it exactly.
//! Either code may be empty; blank lines and lines starting with `#` are skipped.

use std::{net::IpAddr, path::Path};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

use super::{CONTINENTS, GeoError, Located};

/// Calls `visit` for every network of the file at `path`; the first bad line fails the whole file.
pub fn walk(path: &Path, mut visit: impl FnMut(Located<'_>)) -> Result<(), GeoError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| GeoError::Unreadable { path: name.clone(), source })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for record in reader.records() {
        let bad = |line: u64, reason: String| GeoError::BadLine { path: name.clone(), line, reason };
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<&str> = record.iter().collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        let (networks, place) = parse_line(&fields).map_err(|reason| bad(line, reason))?;
        for network in networks {
            visit(Located { network, country: place.0, continent: place.1 });
        }
    }
    Ok(())
}

type Place<'a> = (Option<&'a str>, Option<&'a str>);

/// The networks and place of one line's fields.
fn parse_line<'a>(fields: &[&'a str]) -> Result<(Vec<IpNet>, Place<'a>), String> {
    let (networks, codes) = if fields[0].contains('/') {
        let network: IpNet = fields[0].parse().map_err(|_| format!("{:?} is not an IP prefix", fields[0]))?;
        if network.trunc() != network {
            return Err(format!("{network} has bits set after the prefix; write {}", network.trunc()));
        }
        (vec![network], &fields[1..])
    } else {
        let last = fields.get(1).ok_or("expected prefix,country[,continent] or first,last,country[,continent]")?;
        (range(fields[0], last)?, &fields[2..])
    };
    if codes.is_empty() || codes.len() > 2 {
        return Err(format!(
            "expected a country and an optional continent after the network, found {} fields",
            codes.len()
        ));
    }
    let country = Some(codes[0]).filter(|c| !c.is_empty());
    let continent = codes.get(1).copied().filter(|c| !c.is_empty());
    if let Some(country) = country
        && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(format!("country {country:?} is not a two-letter ISO 3166-1 code in capitals"));
    }
    if let Some(continent) = continent
        && !CONTINENTS.contains(&continent)
    {
        return Err(format!("continent {continent:?} is none of {}", CONTINENTS.join(", ")));
    }
    if country.is_none() && continent.is_none() {
        return Err("neither a country nor a continent".into());
    }
    Ok((networks, (country, continent)))
}

/// The prefixes that cover `first..=last` exactly.
fn range(first: &str, last: &str) -> Result<Vec<IpNet>, String> {
    let address = |text: &str| text.parse::<IpAddr>().map_err(|_| format!("{text:?} is not an IP address or prefix"));
    let networks: Vec<IpNet> = match (address(first)?, address(last)?) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        (a, b) if a.is_ipv4() == b.is_ipv4() => return Err(format!("the range {a} to {b} ends before it starts")),
        (a, b) => return Err(format!("the range {a} to {b} mixes IPv4 and IPv6")),
    };
    Ok(networks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn prefixes_and_ranges_become_networks_with_their_place() {
        let (networks, place) = parse_line(&["198.18.0.0/24", "DE", "EU"]).unwrap();
        assert_eq!((networks, place), (nets(&["198.18.0.0/24"]), (Some("DE"), Some("EU"))));
        let (networks, place) = parse_line(&["198.18.0.0", "198.18.2.127", "FR"]).unwrap();
        assert_eq!(networks, nets(&["198.18.0.0/23", "198.18.2.0/25"]));
        assert_eq!(place, (Some("FR"), None));
        let (networks, place) = parse_line(&["fd00:1::", "fd00:1::ff", "", "OC"]).unwrap();
        assert_eq!((networks, place), (nets(&["fd00:1::/120"]), (None, Some("OC"))));
    }

    #[test]
    fn a_bad_line_says_what_is_wrong() {
        let refused = |fields: &[&str]| parse_line(fields).unwrap_err();
        assert!(refused(&["198.18.0.1/24", "DE"]).contains("write 198.18.0.0/24"));
        assert!(refused(&["198.18.0.0/33", "DE"]).contains("not an IP prefix"));
        assert!(refused(&["198.18.0.9", "198.18.0.1", "DE"]).contains("ends before it starts"));
        assert!(refused(&["198.18.0.0", "fd00::1", "DE"]).contains("mixes IPv4 and IPv6"));
        assert!(refused(&["198.18.0.0/24", "de"]).contains("two-letter"));
        assert!(refused(&["198.18.0.0/24", "DE", "XX"]).contains("none of AF"));
        assert!(refused(&["198.18.0.0/24", "", ""]).contains("neither"));
        assert!(refused(&["198.18.0.0/24"]).contains("found 0 fields"));
        assert!(refused(&["198.18.0.0/24", "DE", "EU", "x"]).contains("found 3 fields"));
    }

    #[test]
    fn the_file_names_the_line_of_its_first_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geo.csv");
        std::fs::write(&path, "# network,country,continent\n198.18.0.0/24,DE,EU\n\nfd00::/16,FR,EU\nnonsense,DE\n")
            .unwrap();
        let mut seen = Vec::new();
        let error = walk(&path, |l| seen.push((l.network, l.country.map(str::to_string)))).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("{} line 5: \"nonsense\" is not an IP address or prefix", path.display())
        );
        std::fs::write(&path, "198.18.0.0/24,DE,EU\n").unwrap();
        seen.clear();
        walk(&path, |l| seen.push((l.network, l.country.map(str::to_string)))).unwrap();
        assert_eq!(seen, [("198.18.0.0/24".parse().unwrap(), Some("DE".to_string()))]);
        let missing = walk(&dir.path().join("none.csv"), |_| {}).unwrap_err().to_string();
        assert!(missing.starts_with("cannot read ") && missing.contains("none.csv"), "{missing}");
    }
}
