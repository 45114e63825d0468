//! A query's result as a table for people, CSV for spreadsheets or JSON for tools.

use std::io::Write;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;

use super::error::QueryError;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON array of objects (NULL columns omitted, as arrow-json writes them).
    Json,
}

impl OutputFormat {
    /// Parses `table`, `csv` or `json`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "table" => Self::Table,
            "csv" => Self::Csv,
            "json" => Self::Json,
            _ => return None,
        })
    }
}

/// CSV has no lists: a list of strings becomes one cell, items joined by `;`.
fn flat(batch: &RecordBatch) -> Result<RecordBatch, QueryError> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match column.as_list_opt::<i32>() {
            Some(list) => {
                let joined: StringArray = (0..list.len())
                    .map(|row| {
                        list.is_valid(row).then(|| {
                            let items = list.value(row);
                            let items = items.as_string_opt::<i32>();
                            items
                                .map(|s| s.iter().flatten().collect::<Vec<_>>().join(";"))
                                .unwrap_or_default()
                        })
                    })
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(joined));
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(column));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| QueryError::Output(e.to_string()))
}

/// Writes `batches` (of `schema`) to `out` in `format`.
pub fn write_batches(
    out: &mut impl Write,
    schema: SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<(), QueryError> {
    let failed = |e: &dyn std::fmt::Display| QueryError::Output(e.to_string());
    match format {
        OutputFormat::Table => {
            let table =
                pretty_format_batches_with_schema(schema, batches).map_err(|e| failed(&e))?;
            writeln!(out, "{table}").map_err(|e| failed(&e))?;
        }
        OutputFormat::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                let empty = RecordBatch::new_empty(schema);
                writer.write(&flat(&empty)?).map_err(|e| failed(&e))?;
            }
            for batch in batches {
                writer.write(&flat(batch)?).map_err(|e| failed(&e))?;
            }
        }
        OutputFormat::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch).map_err(|e| failed(&e))?;
            }
            writer.finish().map_err(|e| failed(&e))?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                write!(out, "[]").map_err(|e| failed(&e))?;
            }
            writeln!(out).map_err(|e| failed(&e))?;
        }
    }
    Ok(())
}
