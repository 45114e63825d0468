//! The canonical partner action (DESIGN §4) as a decoder hands it to the builder,
//! borrowing from the message wherever it can.

use std::borrow::Cow;

/// One decoded action. Required fields are `Option` only while a decoder fills them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Action<'a> {
    /// Event time, epoch ms.
    pub ts: Option<i64>,
    /// The non-human identity used.
    pub credential_id: Option<Cow<'a, str>>,
    /// `METHOD /path`, `service:Operation` or `verb resource`.
    pub action: Option<Cow<'a, str>>,
    /// Unique id.
    pub event_id: Option<Cow<'a, str>>,
    /// Claimed partner.
    pub partner: Option<Cow<'a, str>>,
    /// Who actually acted.
    pub actor: Option<Cow<'a, str>>,
    /// The specific key or token.
    pub key_id: Option<Cow<'a, str>>,
    /// Object acted on.
    pub resource: Option<Cow<'a, str>>,
    /// Environment, account or cluster.
    pub environment: Option<Cow<'a, str>>,
    /// Data classes touched.
    pub data_classes: Option<Vec<Cow<'a, str>>>,
    /// Money moved.
    pub amount: Option<f64>,
    /// Its currency.
    pub currency: Option<Cow<'a, str>>,
    /// `success`, `failure` or `denied`.
    pub outcome: Option<&'static str>,
    /// Caller address.
    pub source_ip: Option<Cow<'a, str>>,
    /// Caller user agent.
    pub user_agent: Option<Cow<'a, str>>,
    /// Request id.
    pub request_id: Option<Cow<'a, str>>,
    /// A JSON object's text.
    pub attributes: Option<Cow<'a, str>>,
    /// Further (key, JSON value text) pairs folded into `attributes`.
    pub extra: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl Action<'_> {
    /// `attributes` as JSON object text, with `extra` folded in.
    pub fn attributes_json(&self) -> Option<Cow<'_, str>> {
        if self.extra.is_empty() {
            return self.attributes.as_deref().map(Cow::Borrowed);
        }
        let mut out = String::with_capacity(64);
        out.push('{');
        if let Some(inner) = self
            .attributes
            .as_deref()
            .map(str::trim)
            .and_then(|text| text.strip_prefix('{')?.strip_suffix('}'))
            .map(str::trim)
            .filter(|inner| !inner.is_empty())
        {
            out.push_str(inner);
            out.push(',');
        }
        for (i, (key, value)) in self.extra.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // A key re-serialized from a parsed string is always valid JSON.
            out.push_str(&serde_json::Value::from(key.as_ref()).to_string());
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        Some(Cow::Owned(out))
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z in epoch milliseconds.
const TS_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

pub(super) fn in_range(ms: i64) -> Result<i64, String> {
    if TS_RANGE.contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "{ms} ms is outside years 1 to 9999 (epoch milliseconds expected)"
        ))
    }
}

/// `text` as one of the contract's outcomes.
pub(super) fn outcome(text: &str) -> Option<&'static str> {
    match text {
        "success" => Some("success"),
        "failure" => Some("failure"),
        "denied" => Some("denied"),
        _ => None,
    }
}
