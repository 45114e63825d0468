//! The `native` format (DESIGN §4): one JSON object per message, parsed with borrowed
//! strings so that a well-formed event is copied once, into the Arrow builders.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::action::{Action, in_range, outcome};
use super::error::{DecodeError, DecodeFault};

/// A string that borrows from the message when it holds no escapes.
/// (`Cow<str>`'s own `Deserialize` always allocates.)
struct Str<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// `ts`: an RFC 3339 string or integer epoch milliseconds, from year 1 to 9999 (what
/// RFC 3339 can write; beyond, times cannot be shown in alerts or compared sensibly).
struct Timestamp(Result<i64, String>);

impl<'de> de::Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TsVisitor;
        impl Visitor<'_> for TsVisitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RFC 3339 string or integer epoch milliseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Timestamp(
                    chrono::DateTime::parse_from_rfc3339(v)
                        .map(|t| t.timestamp_millis())
                        .map_err(|e| format!("`{v}` is not an RFC 3339 time: {e}"))
                        .and_then(in_range),
                ))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Timestamp(in_range(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Timestamp(
                    i64::try_from(v)
                        .map_err(|_| format!("{v} is out of range"))
                        .and_then(in_range),
                ))
            }
        }
        deserializer.deserialize_any(TsVisitor)
    }
}

/// Deepest nesting accepted inside `attributes` and unknown fields. serde_json skips
/// raw values without its recursion limit, so the limit is enforced here.
const MAX_DEPTH: usize = 64;

/// Nesting depth of a JSON text known to be valid.
fn depth(json: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses one native message. `text` is already known to be UTF-8.
pub(super) fn parse(text: &str) -> Result<Action<'_>, DecodeError> {
    let mut action = Action::default();
    match super::flat::parse(text, &mut action) {
        Some(()) => Ok(action),
        None => parse_full(text),
    }
}

/// Parses one native message with serde_json, whatever it holds, and says what is
/// wrong with it.
pub(super) fn parse_full(text: &str) -> Result<Action<'_>, DecodeError> {
    let mut fault = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ActionSeed { fault: &mut fault }
        .deserialize(&mut de)
        .and_then(|action| de.end().map(|()| action));
    match (parsed, fault) {
        (Ok(action), _) => Ok(action),
        // A field whose text is not even JSON (a broken escape) is a syntax fault,
        // not a type mismatch.
        (Err(error), Some(mut fault)) => {
            if fault.fault == DecodeFault::WrongType && error.is_syntax() {
                fault.fault = DecodeFault::InvalidJson;
            }
            Err(fault)
        }
        (Err(error), None) => Err(classify(&error)),
    }
}

fn too_deep(field: &str) -> DecodeError {
    DecodeError::field(
        DecodeFault::TooDeep,
        field,
        format!("nested deeper than {MAX_DEPTH} levels"),
    )
}

pub(super) fn classify(error: &serde_json::Error) -> DecodeError {
    let detail = error.to_string();
    let fault = if detail.starts_with("recursion limit exceeded") {
        DecodeFault::TooDeep
    } else if error.is_data() {
        DecodeFault::NotAnObject
    } else {
        DecodeFault::InvalidJson
    };
    DecodeError::new(fault, detail)
}

/// Records the first field fault so that the caller gets a typed reason, not
/// serde's generic message.
struct ActionSeed<'f> {
    fault: &'f mut Option<DecodeError>,
}

impl<'de> DeserializeSeed<'de> for ActionSeed<'_> {
    type Value = Action<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ActionSeed<'_> {
    type Value = Action<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut action = Action::default();
        let fault = self.fault;
        // Each arm reads the value as its contract type; a mismatch becomes a
        // `WrongType` fault naming the field. Duplicate keys: the last one wins.
        macro_rules! field {
            ($name:literal, $ty:ty) => {
                match map.next_value::<Option<$ty>>() {
                    Ok(value) => value,
                    Err(error) => {
                        *fault = Some(DecodeError::field(
                            DecodeFault::WrongType,
                            $name,
                            error.to_string(),
                        ));
                        return Err(error);
                    }
                }
            };
        }
        macro_rules! invalid {
            ($name:literal, $detail:expr) => {{
                let detail: String = $detail;
                *fault = Some(DecodeError::field(
                    DecodeFault::InvalidValue,
                    $name,
                    detail.clone(),
                ));
                de::Error::custom(detail)
            }};
        }
        let text = |s: Option<Str<'de>>| s.map(|s| s.0);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.0.as_ref() {
                "ts" => {
                    action.ts = match field!("ts", Timestamp) {
                        Some(Timestamp(Ok(ms))) => Some(ms),
                        Some(Timestamp(Err(detail))) => return Err(invalid!("ts", detail)),
                        None => None,
                    }
                }
                "credential_id" => action.credential_id = text(field!("credential_id", Str<'de>)),
                "action" => action.action = text(field!("action", Str<'de>)),
                "event_id" => action.event_id = text(field!("event_id", Str<'de>)),
                "partner" => action.partner = text(field!("partner", Str<'de>)),
                "actor" => action.actor = text(field!("actor", Str<'de>)),
                "key_id" => action.key_id = text(field!("key_id", Str<'de>)),
                "resource" => action.resource = text(field!("resource", Str<'de>)),
                "environment" => action.environment = text(field!("environment", Str<'de>)),
                "data_classes" => {
                    action.data_classes = field!("data_classes", Vec<Str<'de>>)
                        .map(|classes| classes.into_iter().map(|s| s.0).collect())
                }
                "amount" => action.amount = field!("amount", f64),
                "currency" => action.currency = text(field!("currency", Str<'de>)),
                "outcome" => {
                    action.outcome = match text(field!("outcome", Str<'de>)).as_deref() {
                        None => None,
                        Some(other) => match outcome(other) {
                            Some(outcome) => Some(outcome),
                            None => {
                                return Err(invalid!(
                                    "outcome",
                                    format!("`{other}` is not one of success, failure, denied")
                                ));
                            }
                        },
                    }
                }
                "source_ip" => action.source_ip = text(field!("source_ip", Str<'de>)),
                "user_agent" => action.user_agent = text(field!("user_agent", Str<'de>)),
                "request_id" => action.request_id = text(field!("request_id", Str<'de>)),
                "attributes" => {
                    let raw = field!("attributes", &'de RawValue);
                    if let Some(raw) = raw {
                        if depth(raw.get()) > MAX_DEPTH {
                            *fault = Some(too_deep("attributes"));
                            return Err(de::Error::custom("too deep"));
                        }
                        if !raw.get().starts_with('{') {
                            *fault = Some(DecodeError::field(
                                DecodeFault::WrongType,
                                "attributes",
                                "expected a JSON object",
                            ));
                            return Err(de::Error::custom("attributes is not an object"));
                        }
                        action.attributes = Some(Cow::Borrowed(raw.get()));
                    }
                }
                // Unknown fields are kept, never a reason to reject (DESIGN §4).
                _ => {
                    if let Some(value) = map.next_value::<Option<&'de RawValue>>()? {
                        if depth(value.get()) > MAX_DEPTH {
                            *fault = Some(too_deep(&key.0));
                            return Err(de::Error::custom("too deep"));
                        }
                        action.extra.push((key.0, Cow::Borrowed(value.get())));
                    }
                }
            }
        }
        for (name, present) in [
            ("ts", action.ts.is_some()),
            ("credential_id", action.credential_id.is_some()),
            ("action", action.action.is_some()),
        ] {
            if !present {
                *fault = Some(DecodeError::field(
                    DecodeFault::MissingField,
                    name,
                    "required field is missing",
                ));
                return Err(de::Error::custom("missing required field"));
            }
        }
        Ok(action)
    }
}
