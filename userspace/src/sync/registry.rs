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
