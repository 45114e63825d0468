//! Reading the archive for a page: a query session over a window, rows as JSON, and
//! the errors a page turns into a status and a sentence.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::Console;
use super::page;
use crate::query::{self, QueryError, QuerySession, TimeRange};

/// A row of an answer.
pub(super) type Row = Map<String, Value>;

/// Why a page cannot be shown.
#[derive(Debug)]
pub(super) enum PageError {
    /// No such alert, grant, owner or report: what was asked for.
    NotFound(String),
    /// A filter or parameter the reader gave is wrong.
    BadRequest(String),
    /// The console has no archive, or cannot read it.
    Archive(String),
}

impl From<QueryError> for PageError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::UnknownAlert(id) => {
                Self::NotFound(format!("No alert `{id}` in the archive."))
            }
            QueryError::Param { .. } | QueryError::UnknownReport { .. } => {
                Self::BadRequest(error.to_string())
            }
            other => Self::Archive(format!("The archive cannot be read: {other}")),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m),
            Self::Archive(m) => (StatusCode::SERVICE_UNAVAILABLE, "Archive unavailable", m),
        };
        (status, page::message(title, &message)).into_response()
    }
}

/// A window from the reader's `since` and `until` (as `grantwatch query` takes
/// them), `default_since` back from now when none is given.
pub(super) fn window(
    since: Option<&str>,
    until: Option<&str>,
    default_since: &str,
) -> Result<TimeRange, PageError> {
    let since = since.filter(|s| !s.is_empty()).unwrap_or(default_since);
    TimeRange::parse(Some(since), until.filter(|u| !u.is_empty()), Utc::now())
        .map_err(PageError::BadRequest)
}

/// The whole archive, up to now.
pub(super) fn everything() -> Result<TimeRange, PageError> {
    TimeRange::parse(None, None, Utc::now()).map_err(PageError::BadRequest)
}

impl Console {
    /// A session over the archive for `range`; a page that needs the archive says
    /// so when there is none.
    pub(super) async fn session(&self, range: TimeRange) -> Result<QuerySession, PageError> {
        let Some(archive) = &self.archive else {
            return Err(PageError::Archive(
                "This console has no archive: give --archive or [archive] url.".into(),
            ));
        };
        match archive.holds_anything().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(PageError::Archive(format!(
                    "The archive at {} holds nothing: it does not exist, or nothing was archived yet.",
                    archive.url()
                )));
            }
            Err(error) => {
                return Err(PageError::Archive(format!(
                    "The archive at {} cannot be read: {error}",
                    archive.url()
                )));
            }
        }
        Ok(QuerySession::open(Some(archive), &self.grants, range).await?)
    }
}

/// The rows `sql` answers in `session`.
pub(super) async fn rows(session: &QuerySession, sql: &str) -> Result<Vec<Row>, PageError> {
    Ok(query::rows(session, sql).await?)
}

/// A field as text: strings as they are, lists joined with commas, other values as
/// JSON, nothing as empty.
pub(super) fn text(row: &Row, key: &str) -> String {
    shown(row.get(key))
}

fn shown(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| shown(Some(item)))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

/// A field as a number, or 0.
pub(super) fn number(row: &Row, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// An archived time (Arrow's JSON writes `2026-11-30T09:00:00` or with `Z`) as UTC.
pub(super) fn time(row: &Row, key: &str) -> Option<DateTime<Utc>> {
    let text = text(row, key);
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| text.parse::<chrono::NaiveDateTime>().map(|t| t.and_utc()))
        .ok()
}
