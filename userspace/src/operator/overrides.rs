//! Answers set by hand (`switchyard map set`): checked against the config, then laid over the
//! policy's table for both paths.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr},
};

use serde::{Deserialize, Serialize};
use switchyard_common::{DEFAULT_VIEW, FirstChoice, MAX_ADDRS, MAX_NAME_LEN, QTYPE_A, QTYPE_AAAA};

use super::OperatorError;

use crate::{
    answers::{AnswerKey, AnswerSet, AnswerTable, Views, wire_name},
    config::{Config, DEFAULT_VIEW_NAME, MAX_TTL, parse_name},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
pub enum Qtype {
    #[serde(rename = "A")]
    #[value(name = "A", alias = "a")]
    A,
    #[serde(rename = "AAAA")]
    #[value(name = "AAAA", alias = "aaaa")]
    Aaaa,
}

impl Qtype {
    pub fn code(self) -> u16 {
        match self {
            Qtype::A => QTYPE_A,
            Qtype::Aaaa => QTYPE_AAAA,
        }
    }
}

impl std::fmt::Display for Qtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Qtype::A => "A",
            Qtype::Aaaa => "AAAA",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Lowercase, with the final dot.
    pub name: String,
    pub qtype: Qtype,
    /// A `[[view]]` name; `None` is the default view.
    #[serde(default)]
    pub view: Option<String>,
    #[serde(default)]
    pub ttl: u32,
    #[serde(default)]
    pub addrs: Vec<IpAddr>,
}

impl Override {
    pub fn same_key(&self, other: &Override) -> bool {
        (&self.name, self.qtype, &self.view) == (&other.name, other.qtype, &other.view)
    }

    /// Normalises the name and view ("default" is the default view) and checks the key against
    /// `config`: only configured services can be overridden, because the userspace server
    /// answers NXDOMAIN for any other name. With `check_addrs`, also the addresses.
    pub fn checked(mut self, config: &Config, check_addrs: bool) -> Result<Override, OperatorError> {
        let name = parse_name(&self.name).map_err(OperatorError::BadName)?.to_lowercase();
        self.name = name.to_ascii();
        if !config.service.iter().any(|s| parse_name(&s.name).is_ok_and(|n| n.to_lowercase() == name)) {
            return Err(OperatorError::NotAService(self.name));
        }
        if wire_name(&name).len() > MAX_NAME_LEN {
            return Err(OperatorError::NameTooLong(self.name));
        }
        if self.view.as_deref() == Some(DEFAULT_VIEW_NAME) {
            self.view = None;
        }
        if let Some(view) = &self.view
            && !config.view.iter().any(|v| &v.name == view)
        {
            return Err(OperatorError::UnknownView(view.clone()));
        }
        if !check_addrs {
            return Ok(self);
        }
        if self.ttl > MAX_TTL {
            return Err(OperatorError::TtlTooLarge(self.ttl));
        }
        self.check_addrs()?;
        Ok(self)
    }

    /// The addresses of an answer: 1 to `MAX_ADDRS` of the record's family, each once, each
    /// one a client can connect to.
    fn check_addrs(&self) -> Result<(), OperatorError> {
        if self.addrs.is_empty() || self.addrs.len() > MAX_ADDRS {
            return Err(OperatorError::AddressCount);
        }
        let wrong_family = |a: &IpAddr| match self.qtype {
            Qtype::A => !a.is_ipv4(),
            Qtype::Aaaa => !a.is_ipv6(),
        };
        if let Some(bad) = self.addrs.iter().find(|a| wrong_family(a)) {
            return Err(OperatorError::WrongFamily { addr: *bad, qtype: self.qtype });
        }
        if let Some((addr, kind)) = self.addrs.iter().find_map(|a| unreachable_kind(*a).map(|kind| (*a, kind))) {
            return Err(OperatorError::Unreachable { addr, kind });
        }
        for (i, addr) in self.addrs.iter().enumerate() {
            if self.addrs[..i].contains(addr) {
                return Err(OperatorError::DuplicateAddress(*addr));
            }
        }
        Ok(())
    }

    /// The name in the answer table's form.
    pub fn wire_name(&self) -> Option<Vec<u8>> {
        Some(wire_name(&parse_name(&self.name).ok()?))
    }

    fn key(&self, views: &Views) -> Option<AnswerKey> {
        let view = match &self.view {
            None => DEFAULT_VIEW,
            Some(name) => views.id_of(name)?,
        };
        let name = wire_name(&parse_name(&self.name).ok()?);
        Some(AnswerKey { view, qtype: self.qtype.code(), name })
    }
}

/// What kind of address no client can connect to `addr` is, if it is one.
fn unreachable_kind(addr: IpAddr) -> Option<&'static str> {
    if addr.is_unspecified() {
        Some("the unspecified address")
    } else if addr == IpAddr::V4(Ipv4Addr::BROADCAST) {
        Some("the broadcast address")
    } else if addr.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// Lays `overrides` over `table` and returns the keys they took. Overrides whose view is gone
/// are skipped.
pub fn apply(overrides: &[Override], table: &mut AnswerTable, views: &Views) -> HashSet<AnswerKey> {
    let mut keys = HashSet::new();
    for o in overrides {
        let Some(key) = o.key(views) else { continue };
        table.entries.insert(key.clone(), AnswerSet { ttl: o.ttl, addrs: o.addrs.clone(), first: FirstChoice::NONE });
        keys.insert(key);
    }
    keys
}

#[cfg(test)]
#[path = "overrides_tests.rs"]
mod tests;
