//! Views that select countries and continents: their codes checked with the rest of the file,
//! their networks read from `[geo]` by `Config::load_for_host` (at start, `check` and reload).

use std::path::Path;

use super::{Config, ConfigError};
use crate::{
    answers::Views,
    geo::{self, CONTINENTS, GeoError, Selection},
};

impl Config {
    /// Every view selects something; its prefixes have no host bits (a typo such as
    /// `10.1.2.3/8` would widen the view without a word); country and continent codes are
    /// well-formed and have a `[geo]` database to look them up in.
    pub(super) fn validate_geo_views(&self) -> Result<(), (String, String)> {
        if let Some(geo) = &self.geo {
            geo.validate()?;
        }
        for (i, view) in self.view.iter().enumerate() {
            if view.prefixes.is_empty() && view.countries.is_empty() && view.continents.is_empty() {
                return Err((format!("view[{i}]"), "give `prefixes`, `countries` or `continents`".into()));
            }
            for (j, net) in view.prefixes.iter().enumerate() {
                super::no_host_bits(net).map_err(|problem| (format!("view[{i}].prefixes[{j}]"), problem))?;
            }
            for (j, code) in view.countries.iter().enumerate() {
                if !(code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())) {
                    let problem =
                        format!("{code:?} is not a two-letter ISO 3166-1 country code in capitals, e.g. \"DE\"");
                    return Err((format!("view[{i}].countries[{j}]"), problem));
                }
            }
            for (j, code) in view.continents.iter().enumerate() {
                if !CONTINENTS.contains(&code.as_str()) {
                    let problem = format!("{code:?} is not a continent code: use one of {}", CONTINENTS.join(", "));
                    return Err((format!("view[{i}].continents[{j}]"), problem));
                }
            }
            let selects_places = !view.countries.is_empty() || !view.continents.is_empty();
            if selects_places && self.geo.is_none() {
                let key = if view.countries.is_empty() { "continents" } else { "countries" };
                return Err((format!("view[{i}].{key}"), "needs a [geo] database (`mmdb` or `csv`)".into()));
            }
        }
        Ok(())
    }

    /// Reads the `[geo]` database into the views' `geo_prefixes`, then checks that every
    /// view's prefixes fit the XDP view tries.
    pub(super) fn expand_geo_views(&mut self, file: &Path) -> Result<(), ConfigError> {
        let error = |key: String, problem: String| ConfigError { file: file.display().to_string(), key, problem };
        let selections: Vec<Selection> = self
            .view
            .iter()
            .map(|v| Selection { countries: v.countries.clone(), continents: v.continents.clone() })
            .collect();
        if let Some(geo) = self.geo.as_ref().filter(|_| selections.iter().any(|s| !s.is_empty())) {
            let found = geo::expand(geo, &selections).map_err(|e| {
                let key = match &e {
                    GeoError::UnknownCountry { code, .. } => self.view_selecting(code),
                    _ => "geo".into(),
                };
                error(key, e.to_string())
            })?;
            for (view, networks) in self.view.iter_mut().zip(found) {
                view.geo_prefixes = networks;
            }
        }
        Views::from_config(self).check_fits().map_err(|problem| error("view".into(), problem))
    }

    /// The key of the first view that selects `country`.
    fn view_selecting(&self, country: &str) -> String {
        let at = self.view.iter().position(|v| v.countries.iter().any(|c| c == country)).unwrap_or(0);
        format!("view[{at}].countries")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[[zone]]\nname = \"example.com.\"\nns = [\"ns1.example.com.\"]\n\
        soa = { mname = \"ns1.example.com.\", rname = \"h.example.com.\" }\n";

    fn refused(text: &str) -> String {
        Config::parse(&format!("{BASE}{text}"), "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn codes_and_the_database_are_checked_with_the_file() {
        let geo = "[geo]\ncsv = \"/nonexistent.csv\"\n";
        let view = |line: &str| format!("[[view]]\nname = \"v\"\n{line}\n{geo}");
        assert!(refused(&view("countries = [\"de\"]")).contains("view[0].countries[0]: \"de\" is not a two-letter"));
        assert!(refused(&view("continents = [\"EUR\"]")).contains("view[0].continents[0]: \"EUR\" is not a continent"));
        assert!(refused("[[view]]\nname = \"v\"\n").contains("view[0]: give `prefixes`, `countries` or `continents`"));
        let no_geo = refused("[[view]]\nname = \"v\"\ncontinents = [\"EU\"]\n");
        assert!(no_geo.contains("view[0].continents: needs a [geo] database"), "{no_geo}");
        let both = refused("[geo]\ncsv = \"a.csv\"\nmmdb = \"a.mmdb\"\n");
        assert!(both.contains("geo: give either `mmdb` or `csv`, not both"), "{both}");
        assert!(Config::parse(&format!("{BASE}{}", view("countries = [\"DE\"]")), "t.toml").is_ok());
    }

    #[test]
    fn loading_reads_the_database_into_the_views() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("geo.csv");
        std::fs::write(&csv, "198.18.0.0/25,DE,EU\n198.18.0.128/25,DE,EU\nfd00::/16,FR,EU\n").unwrap();
        let file = dir.path().join("s.toml");
        let text = format!(
            "{BASE}[xdp]\nmode = \"off\"\n[[view]]\nname = \"de\"\ncountries = [\"DE\"]\n\
             [[view]]\nname = \"eu\"\ncontinents = [\"EU\"]\n[geo]\ncsv = {:?}\n",
            csv.to_str().unwrap()
        );
        std::fs::write(&file, &text).unwrap();
        let config = Config::load_for_host(&file).unwrap();
        assert_eq!(Views::from_config(&config).describe(), ["view de: 1 prefixes", "view eu: 1 prefixes"]);
        std::fs::write(&file, text.replace("\"DE\"]", "\"DE\", \"GB\"]")).unwrap();
        let error = Config::load_for_host(&file).unwrap_err().to_string();
        assert!(error.contains("view[0].countries: no network in") && error.contains("\"GB\""), "{error}");
    }
}
