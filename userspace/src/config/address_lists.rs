//! `a` and `aaaa` lists read with an error that says what an address of the other family is
//! doing there, rather than the parser's "invalid IPv4 address syntax".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Deserializer, de::Error};

/// `a = [...]`: IPv4 addresses only.
pub fn ipv4<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Ipv4Addr>, D::Error> {
    Vec::<String>::deserialize(deserializer)?.iter().map(|text| parse(text, "aaaa").map_err(D::Error::custom)).collect()
}

/// `aaaa = [...]`: IPv6 addresses only.
pub fn ipv6<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Ipv6Addr>, D::Error> {
    Vec::<String>::deserialize(deserializer)?.iter().map(|text| parse(text, "a").map_err(D::Error::custom)).collect()
}

/// `text` as an address of the family `T`; `other_key` is where the other family belongs.
fn parse<T: std::str::FromStr>(text: &str, other_key: &str) -> Result<T, String> {
    if let Ok(address) = text.parse::<T>() {
        return Ok(address);
    }
    let family = if other_key == "a" { "IPv6" } else { "IPv4" };
    Err(match text.parse::<IpAddr>() {
        Ok(other) => format!("{other} is not an {family} address: list it under `{other_key}`"),
        Err(_) => format!("{text:?} is not an {family} address"),
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Lists {
        #[serde(default, deserialize_with = "super::ipv4")]
        a: Vec<std::net::Ipv4Addr>,
        #[serde(default, deserialize_with = "super::ipv6")]
        aaaa: Vec<std::net::Ipv6Addr>,
    }

    fn error(text: &str) -> String {
        toml::from_str::<Lists>(text).expect_err("refused").to_string()
    }

    #[test]
    fn an_address_of_the_other_family_is_named_with_where_it_belongs() {
        let ok: Lists = toml::from_str("a = [\"198.18.1.1\"]\naaaa = [\"fd00::1\"]").unwrap();
        assert_eq!((ok.a.len(), ok.aaaa.len()), (1, 1));
        assert!(error("a = [\"2001:db8::1\"]").contains("2001:db8::1 is not an IPv4 address: list it under `aaaa`"));
        assert!(error("aaaa = [\"198.18.1.1\"]").contains("198.18.1.1 is not an IPv6 address: list it under `a`"));
        assert!(error("a = [\"198.18.1\"]").contains("\"198.18.1\" is not an IPv4 address"));
        assert!(error("a = [\"198.18.1.1\", 7]").contains("invalid type"), "a non-string is still refused");
    }
}
