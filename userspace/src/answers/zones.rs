//! The zones this server is authoritative for and the names that exist in them, built from
//! the config (each zone's SOA with the serial it is served with), swapped together with the
//! answers when a reload changes them.

use std::collections::{BTreeMap, HashSet};

use hickory_proto::rr::{
    Name, RData, Record,
    rdata::{NS, SOA},
};

use super::wire_name;
use crate::config::{Config, parse_name};
use crate::dns::NegativeTemplate;

pub struct Zone {
    pub name: Name,
    /// `name` in the answer table's form, to tell the apex without encoding it per query.
    pub wire: Vec<u8>,
    /// The SOA record as an answer, with the zone's TTL.
    pub soa: Record,
    /// The SOA record in negative answers: cached for min(SOA TTL, SOA MINIMUM) (RFC 2308).
    pub negative_soa: Record,
    pub ns: Vec<Record>,
    /// The zone's DNSSEC signer, when `[zone.dnssec]` is set.
    pub signing: crate::dnssec::ZoneSigning,
    /// The authority section of NXDOMAIN and NODATA replies, for the userspace fast path.
    pub negative: Option<NegativeTemplate>,
    /// Whether a service in this zone is a wildcard (`*.name`), so that a name that does not
    /// exist may still be answered (RFC 4592).
    pub wildcards: bool,
}

#[derive(Default)]
pub struct Zones {
    pub zones: Vec<Zone>,
    /// Every name that exists in the zones (apexes, services, and the names between them).
    pub names: HashSet<Vec<u8>>,
    /// Whether any zone is signed: read per DO=1 query by the fast path.
    pub any_signed: bool,
    /// Labels of the longest name in `names`: no longer ancestor of a name asked can exist.
    deepest: usize,
}

impl Zones {
    /// The zones of a validated config; `serials` (zone name → serial) overrides the
    /// configured SOA serials.
    pub fn from_config(config: &Config, serials: &BTreeMap<String, u32>) -> Zones {
        let mut out = Zones::default();
        for z in &config.zone {
            let name = parse_name(&z.name).expect("validated");
            let serial = serials.get(&z.name).copied().unwrap_or(z.soa.serial);
            let soa = SOA::new(
                parse_name(&z.soa.mname).expect("validated"),
                parse_name(&z.soa.rname).expect("validated"),
                serial,
                z.soa.refresh,
                z.soa.retry,
                z.soa.expire,
                z.soa.minimum,
            );
            let soa = Record::from_rdata(name.clone(), z.ttl, RData::SOA(soa));
            let mut negative_soa = soa.clone();
            negative_soa.ttl = z.ttl.min(z.soa.minimum);
            let ns =
                z.ns.iter()
                    .map(|n| Record::from_rdata(name.clone(), z.ttl, RData::NS(NS(parse_name(n).expect("validated")))))
                    .collect();
            let wire = wire_name(&name);
            out.names.insert(wire.clone());
            let signing = crate::dnssec::ZoneSigning::for_zone(&name, z.dnssec.as_ref());
            let negative = NegativeTemplate::new(&name, &negative_soa);
            out.zones.push(Zone { name, wire, soa, negative_soa, ns, signing, negative, wildcards: false });
        }
        out.any_signed = out.zones.iter().any(|z| z.signing.is_signed());
        for service in &config.service {
            let mut name = parse_name(&service.name).expect("validated");
            if name.is_wildcard() {
                let at = closest_zone(&out.zones, &name).expect("validated");
                out.zones[at].wildcards = true;
            }
            // The service name and every empty non-terminal up to its zone exist.
            while out.zones.iter().any(|z| z.name.zone_of(&name)) {
                out.names.insert(wire_name(&name));
                if name.is_root() {
                    break;
                }
                name = name.base_name();
            }
        }
        out.deepest = out.names.iter().map(|name| labels_of(name)).max().unwrap_or(0);
        out
    }

    /// The closest enclosing zone of `name`.
    pub fn zone_of(&self, name: &Name) -> Option<&Zone> {
        closest_zone(&self.zones, name).map(|at| &self.zones[at])
    }

    /// The closest enclosing zone of `zone` other than itself (the parent side of its zone
    /// cut), when this server serves one.
    pub fn parent_of(&self, zone: &Zone) -> Option<&Zone> {
        if zone.name.is_root() {
            return None;
        }
        self.zone_of(&zone.name.base_name())
    }

    /// `zone_of` for a name in the answer table's form (lowercase wire).
    pub fn zone_of_wire(&self, wire: &[u8]) -> Option<&Zone> {
        let mut at = 0;
        // Suffixes from the longest, so the first zone found is the closest enclosing one.
        while let Some(&len) = wire.get(at) {
            if let Some(zone) = self.zones.iter().find(|z| z.wire == wire[at..]) {
                return Some(zone);
            }
            if len == 0 {
                break;
            }
            at += 1 + usize::from(len);
        }
        None
    }

    /// The zones whose answers are signed: name (answer-table form) and signer (`None` when
    /// its key could not be loaded).
    pub fn signers(&self) -> Vec<crate::bpf::writer::ZoneSigners> {
        self.zones
            .iter()
            .filter(|z| z.signing.is_signed())
            .map(|z| (z.wire.clone(), z.signing.signer().cloned()))
            .collect()
    }

    pub fn exists(&self, wire: &[u8]) -> bool {
        self.names.contains(wire)
    }

    /// The wildcard that answers for a name in `zone` (its closest enclosing zone) that does
    /// not exist (RFC 4592 3.3.1): `*.` and the closest encloser (the name's longest ancestor
    /// that exists), when that wildcard is served. `None` when the name exists, or no wildcard
    /// covers it (then it is NXDOMAIN). Lowercase wire form in and out.
    pub fn wildcard_source(&self, zone: &Zone, wire: &[u8]) -> Option<Vec<u8>> {
        if !zone.wildcards || self.exists(wire) {
            return None;
        }
        let (mut at, mut labels) = (0, labels_of(wire));
        // The zone's apex exists, so the walk ends there at the latest.
        loop {
            let len = usize::from(*wire.get(at).filter(|&&len| len != 0)?);
            at += 1 + len;
            labels -= 1;
            let ancestor = wire.get(at..)?;
            // Only names no deeper than the deepest configured one are looked up, so a long
            // name made up by a client costs a walk, not a lookup per label.
            if labels <= self.deepest && self.exists(ancestor) {
                let source = [&b"\x01*"[..], ancestor].concat();
                return self.exists(&source).then_some(source);
            }
        }
    }
}

/// Where in `zones` the closest enclosing zone of `name` is.
fn closest_zone(zones: &[Zone], name: &Name) -> Option<usize> {
    (0..zones.len()).filter(|&at| zones[at].name.zone_of(name)).max_by_key(|&at| zones[at].name.num_labels())
}

/// Labels of a wire-form name, the root not counted.
fn labels_of(wire: &[u8]) -> usize {
    let (mut at, mut labels) = (0, 0);
    while let Some(&len) = wire.get(at).filter(|&&len| len != 0) {
        at += 1 + usize::from(len);
        labels += 1;
    }
    labels
}
