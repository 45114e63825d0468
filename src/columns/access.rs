//! Typed access to a batch's columns by name.

use datafusion::arrow::array::{AsArray, PrimitiveArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::ArrowPrimitiveType;
use datafusion::arrow::error::ArrowError;

/// Column `name` of `batch`, if it holds strings.
pub(crate) fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a StringArray, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| ArrowError::SchemaError(format!("no string column `{name}`")))
}

/// Column `name` of `batch`, if it holds `T`s.
pub(crate) fn primitive_column<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a PrimitiveArray<T>, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}` of the expected type")))
}
