//! Small readers over `serde_json::Value` that name the field they failed on.

use std::borrow::Cow;

use serde_json::Value;

use crate::decode::action::in_range;
use crate::decode::error::{DecodeError, DecodeFault};

/// The value at a dotted path. Keys fall back to a case-insensitive match: some
/// exporters lower-case every key (`eventtime`, `useridentity`).
pub(super) fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, key).filter(|v| !v.is_null())
}

fn key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let object = v.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A string at a path (numbers are accepted and rendered, as some sources vary).
pub(super) fn text<'a>(v: &'a Value, path: &str) -> Option<Cow<'a, str>> {
    match at(v, path)? {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// A required string.
pub(super) fn required<'a>(v: &'a Value, path: &str) -> Result<Cow<'a, str>, DecodeError> {
    text(v, path).ok_or_else(|| {
        DecodeError::field(DecodeFault::MissingField, path, "required field is missing")
    })
}

/// The first path that holds a string.
pub(super) fn first<'a>(v: &'a Value, paths: &[&str]) -> Option<Cow<'a, str>> {
    paths.iter().find_map(|p| text(v, p))
}

/// A time at `path`: RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), or epoch milliseconds.
pub(super) fn time(v: &Value, paths: &[&str]) -> Result<i64, DecodeError> {
    let Some((path, value)) = paths.iter().find_map(|p| at(v, p).map(|value| (*p, value))) else {
        return Err(DecodeError::field(
            DecodeFault::MissingField,
            paths[0],
            "required field is missing",
        ));
    };
    let invalid = |detail: String| DecodeError::field(DecodeFault::InvalidValue, path, detail);
    // Every format keeps to the contract's years 1 to 9999: a time in microseconds or
    // nanoseconds read as milliseconds would move a replay's clock to year 50,000.
    let ms = match value {
        // Some exporters write epoch milliseconds as an integral float (`1621305118553.0`).
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| invalid(format!("{n} is not integer epoch milliseconds"))),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|t| t.and_utc().timestamp_millis())
            })
            .map_err(|_| invalid(format!("`{s}` is not an RFC 3339 time"))),
        other => Err(DecodeError::field(
            DecodeFault::WrongType,
            path,
            format!("expected a time, found {other}"),
        )),
    }?;
    in_range(ms).map_err(invalid)
}

/// A JSON object's text built from the present (key, path) pairs.
pub(super) fn attributes(v: &Value, fields: &[(&str, &str)]) -> Option<Cow<'static, str>> {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .filter_map(|(key, path)| Some((key.to_string(), at(v, path)?.clone())))
        .collect();
    (!map.is_empty()).then(|| Cow::Owned(Value::Object(map).to_string()))
}
