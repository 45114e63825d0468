//! Small readers over `serde_json::Value` that name the field they failed on.

use std::borrow::Cow;

use serde_json::Value;

use crate::decode::error::{DecodeError, DecodeFault};
use crate::decode::ts::{self, TsUnit};

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

/// The time at the first of `paths` present (see [`ts`](crate::decode::ts) for what
/// reads as a time).
pub(super) fn time(v: &Value, paths: &[&str], unit: TsUnit) -> Result<i64, DecodeError> {
    let Some((path, value)) = paths.iter().find_map(|p| at(v, p).map(|value| (*p, value))) else {
        return Err(DecodeError::field(
            DecodeFault::MissingField,
            paths[0],
            "required field is missing",
        ));
    };
    ts::from_value(value, unit).map_err(|(fault, detail)| DecodeError::field(fault, path, detail))
}

/// A JSON object's text built from the present (key, path) pairs.
pub(super) fn attributes(v: &Value, fields: &[(&str, &str)]) -> Option<Cow<'static, str>> {
    let map: serde_json::Map<String, Value> = fields
        .iter()
        .filter_map(|(key, path)| Some((key.to_string(), at(v, path)?.clone())))
        .collect();
    (!map.is_empty()).then(|| Cow::Owned(Value::Object(map).to_string()))
}
