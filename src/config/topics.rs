//! `[kafka]`'s `format`, `ts_unit` and `mapping`, and each `[kafka.topic."NAME"]`'s
//! overrides, validated into how every topic is read.

use std::collections::BTreeMap;

use super::raw::RawKafka;
use crate::decode::{Format, Mapping, PRESETS, TopicFormat, TsUnit, is_preset, preset_names};

/// How each of `kafka.topics` is read; problems are pushed to `errors`.
pub(super) fn topic_formats(
    kafka: &RawKafka,
    errors: &mut Vec<String>,
) -> BTreeMap<String, TopicFormat> {
    let mut formats = BTreeMap::new();
    for topic in &kafka.topics {
        let own = kafka.topic.get(topic);
        let (key, name) = match own.and_then(|t| t.format.as_deref()) {
            Some(name) => (format!("kafka.topic.\"{topic}\""), name),
            None => ("kafka".to_owned(), kafka.format.as_str()),
        };
        let mapping = own
            .and_then(|t| t.mapping.as_ref())
            .map(|m| (format!("kafka.topic.\"{topic}\".mapping"), m));
        let mapping = mapping.or_else(|| {
            kafka
                .mapping
                .as_ref()
                .map(|m| ("kafka.mapping".to_owned(), m))
        });
        let ts_unit = match own.and_then(|t| t.ts_unit.as_deref()) {
            Some(unit) => Some((format!("kafka.topic.\"{topic}\".ts_unit"), unit)),
            None => kafka
                .ts_unit
                .as_deref()
                .map(|unit| ("kafka.ts_unit".to_owned(), unit)),
        };
        let Some(mut format) = read(&key, name, mapping, errors) else {
            continue;
        };
        if own.is_some_and(|t| t.mapping.is_some()) && format.format != Format::Mapped {
            errors.push(format!(
                "`kafka.topic.\"{topic}\".mapping`: only a mapped topic has a mapping (its format is {name})"
            ));
        }
        if let Some((key, unit)) = ts_unit {
            match TsUnit::parse(unit) {
                Some(_) if format.format == Format::Native => errors.push(format!(
                    "`{key}`: native events are always in milliseconds (the contract's unit)"
                )),
                Some(unit) => format.ts_unit = unit,
                None => errors.push(format!(
                    "`{key}`: `{unit}` is not one of {}",
                    TsUnit::names()
                )),
            }
        }
        format.environment = own.and_then(|t| t.environment.clone());
        formats.insert(topic.clone(), format);
    }
    for name in kafka
        .topic
        .keys()
        .filter(|name| !kafka.topics.contains(name))
    {
        errors.push(format!(
            "`kafka.topic.\"{name}\"`: `{name}` is not in kafka.topics"
        ));
    }
    formats
}

/// The format named `name` (a format, or a preset standing for `mapped` with it) at
/// `key`, with its mapping when it is mapped.
fn read(
    key: &str,
    name: &str,
    mapping: Option<(String, &toml::Table)>,
    errors: &mut Vec<String>,
) -> Option<TopicFormat> {
    let preset = is_preset(name);
    let format = match Format::parse(name) {
        Some(format) => format,
        None if preset => Format::Mapped,
        None => {
            errors.push(format!(
                "`{key}.format`: `{name}` is not one of {}, nor a preset ({})",
                Format::names(),
                preset_names()
            ));
            return None;
        }
    };
    if format != Format::Mapped {
        return Some(TopicFormat::of(format));
    }
    let (mapping_key, mut table) = match mapping {
        Some((mapping_key, table)) => (mapping_key, table.clone()),
        None if preset => (format!("{key}.format"), toml::Table::new()),
        None => {
            errors.push(format!(
                "`{key}.mapping`: format mapped needs a mapping (a table of fields, or preset = \"{}\")",
                PRESETS[0].0
            ));
            return None;
        }
    };
    if preset {
        match table.get("preset").and_then(toml::Value::as_str) {
            Some(other) if other != name => {
                errors.push(format!(
                    "`{mapping_key}.preset`: `{other}` differs from the format `{name}`"
                ));
                return None;
            }
            _ => {
                table.insert("preset".into(), toml::Value::String(name.to_owned()));
            }
        }
    }
    match Mapping::from_table(&table) {
        Ok(mapping) => Some(TopicFormat::mapped(mapping)),
        Err(e) => {
            errors.extend(e.0.into_iter().map(|m| format!("`{mapping_key}`: {m}")));
            None
        }
    }
}
