//! Making an LPM trie map hold exactly a set of prefixes (the views' and the rate limiter's
//! exempt ones), each with its value.

use std::{
    borrow::{Borrow, BorrowMut},
    collections::BTreeMap,
};

use aya::maps::{LpmTrie, MapData, MapError, lpm_trie::Key as PrefixKey};

/// Prefixes as (length, address bytes), each with its value.
pub type Prefixes<const N: usize> = BTreeMap<(u32, [u8; N]), u32>;

/// New and changed prefixes first, then the removal of the others: a prefix that stays is never
/// missing.
pub fn write<T: Borrow<MapData> + BorrowMut<MapData>, const N: usize>(
    trie: &mut LpmTrie<T, [u8; N], u32>,
    wanted: &Prefixes<N>,
) -> Result<(), MapError> {
    let present: Prefixes<N> =
        trie.iter().filter_map(Result::ok).map(|(key, value)| ((key.prefix_len(), key.data()), value)).collect();
    for (&(len, addr), value) in wanted {
        if present.get(&(len, addr)) != Some(value) {
            trie.insert(&PrefixKey::new(len, addr), value, 0)?;
        }
    }
    for &(len, addr) in present.keys().filter(|key| !wanted.contains_key(key)) {
        trie.remove(&PrefixKey::new(len, addr))?;
    }
    Ok(())
}
