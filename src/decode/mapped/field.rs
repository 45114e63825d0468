//! One mapped field: where in a record its value comes from. Written in config as
//!
//! - a JSON pointer (RFC 6901): `"/consumer/id"`;
//! - a template of pointers: `"{/request/method} {/route}"`, present only when every
//!   pointer in it is;
//! - a list of either, the first present winning: `["/time", "/@timestamp"]`;
//! - a constant: `{ const = "prod" }`;
//! - a value map over any of those: `{ from = "/status", map = { "2*" = "success",
//!   "401" = "denied", "*" = "failure" } }`. Exact keys win over patterns, and of the
//!   patterns (`*` for any run of characters) the one with most fixed characters wins;
//!   a value no key matches passes through unchanged.
//!
//! Gateways write `-` (Envoy, NGINX) or an empty string for a value they do not have,
//! so both read as absent.

use std::borrow::Cow;

use serde_json::Value;

use crate::decode::scope::glob;

/// A compiled field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    /// The first of these present.
    FirstOf(Vec<Text>),
    /// Always this value.
    Const(String),
    /// A value looked up in a map.
    Mapped { from: Vec<Text>, map: ValueMap },
}

/// A pointer or a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Text {
    Pointer(String),
    Template(Vec<Part>),
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    Literal(String),
    Pointer(String),
}

/// What a field found: a JSON value where a pointer alone found it (its type kept, so
/// a number stays a number for times and amounts), else text.
pub(super) enum Found<'a> {
    Json(&'a Value),
    Text(Cow<'a, str>),
}

impl<'a> Found<'a> {
    /// The value as text, if it is a scalar.
    pub(super) fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Found::Json(value) => scalar(value),
            Found::Text(text) => Some(text),
        }
    }
}

impl Field {
    /// Compiles `value`, the config's spelling of the field.
    pub(super) fn compile(value: &toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(text) => Ok(Self::FirstOf(vec![Text::compile(text)?])),
            toml::Value::Array(items) => Ok(Self::FirstOf(texts(items)?)),
            toml::Value::Table(table) => Self::compile_table(table),
            other => Err(format!(
                "expected a JSON pointer, a template, a list of them or a table, found {}",
                other.type_str()
            )),
        }
    }

    fn compile_table(table: &toml::Table) -> Result<Self, String> {
        if let Some(unknown) = table
            .keys()
            .find(|k| !matches!(k.as_str(), "const" | "from" | "map"))
        {
            return Err(format!(
                "unknown key `{unknown}` (a field table has `const`, or `from` and `map`)"
            ));
        }
        match (table.get("const"), table.get("from"), table.get("map")) {
            (Some(toml::Value::String(constant)), None, None) => Ok(Self::Const(constant.clone())),
            (Some(_), None, None) => Err("`const` must be a string".into()),
            (None, Some(from), map) => {
                let from = match from {
                    toml::Value::String(text) => vec![Text::compile(text)?],
                    toml::Value::Array(items) => texts(items)?,
                    _ => return Err("`from` must be a pointer, a template or a list".into()),
                };
                match map {
                    None => Ok(Self::FirstOf(from)),
                    Some(toml::Value::Table(map)) => Ok(Self::Mapped {
                        from,
                        map: ValueMap::compile(map)?,
                    }),
                    Some(_) => Err("`map` must be a table of value = replacement".into()),
                }
            }
            _ => Err("a field table has either `const`, or `from` (with an optional `map`)".into()),
        }
    }

    /// What the field finds in `record`, if anything.
    pub(super) fn find<'a>(&self, record: &'a Value) -> Option<Found<'a>> {
        match self {
            Self::FirstOf(texts) => texts.iter().find_map(|t| t.find(record)),
            Self::Const(value) => Some(Found::Text(Cow::Owned(value.clone()))),
            Self::Mapped { from, map } => {
                let found = from.iter().find_map(|t| t.find(record))?.into_text()?;
                Some(Found::Text(match map.lookup(&found) {
                    Some(to) => Cow::Owned(to.to_owned()),
                    None => found,
                }))
            }
        }
    }

    /// The field's value as text.
    pub(super) fn text<'a>(&self, record: &'a Value) -> Option<Cow<'a, str>> {
        self.find(record)?.into_text()
    }

    /// Where the field reads from, for a dead-letter reason: `/a | /b`.
    pub(super) fn describe(&self) -> String {
        let texts = match self {
            Self::FirstOf(texts) | Self::Mapped { from: texts, .. } => texts,
            Self::Const(value) => return format!("const {value:?}"),
        };
        texts
            .iter()
            .map(Text::describe)
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// Every value the field can produce by itself (constants and map targets), to
    /// check them at start.
    pub(super) fn fixed_values(&self) -> Vec<&str> {
        match self {
            Self::FirstOf(_) => Vec::new(),
            Self::Const(value) => vec![value],
            Self::Mapped { map, .. } => map.entries.iter().map(|(_, to)| to.as_str()).collect(),
        }
    }
}

fn texts(items: &[toml::Value]) -> Result<Vec<Text>, String> {
    if items.is_empty() {
        return Err("the list is empty".into());
    }
    items
        .iter()
        .map(|item| match item {
            toml::Value::String(text) => Text::compile(text),
            other => Err(format!(
                "list items must be pointers or templates, found {}",
                other.type_str()
            )),
        })
        .collect()
}

impl Text {
    fn compile(text: &str) -> Result<Self, String> {
        if text.contains("{/") {
            return parse_template(text).map(Self::Template);
        }
        if text.starts_with('/') {
            return Ok(Self::Pointer(text.to_owned()));
        }
        Err(format!(
            "`{text}` is neither a JSON pointer (`/a/b`) nor a template (`{{/a}} {{/b}}`); \
             a fixed value is written {{ const = \"{text}\" }}"
        ))
    }

    fn find<'a>(&self, record: &'a Value) -> Option<Found<'a>> {
        match self {
            Self::Pointer(pointer) => pointed(record, pointer).map(Found::Json),
            Self::Template(parts) => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Literal(text) => out.push_str(text),
                        Part::Pointer(pointer) => out.push_str(&scalar(pointed(record, pointer)?)?),
                    }
                }
                Some(Found::Text(Cow::Owned(out)))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Pointer(pointer) => pointer.clone(),
            Self::Template(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Literal(text) => text.clone(),
                    Part::Pointer(pointer) => format!("{{{pointer}}}"),
                })
                .collect(),
        }
    }
}

/// `{/a} text {/b}` into parts; a `{` not followed by `/` is literal text.
fn parse_template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{/") {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("template `{text}`: `{{{after}` is not closed with `}}`"))?;
        parts.push(Part::Pointer(after[..close].to_owned()));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(parts)
}

/// The non-null value at `pointer`, unless it is a gateway's "no value".
fn pointed<'a>(record: &'a Value, pointer: &str) -> Option<&'a Value> {
    record.pointer(pointer).filter(|v| {
        !matches!(v, Value::Null) && !matches!(v, Value::String(s) if s.is_empty() || s == "-")
    })
}

/// A scalar as text; objects and arrays have none.
fn scalar(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) if !s.is_empty() && s != "-" => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// Value → replacement, exact keys before patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ValueMap {
    entries: Vec<(String, String)>,
}

impl ValueMap {
    fn compile(table: &toml::Table) -> Result<Self, String> {
        let mut entries = table
            .iter()
            .map(|(from, to)| match to {
                toml::Value::String(to) => Ok((from.clone(), to.clone())),
                other => Err(format!(
                    "map value for `{from}` must be a string, found {}",
                    other.type_str()
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Exact keys first, then patterns with more fixed characters before fewer.
        entries.sort_by_key(|(from, _)| {
            let fixed = from.chars().filter(|&c| c != '*').count();
            (from.contains('*'), std::cmp::Reverse(fixed))
        });
        Ok(Self { entries })
    }

    fn lookup(&self, value: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(from, _)| glob(from, value))
            .map(|(_, to)| to.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(spec: &str) -> Field {
        let table: toml::Table = toml::from_str(&format!("f = {spec}")).unwrap();
        Field::compile(&table["f"]).unwrap()
    }

    fn error(spec: &str) -> String {
        let table: toml::Table = toml::from_str(&format!("f = {spec}")).unwrap();
        Field::compile(&table["f"]).unwrap_err()
    }

    #[test]
    fn pointers_templates_and_lists() {
        let record = json!({"a": {"b": "x"}, "n": 7, "dash": "-", "empty": "", "t": true});
        let text = |spec| field(spec).text(&record).map(Cow::into_owned);
        assert_eq!(text(r#""/a/b""#).as_deref(), Some("x"));
        assert_eq!(text(r#""/n""#).as_deref(), Some("7"));
        assert_eq!(text(r#""/t""#).as_deref(), Some("true"));
        assert_eq!(text(r#""/dash""#), None);
        assert_eq!(text(r#""/empty""#), None);
        assert_eq!(text(r#""/a""#), None, "an object is not text");
        assert_eq!(text(r#""{/a/b} {/n}/{x}""#).as_deref(), Some("x 7/{x}"));
        assert_eq!(text(r#""{/a/b} {/missing}""#), None);
        assert_eq!(text(r#"["/missing", "/dash", "/n"]"#).as_deref(), Some("7"));
        assert_eq!(text(r#"{ const = "prod" }"#).as_deref(), Some("prod"));
    }

    #[test]
    fn maps_prefer_exact_keys_then_longer_patterns() {
        let outcome = field(
            r#"{ from = "/s", map = { "*" = "failure", "2*" = "success", "401" = "denied", "40*" = "x" } }"#,
        );
        let at = |s: Value| outcome.text(&json!({ "s": s })).map(Cow::into_owned);
        assert_eq!(at(json!(200)).as_deref(), Some("success"));
        assert_eq!(at(json!("401")).as_deref(), Some("denied"));
        assert_eq!(at(json!(404)).as_deref(), Some("x"));
        assert_eq!(at(json!(500)).as_deref(), Some("failure"));
        let partial = field(r#"{ from = "/s", map = { "200" = "success" } }"#);
        assert_eq!(partial.text(&json!({"s": 418})).as_deref(), Some("418"));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(error(r#""consumer/id""#).contains("neither a JSON pointer"));
        assert!(error(r#""{/a""#).contains("not closed"));
        assert!(error("[]").contains("empty"));
        assert!(error("[1]").contains("list items"));
        assert!(error("3").contains("found integer"));
        assert!(error(r#"{ cosnt = "x" }"#).contains("unknown key `cosnt`"));
        assert!(error(r#"{ from = "/s", map = { "200" = 1 } }"#).contains("`200`"));
        assert!(error(r#"{ const = "x", from = "/s" }"#).contains("either"));
    }

    #[test]
    fn describes_where_it_reads() {
        assert_eq!(field(r#"["/a", "{/b} {/c}"]"#).describe(), "/a | {/b} {/c}");
    }
}
