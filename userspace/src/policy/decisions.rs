//! The policy's output, its decisions: ordered addresses per (service, family, view).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::Peekable;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

/// Address family of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Family {
    A,
    Aaaa,
}

impl Family {
    /// The record type's name: "A" or "AAAA".
    pub fn record_type(self) -> &'static str {
        match self {
            Family::A => "A",
            Family::Aaaa => "AAAA",
        }
    }

    /// The record type's code.
    pub fn code(self) -> u16 {
        match self {
            Family::A => switchyard_common::QTYPE_A,
            Family::Aaaa => switchyard_common::QTYPE_AAAA,
        }
    }
}

/// Identifies one decision. `view == None` is the default view.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DecisionKey {
    pub service: Arc<str>,
    pub family: Family,
    pub view: Option<Arc<str>>,
}

impl DecisionKey {
    pub fn new(service: &str, family: Family, view: Option<&str>) -> Self {
        DecisionKey { service: service.into(), family, view: view.map(Into::into) }
    }
}

/// Addresses in answer order; empty means "no records of this family".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub ttl: u32,
    pub addrs: Vec<IpAddr>,
    /// The sites answered, in order (their addresses make up `addrs`).
    pub sites: Vec<Arc<str>>,
    /// With `first_weights`: the sites' address groups a client's first address is chosen
    /// from, by weight; the others follow in `addrs` order. Empty: every client gets `addrs`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first: Vec<FirstGroup>,
}

/// One site's addresses within a decision and its weight for coming first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FirstGroup {
    pub start: usize,
    pub len: usize,
    pub weight: u32,
}

/// Every decision for every service, sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decisions {
    entries: BTreeMap<DecisionKey, Decision>,
}

impl Decisions {
    pub fn get(&self, service: &str, family: Family, view: Option<&str>) -> Option<&Decision> {
        self.entries.get(&DecisionKey::new(service, family, view))
    }

    /// Addresses of one decision, or an empty slice when the key is unknown.
    pub fn addrs(&self, service: &str, family: Family, view: Option<&str>) -> &[IpAddr] {
        self.get(service, family, view).map_or(&[], |decision| decision.addrs.as_slice())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&DecisionKey, &Decision)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(DecisionKey, Decision)> for Decisions {
    fn from_iter<I: IntoIterator<Item = (DecisionKey, Decision)>>(iter: I) -> Self {
        Decisions { entries: iter.into_iter().collect() }
    }
}

/// One entry that differs between two sets of decisions; `decision == None` means removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionChange {
    pub key: DecisionKey,
    pub decision: Option<Decision>,
}

/// Entries of `new` that differ from `old`, plus entries that disappeared,
/// in key order. One merge pass over both sorted tables.
pub fn diff(old: &Decisions, new: &Decisions) -> Vec<DecisionChange> {
    let mut changes = Vec::new();
    let mut old_iter = old.entries.iter().peekable();
    let mut new_iter = new.entries.iter().peekable();
    loop {
        match next_pair(&mut old_iter, &mut new_iter) {
            Step::Both(key, before, after) => {
                if before != after {
                    changes.push(DecisionChange { key: key.clone(), decision: Some(after.clone()) });
                }
            }
            Step::OnlyOld(key) => changes.push(DecisionChange { key: key.clone(), decision: None }),
            Step::OnlyNew(key, after) => {
                changes.push(DecisionChange { key: key.clone(), decision: Some(after.clone()) })
            }
            Step::Done => return changes,
        }
    }
}

enum Step<'a> {
    Both(&'a DecisionKey, &'a Decision, &'a Decision),
    OnlyOld(&'a DecisionKey),
    OnlyNew(&'a DecisionKey, &'a Decision),
    Done,
}

type Entries<'a> = Peekable<btree_map::Iter<'a, DecisionKey, Decision>>;

fn next_pair<'a>(old: &mut Entries<'a>, new: &mut Entries<'a>) -> Step<'a> {
    let order = match (old.peek(), new.peek()) {
        (None, None) => return Step::Done,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some((old_key, _)), Some((new_key, _))) => old_key.cmp(new_key),
    };
    match order {
        Ordering::Less => {
            let (key, _) = old.next().expect("peeked");
            Step::OnlyOld(key)
        }
        Ordering::Greater => {
            let (key, decision) = new.next().expect("peeked");
            Step::OnlyNew(key, decision)
        }
        Ordering::Equal => {
            let (key, before) = old.next().expect("peeked");
            let (_, after) = new.next().expect("peeked");
            Step::Both(key, before, after)
        }
    }
}
