//! Digests of a table's rows for anti-entropy. Rows fall into 256 ranges by
//! the hash of their key; a range's digest is the XOR of its rows' hashes, so
//! it does not depend on the order rows are read in. A row's hash covers its
//! key and every column's value exactly (columns by name, so their order in
//! the table does not matter).

use std::collections::BTreeSet;

use rusqlite::Connection;
use sha2::{Digest, Sha256};

use super::capture::TableShape;
use super::error::Result;
use super::sql::ident;
use super::value::Value;
use super::wire::{RowHash, encode};

pub const RANGES: usize = 256;

/// The range a key falls into.
pub fn range_of(pk: &Value) -> u8 {
    Sha256::digest(encode(pk))[0]
}

fn row_hash(pk: &Value, named: &[(&str, Value)]) -> [u8; 16] {
    let digest = Sha256::digest(encode(&(pk, named)));
    digest[..16].try_into().expect("16 of 32 bytes")
}

/// Calls `each` with every row's key, range and hash.
fn scan(conn: &Connection, shape: &TableShape, mut each: impl FnMut(Value, u8, [u8; 16])) -> Result<()> {
    let mut names: Vec<(usize, &str)> = shape.columns.iter().enumerate().map(|(i, c)| (i, c.as_str())).collect();
    names.sort_by_key(|(_, name)| *name);
    let columns: Vec<String> = std::iter::once(&shape.pk).chain(shape.columns.iter()).map(|c| ident(c)).collect();
    let sql = format!("SELECT {} FROM {}", columns.join(", "), ident(&shape.name));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let pk: Value = row.get(0)?;
        let mut named = Vec::with_capacity(names.len());
        for (i, name) in &names {
            named.push((*name, row.get::<_, Value>(i + 1)?));
        }
        let hash = row_hash(&pk, &named);
        let range = range_of(&pk);
        each(pk, range, hash);
    }
    Ok(())
}

/// The digest of each of the table's 256 ranges.
pub fn table_digests(conn: &Connection, shape: &TableShape) -> Result<Vec<[u8; 16]>> {
    let mut ranges = vec![[0u8; 16]; RANGES];
    scan(conn, shape, |_, range, hash| {
        for (d, h) in ranges[range as usize].iter_mut().zip(hash) {
            *d ^= h;
        }
    })?;
    Ok(ranges)
}

/// Every row of the given ranges, with its hash.
pub fn rows_in(conn: &Connection, shape: &TableShape, ranges: &BTreeSet<u8>) -> Result<Vec<RowHash>> {
    let mut out = Vec::new();
    scan(conn, shape, |pk, range, hash| {
        if ranges.contains(&range) {
            out.push(RowHash { pk, hash });
        }
    })?;
    Ok(out)
}
