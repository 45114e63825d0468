//! Rows of a table copied into a new batch, for the rules' plans of one batch. Two
//! savings over arrow's `take` and `filter`:
//!
//! - Lists of strings are gathered in one pass. Arrow extends a list array list by
//!   list through `MutableArrayData`, reallocating as it grows, so the four list
//!   columns of the grant tables would cost as much as their twenty other columns.
//!   Here the rows' items are gathered as indices and taken once, as strings.
//! - Columns no rule reads are not copied, where their field allows nulls: the plans
//!   are made once, so which columns they scan is known ([`Columns`]). `action_scopes`
//!   carries every column of `actions`, and the built-in rules read nine of its 23.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{FilterBuilder, take};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::arrow::error::ArrowError;

/// Which columns of a table to copy; the others are left null where their field
/// allows it, and copied where it does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns(Option<Vec<bool>>);

impl Columns {
    /// Every column.
    pub fn all() -> Self {
        Self(None)
    }

    /// No column that may be left null.
    pub fn none() -> Self {
        Self(Some(Vec::new()))
    }

    /// The columns flagged `true`, by position in the table's schema.
    pub fn only(read: Vec<bool>) -> Self {
        Self(Some(read))
    }

    /// Whether column `column` is asked for.
    pub(crate) fn wanted(&self, column: usize) -> bool {
        self.0
            .as_ref()
            .is_none_or(|read| read.get(column).copied().unwrap_or(false))
    }
}

/// The rows `rows` of `batch`, in that order, with the columns `read` asks for.
pub(crate) fn take_rows(
    batch: &RecordBatch,
    rows: &UInt32Array,
    read: &Columns,
) -> Result<RecordBatch, ArrowError> {
    copy_columns(batch, rows.len(), read, |column| {
        match string_list(column) {
            Some((list, item)) => take_string_lists(list, item, rows.values()),
            None => take(column, rows, None),
        }
    })
}

/// The rows `rows` of `batch`, ascending and each once, with the columns `read` asks
/// for. Columns other than lists are filtered by arrow, which copies runs of rows:
/// cheaper than a take when the rows are nearly all of them.
pub(crate) fn filter_rows(
    batch: &RecordBatch,
    rows: &[u32],
    read: &Columns,
) -> Result<RecordBatch, ArrowError> {
    let mut keep = vec![false; batch.num_rows()];
    for &row in rows {
        if let Some(kept) = keep.get_mut(row as usize) {
            *kept = true;
        }
    }
    // Planned once for every column, as `filter_record_batch` does.
    let keep = FilterBuilder::new(&BooleanArray::from(keep))
        .optimize()
        .build();
    copy_columns(batch, rows.len(), read, |column| {
        match string_list(column) {
            Some((list, item)) => take_string_lists(list, item, rows),
            None => keep.filter(column),
        }
    })
}

/// A batch of `rows` rows of `batch`'s schema: `copy` of each column `read` asks for
/// or whose field is not nullable, nulls for the others.
fn copy_columns(
    batch: &RecordBatch,
    rows: usize,
    read: &Columns,
    copy: impl Fn(&ArrayRef) -> Result<ArrayRef, ArrowError>,
) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .enumerate()
        .map(|(i, (column, field))| {
            if read.wanted(i) || !field.is_nullable() {
                copy(column)
            } else {
                Ok(new_null_array(field.data_type(), rows))
            }
        })
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema, columns)
}

/// `column` as a list of strings (with its item field), if it is one.
fn string_list(column: &ArrayRef) -> Option<(&ListArray, &FieldRef)> {
    match column.data_type() {
        DataType::List(item) if *item.data_type() == DataType::Utf8 => {
            Some((column.as_list::<i32>(), item))
        }
        _ => None,
    }
}

/// Rows `rows` of `list`: the offsets and the item indices in one pass over the
/// rows, then the items in one `take`.
fn take_string_lists(
    list: &ListArray,
    item: &FieldRef,
    rows: &[u32],
) -> Result<ArrayRef, ArrowError> {
    let offsets = list.value_offsets();
    let out_of_bounds =
        |row: u32| ArrowError::InvalidArgumentError(format!("row {row} of {}", list.len()));
    let mut new_offsets = Vec::with_capacity(rows.len() + 1);
    new_offsets.push(0i32);
    let mut items: Vec<u32> = Vec::with_capacity(rows.len() * 2);
    for &row in rows {
        let r = row as usize;
        let (Some(&start), Some(&end)) = (offsets.get(r), offsets.get(r + 1)) else {
            return Err(out_of_bounds(row));
        };
        let (start, end) = (to_u32(start)?, to_u32(end)?);
        items.extend(start..end);
        new_offsets
            .push(i32::try_from(items.len()).map_err(|e| ArrowError::ComputeError(e.to_string()))?);
    }
    let values = take(list.values(), &UInt32Array::from(items), None)?;
    let nulls = list
        .nulls()
        .map(|nulls| NullBuffer::from_iter(rows.iter().map(|&row| nulls.is_valid(row as usize))));
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::new(new_offsets.into()),
        values,
        nulls,
    )?))
}

fn to_u32(offset: i32) -> Result<u32, ArrowError> {
    u32::try_from(offset).map_err(|e| ArrowError::ComputeError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, ListBuilder, StringBuilder};
    use datafusion::arrow::compute::{filter_record_batch, take_record_batch};
    use datafusion::arrow::datatypes::{Field, Schema};
    use proptest::prelude::*;

    use super::*;

    /// A batch of an int column and a nullable list of strings, sliced at `offset`
    /// (so that its list offsets do not start at zero).
    fn batch(lists: &[Option<Vec<String>>], offset: usize) -> RecordBatch {
        let mut builder = ListBuilder::new(StringBuilder::new());
        for list in lists {
            match list {
                Some(items) => {
                    items.iter().for_each(|s| builder.values().append_value(s));
                    builder.append(true);
                }
                None => builder.append(false),
            }
        }
        let list: ArrayRef = Arc::new(builder.finish());
        let ints: ArrayRef = Arc::new(Int32Array::from_iter_values(0..lists.len() as i32));
        let schema = Schema::new(vec![
            Field::new("i", DataType::Int32, false),
            Field::new("l", list.data_type().clone(), true),
        ]);
        let whole = RecordBatch::try_new(Arc::new(schema), vec![ints, list]).expect("batch");
        whole.slice(offset, lists.len() - offset)
    }

    fn lists() -> impl Strategy<Value = Vec<Option<Vec<String>>>> {
        prop::collection::vec(
            prop::option::of(prop::collection::vec("[a-c]{0,3}", 0..4)),
            1..12,
        )
    }

    proptest! {
        #[test]
        fn takes_what_arrow_takes(lists in lists(), offset in 0usize..3, picks in prop::collection::vec(any::<prop::sample::Index>(), 0..16)) {
            let batch = batch(&lists, offset.min(lists.len() - 1));
            let rows = UInt32Array::from_iter_values(picks.iter().map(|p| p.index(batch.num_rows()) as u32));
            prop_assert_eq!(take_rows(&batch, &rows, &Columns::all()).expect("ours"), take_record_batch(&batch, &rows).expect("arrow"));
        }

        #[test]
        fn filters_what_arrow_filters(lists in lists(), offset in 0usize..3, keep in prop::collection::vec(any::<bool>(), 12)) {
            let batch = batch(&lists, offset.min(lists.len() - 1));
            let keep = &keep[..batch.num_rows()];
            let rows: Vec<u32> = (0..keep.len() as u32).filter(|&i| keep[i as usize]).collect();
            let mask = BooleanArray::from(keep.to_vec());
            prop_assert_eq!(filter_rows(&batch, &rows, &Columns::all()).expect("ours"), filter_record_batch(&batch, &mask).expect("arrow"));
        }
    }

    #[test]
    fn a_column_no_rule_reads_is_left_null_if_it_may_be() {
        let batch = batch(&[Some(vec!["a".into()]), None, Some(vec![])], 0);
        let rows = UInt32Array::from(vec![2, 0]);
        let none = Columns::only(vec![false, false]);
        for copied in [
            take_rows(&batch, &rows, &none).expect("take"),
            filter_rows(&batch, &[0, 2], &none).expect("filter"),
        ] {
            assert_eq!(copied.num_rows(), 2);
            // `i` is not nullable: copied all the same.
            assert_eq!(copied.column(0).null_count(), 0);
            assert_eq!(copied.column(1).null_count(), 2);
        }
        let list = Columns::only(vec![false, true]);
        let copied = take_rows(&batch, &rows, &list).expect("take");
        assert_eq!(copied, take_record_batch(&batch, &rows).expect("arrow"));
    }
}
