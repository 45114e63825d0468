//! A query's result as a table for people, CSV for spreadsheets or JSON for tools.
//! Text in the archive comes from logs: in a table its control characters are shown
//! escaped, in CSV a cell that would start a formula is defused (`crate::untrusted`).

use std::io::Write;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;

use super::error::QueryError;
use crate::untrusted::{defused, inert};

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

/// `batch` with `f` applied to every text value, in text columns and lists of text.
fn map_text(
    batch: &RecordBatch,
    f: impl Fn(&str) -> String + Copy,
) -> Result<RecordBatch, QueryError> {
    use datafusion::arrow::array::ListArray;
    use datafusion::arrow::compute::cast;
    let failed = |e: datafusion::arrow::error::ArrowError| QueryError::Output(e.to_string());
    let text = |column: &ArrayRef| -> Result<ArrayRef, QueryError> {
        let column = cast(column, &DataType::Utf8).map_err(failed)?;
        let strings = column.as_string::<i32>();
        let mapped: StringArray = strings.iter().map(|v| v.map(f)).collect();
        Ok(Arc::new(mapped))
    };
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        match column.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(text(column)?);
            }
            DataType::List(item) if item.data_type() == &DataType::Utf8 => {
                let list = column.as_list::<i32>();
                let values = text(list.values())?;
                let item = Arc::new(Field::new(item.name(), DataType::Utf8, true));
                let mapped = ListArray::try_new(
                    Arc::clone(&item),
                    list.offsets().clone(),
                    values,
                    list.nulls().cloned(),
                )
                .map_err(failed)?;
                fields.push(Field::new(field.name(), DataType::List(item), true));
                columns.push(Arc::new(mapped));
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(Arc::clone(column));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(failed)
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
            let shown = batches
                .iter()
                .map(|b| map_text(b, inert))
                .collect::<Result<Vec<_>, _>>()?;
            let schema = shown.first().map_or(schema, RecordBatch::schema);
            let table =
                pretty_format_batches_with_schema(schema, &shown).map_err(|e| failed(&e))?;
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
                let cells = map_text(&flat(batch)?, |v| defused(v).into_owned())?;
                writer.write(&cells).map_err(|e| failed(&e))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::ListBuilder;
    use datafusion::arrow::array::StringBuilder;

    fn hostile() -> RecordBatch {
        let actions = StringArray::from(vec!["\u{1b}[2J\u{1b}[31mALL CLEAR", "=cmd|' /C calc'!A0"]);
        let mut samples = ListBuilder::new(StringBuilder::new());
        samples.values().append_value("+1\u{1b}[0m");
        samples.append(true);
        samples.append(false);
        let schema = Schema::new(vec![
            Field::new("action", DataType::Utf8, false),
            Field::new_list("samples", Field::new("item", DataType::Utf8, true), true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(actions), Arc::new(samples.finish())],
        )
        .expect("batch")
    }

    fn written(format: OutputFormat) -> String {
        let batch = hostile();
        let mut out = Vec::new();
        write_batches(&mut out, batch.schema(), &[batch], format).expect("written");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn tables_show_control_characters_escaped() {
        let table = written(OutputFormat::Table);
        assert!(!table.contains('\u{1b}'), "{table}");
        assert!(table.contains("\\u{1b}[2J"), "{table}");
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        let csv = written(OutputFormat::Csv);
        assert!(csv.contains("'=cmd"), "{csv}");
        assert!(csv.contains("'+1"), "{csv}");
        assert!(!csv.lines().any(|l| l.starts_with('=')), "{csv}");
    }
}
