//! Arrow helpers that the grant, activity and alert tables share: typed column
//! access, rows found by a string key, and row copies that leave out the columns no
//! rule reads.
//!
//! Owns no data model; it knows columns, not what they mean.

mod access;
mod copy;
mod keyed;

pub(crate) use access::{primitive_column, string_column};
pub use copy::Columns;
pub(crate) use copy::{filter_rows, take_rows};
pub(crate) use keyed::{find, hash, row, rows_by_key};
