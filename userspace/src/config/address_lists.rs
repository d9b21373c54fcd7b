//! `a` and `aaaa` lists read with an error that says what an address of the other family is
//! doing there, rather than the parser's "invalid IPv4 address syntax". Each address is read on
//! its own, so the error's key names its place in the list (`service[0].a[1]`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Deserializer, de::Error};

/// `a = [...]`: IPv4 addresses only.
pub fn ipv4<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Ipv4Addr>, D::Error> {
    Ok(Vec::<Listed<Ipv4Addr>>::deserialize(deserializer)?.into_iter().map(|listed| listed.0).collect())
}

/// `aaaa = [...]`: IPv6 addresses only.
pub fn ipv6<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Ipv6Addr>, D::Error> {
    Ok(Vec::<Listed<Ipv6Addr>>::deserialize(deserializer)?.into_iter().map(|listed| listed.0).collect())
}

/// One address of a list of one family.
struct Listed<T>(T);

/// The family an address type is, and the key that lists the other one.
trait Family: std::str::FromStr {
    const NAME: &'static str;
    const OTHER_KEY: &'static str;
}

impl Family for Ipv4Addr {
    const NAME: &'static str = "IPv4";
    const OTHER_KEY: &'static str = "aaaa";
}

impl Family for Ipv6Addr {
    const NAME: &'static str = "IPv6";
    const OTHER_KEY: &'static str = "a";
}

impl<'de, T: Family> Deserialize<'de> for Listed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if let Ok(address) = text.parse::<T>() {
            return Ok(Listed(address));
        }
        Err(D::Error::custom(match text.parse::<IpAddr>() {
            Ok(other) => format!("{other} is not an {} address: list it under `{}`", T::NAME, T::OTHER_KEY),
            Err(_) => format!("invalid {} address: {text:?}", T::NAME),
        }))
    }
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
        assert!(error("a = [\"198.18.1\"]").contains("invalid IPv4 address: \"198.18.1\""));
        assert!(error("a = [\"198.18.1.1\", 7]").contains("invalid type"), "a non-string is still refused");
    }
}
