//! SQL answers as JSON rows, for callers that lay them out themselves (`explain`,
//! the console), and SQL literals for the values they filter on.

use datafusion::arrow::array::RecordBatch;
use serde_json::{Map, Value};

use super::error::QueryError;
use super::session::QuerySession;

/// `text` as a SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The rows `sql` answers, as JSON objects.
pub async fn rows(
    session: &QuerySession,
    sql: &str,
) -> Result<Vec<Map<String, Value>>, QueryError> {
    let batches = session
        .context()
        .sql(sql)
        .await
        .map_err(QueryError::ArchiveRead)?
        .collect()
        .await
        .map_err(QueryError::ArchiveRead)?;
    to_rows(&batches)
}

/// `batches` as JSON objects, one per row.
pub fn to_rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>, QueryError> {
    let mut out = Vec::new();
    let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| QueryError::Output(e.to_string()))?;
    }
    writer
        .finish()
        .map_err(|e| QueryError::Output(e.to_string()))?;
    if out.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&out).map_err(|e| QueryError::Output(e.to_string()))
}
