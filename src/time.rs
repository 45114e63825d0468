//! Times and durations as people write them in grants, config, suppressions and
//! flags.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

/// Parses `2026-09-01T00:00:00Z` or a bare date `2026-09-01` (midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{text}` is not an RFC 3339 time or a YYYY-MM-DD date"))
}

/// Parses `14d`, `72h`, `90m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like 14d or 72h: {e}"))
}
