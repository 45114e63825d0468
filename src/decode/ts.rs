//! Event time from a JSON value, the one reading every JSON-value decoder shares
//! (CloudTrail, OCSF, Kubernetes, GitHub, mapped). Strings are read as RFC 3339,
//! `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), the common log format (`10/Oct/2000:13:55:36
//! -0700`, as NGINX and API gateways write it) or an epoch number; numbers are epoch
//! times in the topic's [`TsUnit`]. Whatever the source, the result keeps to the
//! contract's years 1 to 9999: a time in microseconds read as milliseconds would move
//! a replay's clock to year 50,000.

use serde_json::Value;

use super::action::in_range;
use super::error::DecodeFault;

/// The unit of a numeric epoch time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TsUnit {
    /// Seconds (fractions allowed: `1527590590.528`).
    Seconds,
    /// Milliseconds, the contract's unit.
    #[default]
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl TsUnit {
    /// Every unit, in config spelling order.
    pub const ALL: [TsUnit; 4] = [Self::Seconds, Self::Millis, Self::Micros, Self::Nanos];

    /// Its spelling in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Seconds => "s",
            Self::Millis => "ms",
            Self::Micros => "us",
            Self::Nanos => "ns",
        }
    }

    /// Parses the config spelling.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == name)
    }

    /// Every spelling, comma-separated (for messages).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// An integral epoch number in this unit, in milliseconds.
    fn integer_ms(self, n: i64) -> Option<i64> {
        match self {
            Self::Seconds => n.checked_mul(1000),
            Self::Millis => Some(n),
            Self::Micros => Some(n.div_euclid(1000)),
            Self::Nanos => Some(n.div_euclid(1_000_000)),
        }
    }

    /// A fractional epoch number in this unit, in milliseconds. Milliseconds must be
    /// integral (`1621305118553.0` is); a finer fraction would be a unit mistake.
    fn float_ms(self, f: f64) -> Option<i64> {
        let ms = match self {
            Self::Seconds => f * 1e3,
            Self::Millis if f.fract() == 0.0 => f,
            Self::Millis => return None,
            Self::Micros => f / 1e3,
            Self::Nanos => f / 1e6,
        };
        // Outside ±1e15 ms the range check fails anyway; the bound keeps the cast exact.
        (ms.is_finite() && ms.abs() < 1e15).then(|| ms.floor() as i64)
    }
}

/// Why a value is not a time: the fault and a detail for the dead-letter reason.
pub(crate) type TimeError = (DecodeFault, String);

/// `value` as epoch milliseconds.
pub(crate) fn from_value(value: &Value, unit: TsUnit) -> Result<i64, TimeError> {
    match value {
        Value::Number(n) => {
            let ms = match n.as_i64() {
                Some(integer) => unit.integer_ms(integer),
                None => n.as_f64().and_then(|f| unit.float_ms(f)),
            };
            epoch(ms, n, unit)
        }
        Value::String(s) => from_text(s, unit),
        other => Err((
            DecodeFault::WrongType,
            format!("expected a time, found {other}"),
        )),
    }
}

/// `text` as epoch milliseconds: a written time, or an epoch number in `unit`.
pub(crate) fn from_text(text: &str, unit: TsUnit) -> Result<i64, TimeError> {
    let text = text.trim();
    if is_number(text) {
        return from_number(text, unit);
    }
    let written = chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z"))
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .map(|t| t.and_utc().timestamp_millis())
        })
        .map_err(|_| {
            (
                DecodeFault::InvalidValue,
                format!("`{text}` is not an RFC 3339 time, a log time or an epoch number"),
            )
        })?;
    checked(written, "")
}

/// Digits with at most one point, optionally negative: an epoch number written as text.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
}

fn from_number(text: &str, unit: TsUnit) -> Result<i64, TimeError> {
    let ms = match text.parse::<i64>() {
        Ok(integer) => unit.integer_ms(integer),
        Err(_) => text.parse::<f64>().ok().and_then(|f| unit.float_ms(f)),
    };
    epoch(ms, text, unit)
}

/// An epoch number read as `ms` (none if it does not fit), checked for range.
fn epoch(ms: Option<i64>, shown: impl std::fmt::Display, unit: TsUnit) -> Result<i64, TimeError> {
    let ms = ms.ok_or_else(|| {
        (
            DecodeFault::InvalidValue,
            format!("{shown} is not an epoch time in {}", unit.name()),
        )
    })?;
    let hint = match unit {
        TsUnit::Millis => " (set ts_unit if the source counts in s, us or ns)",
        _ => "",
    };
    checked(ms, hint)
}

fn checked(ms: i64, hint: &str) -> Result<i64, TimeError> {
    in_range(ms).map_err(|detail| (DecodeFault::InvalidValue, format!("{detail}{hint}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_follow_the_unit() {
        let ms = |v: Value, unit| from_value(&v, unit);
        assert_eq!(
            ms(json!(1_700_000_000_123_i64), TsUnit::Millis),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            ms(json!(1_700_000_000), TsUnit::Seconds),
            Ok(1_700_000_000_000)
        );
        assert_eq!(
            ms(json!("1527590590.528"), TsUnit::Seconds),
            Ok(1_527_590_590_528)
        );
        assert_eq!(
            ms(json!(1_700_000_000_123_456_i64), TsUnit::Micros),
            Ok(1_700_000_000_123)
        );
        assert_eq!(
            ms(json!(1621305118553.0), TsUnit::Millis),
            Ok(1_621_305_118_553)
        );
        // A microsecond time read as milliseconds is refused, with the way out named.
        let (fault, detail) = ms(json!(1_700_000_000_123_456_i64), TsUnit::Millis).unwrap_err();
        assert_eq!(fault, DecodeFault::InvalidValue);
        assert!(detail.contains("ts_unit"), "{detail}");
        assert!(ms(json!(1.5), TsUnit::Millis).is_err());
        assert!(ms(json!(true), TsUnit::Millis).is_err());
    }

    #[test]
    fn written_times_ignore_the_unit() {
        for text in [
            "2023-11-14T22:13:20.123Z",
            "2023-11-14 22:13:20.123",
            "14/Nov/2023:22:13:20 +0000",
            "14/Nov/2023:23:13:20 +0100",
        ] {
            let got = from_text(text, TsUnit::Seconds).map(|ms| ms / 1000);
            assert_eq!(got, Ok(1_700_000_000), "{text}");
        }
        assert!(from_text("yesterday", TsUnit::Millis).is_err());
        assert!(from_text("2023-13-45", TsUnit::Millis).is_err());
    }
}
