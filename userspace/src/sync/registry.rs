//! The resolved setup of one replica: its site id, synced tables and peers.

use std::collections::BTreeMap;

use super::capture::TableShape;
use super::conflict_rule::ConflictRule;

#[derive(Debug, Clone)]
pub struct TableSpec {
    pub shape: TableShape,
    pub rule: ConflictRule,
}

#[derive(Debug, Clone)]
pub struct Registry {
    pub site_id: String,
    /// This run of the replica: a random id, new each time the database is
    /// opened, that the writes stamped here carry (see `registers::Seen`).
    pub epoch: u32,
    pub tables: BTreeMap<String, TableSpec>,
    pub peers: Vec<String>,
}

impl Registry {
    pub fn table(&self, name: &str) -> Option<&TableSpec> {
        self.tables.get(name)
    }

    pub fn is_peer(&self, site: &str) -> bool {
        self.peers.iter().any(|p| p == site)
    }
}
