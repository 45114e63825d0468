//! `mapped`: any JSON log described in config, with no code. A mapping names, for each
//! canonical field, where in a record its value is ([`field`] says how that is
//! written). A preset ([`presets`]) is a mapping shipped for a common API gateway, and
//! a mapping may start from one and change what differs.
//!
//! Besides the canonical fields a mapping has three helpers for HTTP logs: `method`,
//! `path` (its query string dropped) and `route`. When `action` is not mapped, or maps
//! to nothing in a record, the action is `METHOD ROUTE`, else `METHOD PATH`: a route
//! template (`/pets/{petId}`) groups alerts and matches grants better than a raw path
//! with ids. A route already holding its method (`GET /pets/{id}`, as HTTP APIs log
//! `routeKey`) is the whole action; one that is not a path (`$default`) is ignored.

mod field;
mod presets;

use std::borrow::Cow;

use serde_json::Value;

use self::field::{Field, Found};
use super::action::{Action, outcome};
use super::error::{DecodeError, DecodeFault};
use super::ts::{self, TsUnit};

pub use presets::{PRESETS, is_preset, names as preset_names};

/// Mistakes in a mapping, each naming its key; found at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct MappingError(pub Vec<String>);

/// A compiled mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    ts: Field,
    ts_unit: Option<TsUnit>,
    credential_id: Field,
    action: Option<Field>,
    method: Option<Field>,
    path: Option<Field>,
    route: Option<Field>,
    texts: Vec<(Slot, Field)>,
    data_classes: Option<Field>,
    amount: Option<Field>,
    attributes: Vec<(String, Field)>,
}

/// The optional text fields, each a slot of [`Action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    EventId,
    Partner,
    Actor,
    KeyId,
    Resource,
    Environment,
    Currency,
    Outcome,
    SourceIp,
    UserAgent,
    RequestId,
}

const SLOTS: [(&str, Slot); 11] = [
    ("event_id", Slot::EventId),
    ("partner", Slot::Partner),
    ("actor", Slot::Actor),
    ("key_id", Slot::KeyId),
    ("resource", Slot::Resource),
    ("environment", Slot::Environment),
    ("currency", Slot::Currency),
    ("outcome", Slot::Outcome),
    ("source_ip", Slot::SourceIp),
    ("user_agent", Slot::UserAgent),
    ("request_id", Slot::RequestId),
];

/// Keys that are not fields.
const META: [&str; 3] = ["preset", "ts_unit", "attributes"];
/// Keys that only make up the action.
const HELPERS: [&str; 3] = ["method", "path", "route"];
/// Keys read specially.
const SPECIAL: [&str; 8] = [
    "ts",
    "credential_id",
    "action",
    "method",
    "path",
    "route",
    "data_classes",
    "amount",
];

impl Mapping {
    /// A mapping from TOML text (a file given to `replay --mapping`).
    pub fn from_toml(text: &str) -> Result<Self, MappingError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| MappingError(vec![e.message().to_owned()]))?;
        Self::from_table(&table)
    }

    /// The preset `name`, unchanged.
    pub fn preset(name: &str) -> Result<Self, MappingError> {
        let mut table = toml::Table::new();
        table.insert("preset".into(), toml::Value::String(name.into()));
        Self::from_table(&table)
    }

    /// Compiles a mapping table: its `preset` first, if any, then its own keys over it.
    pub fn from_table(table: &toml::Table) -> Result<Self, MappingError> {
        let mut merged = match table.get("preset") {
            None => toml::Table::new(),
            Some(toml::Value::String(name)) => {
                presets::table(name).map_err(|e| MappingError(vec![e]))?
            }
            Some(_) => {
                return Err(MappingError(vec![
                    "`preset`: must be a preset's name".into(),
                ]));
            }
        };
        for (key, value) in table {
            match (key.as_str(), value, merged.get_mut(key)) {
                ("preset", ..) => {}
                ("attributes", toml::Value::Table(own), Some(toml::Value::Table(base))) => {
                    base.extend(own.clone());
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
        Self::compile(&merged)
    }

    fn compile(table: &toml::Table) -> Result<Self, MappingError> {
        let mut errors = Vec::new();
        let mut field = |key: &str| -> Option<Field> {
            let value = table.get(key)?;
            Field::compile(value)
                .map_err(|e| errors.push(format!("`{key}`: {e}")))
                .ok()
        };
        let ts = field("ts");
        let credential_id = field("credential_id");
        let action = field("action");
        let method = field("method");
        let path = field("path");
        let route = field("route");
        let data_classes = field("data_classes");
        let amount = field("amount");
        let texts: Vec<(Slot, Field)> = SLOTS
            .iter()
            .filter_map(|&(key, slot)| Some((slot, field(key)?)))
            .collect();
        let attributes = match table.get("attributes") {
            None => Vec::new(),
            Some(toml::Value::Table(attributes)) => attributes
                .iter()
                .filter_map(|(name, value)| match Field::compile(value) {
                    Ok(field) => Some((name.clone(), field)),
                    Err(e) => {
                        errors.push(format!("`attributes.{name}`: {e}"));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                errors.push("`attributes`: must be a table of name = field".into());
                Vec::new()
            }
        };
        let ts_unit = match table.get("ts_unit") {
            None => None,
            Some(toml::Value::String(name)) => TsUnit::parse(name).or_else(|| {
                errors.push(format!(
                    "`ts_unit`: `{name}` is not one of {}",
                    TsUnit::names()
                ));
                None
            }),
            Some(_) => {
                errors.push(format!("`ts_unit`: must be one of {}", TsUnit::names()));
                None
            }
        };
        for key in table.keys() {
            let known = META.contains(&key.as_str())
                || SPECIAL.contains(&key.as_str())
                || SLOTS.iter().any(|(name, _)| name == key);
            if !known {
                let fields: Vec<&str> = SPECIAL
                    .iter()
                    .copied()
                    .filter(|name| !HELPERS.contains(name))
                    .chain(SLOTS.map(|(name, _)| name))
                    .collect();
                errors.push(format!(
                    "`{key}` is not a field; fields are {}; helpers {}",
                    fields.join(", "),
                    HELPERS.join(", ")
                ));
            }
        }
        if let Some((_, outcome_field)) = texts.iter().find(|(slot, _)| *slot == Slot::Outcome) {
            for value in outcome_field.fixed_values() {
                if outcome(value).is_none() {
                    errors.push(format!(
                        "`outcome`: `{value}` is not success, failure or denied"
                    ));
                }
            }
        }
        if ts.is_none() && !table.contains_key("ts") {
            errors.push("`ts` is required: where the event time is".into());
        }
        if credential_id.is_none() && !table.contains_key("credential_id") {
            errors.push("`credential_id` is required: the client id or API key consumer".into());
        }
        let derivable = method.is_some() && (path.is_some() || route.is_some());
        if !table.contains_key("action") && !derivable {
            errors.push("`action` is required, or `method` with `path` or `route`".into());
        }
        match (ts, credential_id) {
            (Some(ts), Some(credential_id)) if errors.is_empty() => Ok(Self {
                ts,
                ts_unit,
                credential_id,
                action,
                method,
                path,
                route,
                texts,
                data_classes,
                amount,
                attributes,
            }),
            _ => Err(MappingError(errors)),
        }
    }

    /// The unit numeric times are read in, unless the topic says otherwise.
    pub fn ts_unit(&self) -> Option<TsUnit> {
        self.ts_unit
    }

    /// Maps one record; a required field absent names where it was looked for.
    pub fn decode<'a>(&self, record: &'a Value, unit: TsUnit) -> Result<Action<'a>, DecodeError> {
        let unit = self.ts_unit.unwrap_or(unit);
        let ts = match self.ts.find(record) {
            Some(Found::Json(value)) => ts::from_value(value, unit),
            Some(Found::Text(text)) => ts::from_text(&text, unit),
            None => return Err(missing("ts", &self.ts)),
        }
        .map_err(|(fault, detail)| DecodeError::field(fault, &self.ts.describe(), detail))?;
        let credential_id = self
            .credential_id
            .text(record)
            .ok_or_else(|| missing("credential_id", &self.credential_id))?;
        let mut action = Action {
            ts: Some(ts),
            credential_id: Some(credential_id),
            action: Some(self.action(record)?),
            ..Action::default()
        };
        for (slot, field) in &self.texts {
            if let Some(value) = field.text(record) {
                slot.set(&mut action, value, field)?;
            }
        }
        if let Some(field) = &self.data_classes {
            action.data_classes = data_classes(field, record);
        }
        if let Some(field) = &self.amount {
            action.amount = amount(field, record)?;
        }
        action.extra = self
            .attributes
            .iter()
            .filter_map(|(name, field)| {
                let json = match field.find(record)? {
                    Found::Json(value) => value.to_string(),
                    Found::Text(text) => Value::from(text.as_ref()).to_string(),
                };
                Some((Cow::Owned(name.clone()), Cow::Owned(json)))
            })
            .collect();
        Ok(action)
    }

    fn action<'a>(&self, record: &'a Value) -> Result<Cow<'a, str>, DecodeError> {
        if let Some(action) = self.action.as_ref().and_then(|f| f.text(record)) {
            return Ok(action);
        }
        let route = self
            .route
            .as_ref()
            .and_then(|f| f.text(record))
            .filter(|r| r.starts_with('/') || r.contains(" /"));
        if let Some(route) = route.as_ref().filter(|r| r.contains(' ')) {
            return Ok(route.clone());
        }
        let method = self.method.as_ref().and_then(|f| f.text(record));
        let path = route.or_else(|| self.path.as_ref()?.text(record).map(without_query));
        if let (Some(method), Some(path)) = (method, path) {
            return Ok(Cow::Owned(format!("{method} {path}")));
        }
        let looked: Vec<String> = [&self.action, &self.method, &self.route, &self.path]
            .into_iter()
            .flatten()
            .map(Field::describe)
            .collect();
        Err(DecodeError::field(
            DecodeFault::MissingField,
            &looked.join(" | "),
            "required field `action` is missing (no action, nor a method with a route or path)",
        ))
    }
}

impl Slot {
    fn set<'a>(
        self,
        action: &mut Action<'a>,
        value: Cow<'a, str>,
        field: &Field,
    ) -> Result<(), DecodeError> {
        let slot = match self {
            Self::EventId => &mut action.event_id,
            Self::Partner => &mut action.partner,
            Self::Actor => &mut action.actor,
            Self::KeyId => &mut action.key_id,
            Self::Resource => &mut action.resource,
            Self::Environment => &mut action.environment,
            Self::Currency => &mut action.currency,
            Self::SourceIp => &mut action.source_ip,
            Self::UserAgent => &mut action.user_agent,
            Self::RequestId => &mut action.request_id,
            Self::Outcome => {
                action.outcome = Some(outcome(&value).ok_or_else(|| {
                    DecodeError::field(
                        DecodeFault::InvalidValue,
                        &field.describe(),
                        format!(
                            "outcome `{}` is not success, failure or denied (map it in the mapping)",
                            shortened(&value)
                        ),
                    )
                })?);
                return Ok(());
            }
        };
        *slot = Some(value);
        Ok(())
    }
}

fn missing(name: &str, field: &Field) -> DecodeError {
    DecodeError::field(
        DecodeFault::MissingField,
        &field.describe(),
        format!("required field `{name}` is missing"),
    )
}

/// A list of strings, or one string as a list of one.
fn data_classes<'a>(field: &Field, record: &'a Value) -> Option<Vec<Cow<'a, str>>> {
    match field.find(record)? {
        Found::Json(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|item| item.as_str().filter(|s| !s.is_empty()).map(Cow::Borrowed))
                .collect(),
        ),
        found => found.into_text().map(|text| vec![text]),
    }
}

/// A number, or a string holding one.
fn amount(field: &Field, record: &Value) -> Result<Option<f64>, DecodeError> {
    let Some(text) = field.find(record).and_then(Found::into_text) else {
        return Ok(None);
    };
    match text.trim().parse::<f64>() {
        Ok(amount) if amount.is_finite() => Ok(Some(amount)),
        _ => Err(DecodeError::field(
            DecodeFault::InvalidValue,
            &field.describe(),
            format!("amount `{}` is not a number", shortened(&text)),
        )),
    }
}

/// The path without its query string or fragment.
fn without_query(path: Cow<'_, str>) -> Cow<'_, str> {
    match path.find(['?', '#']) {
        None => path,
        Some(end) => match path {
            Cow::Borrowed(text) => Cow::Borrowed(&text[..end]),
            Cow::Owned(mut text) => {
                text.truncate(end);
                Cow::Owned(text)
            }
        },
    }
}

/// Log text in a dead-letter reason, kept short.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
