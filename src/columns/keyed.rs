//! Rows of a table found by a string key, without copying the keys: the table holds
//! row numbers and compares against the column itself.

use std::hash::BuildHasher;

use datafusion::arrow::array::{Array, StringArray};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;

/// `i` as a row number of a table held in a `HashTable<u32>`.
pub(crate) fn row(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The hash a `HashTable<u32>` of rows keyed by strings files `key` under.
pub(crate) fn hash(key: &str) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// The first row of each distinct value of `keys` (NULLs left out), keyed by the
/// strings of `keys` themselves: look rows up with [`find`].
pub(crate) fn rows_by_key(keys: &StringArray) -> HashTable<u32> {
    let mut table = HashTable::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key else {
            continue;
        };
        let same = |&r: &u32| keys.value(r as usize) == key;
        let rehash = |&r: &u32| hash(keys.value(r as usize));
        if let Entry::Vacant(slot) = table.entry(hash(key), same, rehash) {
            slot.insert(row(i));
        }
    }
    table
}

/// The row of `ids` equal to `key` in `table`.
pub(crate) fn find(table: &HashTable<u32>, ids: &StringArray, key: &str) -> Option<u32> {
    table
        .find(hash(key), |&r| ids.value(r as usize) == key)
        .copied()
}
