//! Phase one: the TOML shape with defaults; unknown keys are refused.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::decode::PartnerScope;

use super::error::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub kafka: RawKafka,
    #[serde(default)]
    pub grants: RawGrants,
    #[serde(default)]
    pub rules: RawDirs,
    #[serde(default)]
    pub reports: RawDirs,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub archive: RawArchive,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub batch: RawBatch,
    #[serde(default)]
    pub scope: PartnerScope,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKafka {
    #[serde(default = "default_brokers")]
    pub brokers: String,
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Static group membership (`group.instance.id`); default the host name, `""` off.
    pub instance_id: Option<String>,
    #[serde(default = "default_topics")]
    pub topics: Vec<String>,
    #[serde(default = "default_format")]
    pub format: String,
    /// Unit of numeric event times, for topics that set none.
    pub ts_unit: Option<String>,
    /// Mapping for `mapped` topics that have none of their own.
    pub mapping: Option<toml::Table>,
    #[serde(default = "default_dlq")]
    pub dead_letter_topic: String,
    /// Compacted topic for grant activity and finding state (default `GROUP.state`).
    pub state_topic: Option<String>,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    #[serde(default)]
    pub librdkafka: BTreeMap<String, toml::Value>,
    /// Per-topic overrides.
    #[serde(default)]
    pub topic: BTreeMap<String, RawTopic>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTopic {
    pub format: Option<String>,
    pub environment: Option<String>,
    pub ts_unit: Option<String>,
    pub mapping: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrants {
    #[serde(default = "default_grant_paths")]
    pub paths: Vec<String>,
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: String,
    #[serde(default = "default_idle_after")]
    pub default_idle_after: String,
    #[serde(default = "default_reload_interval")]
    pub reload_interval: String,
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirs {
    #[serde(default)]
    pub dirs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerts {
    pub kafka_topic: Option<String>,
    pub file: Option<String>,
    #[serde(default)]
    pub file_owners: Vec<String>,
    #[serde(default)]
    pub suppressions: Vec<String>,
    pub alertmanager_url: Option<String>,
    #[serde(default = "default_dedup_window")]
    pub dedup_window: String,
    #[serde(default = "default_update_interval")]
    pub update_interval: String,
    #[serde(default)]
    pub stdout: bool,
    pub format: Option<String>,
    #[serde(default)]
    pub id_patterns: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchive {
    pub url: Option<String>,
    #[serde(default = "default_archive_flush")]
    pub flush_interval: String,
    #[serde(default = "default_archive_rows")]
    pub max_rows: u64,
}

impl Default for RawArchive {
    fn default() -> Self {
        Self {
            url: None,
            flush_interval: default_archive_flush(),
            max_rows: default_archive_rows(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    #[serde(default = "default_listen")]
    pub listen: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBatch {
    #[serde(default = "default_max_events")]
    pub max_events: u64,
    #[serde(default = "default_linger")]
    pub linger: String,
}

fn default_archive_flush() -> String {
    "4s".into()
}
fn default_archive_rows() -> u64 {
    250_000
}
fn default_brokers() -> String {
    "localhost:9092".into()
}
fn default_group() -> String {
    "grantwatch".into()
}
fn default_topics() -> Vec<String> {
    vec!["partner-actions".into()]
}
fn default_format() -> String {
    "native".into()
}
fn default_dlq() -> String {
    "partner-actions.dlq".into()
}
fn default_max_message_bytes() -> u64 {
    1 << 20
}
fn default_grant_paths() -> Vec<String> {
    vec!["grants/".into()]
}
fn default_max_lifetime() -> String {
    "365d".into()
}
fn default_idle_after() -> String {
    "30d".into()
}
fn default_reload_interval() -> String {
    "2s".into()
}
fn default_update_interval() -> String {
    "1m".into()
}
fn default_dedup_window() -> String {
    "1h".into()
}
fn default_listen() -> String {
    "127.0.0.1:9464".into()
}
fn default_max_events() -> u64 {
    8192
}
fn default_linger() -> String {
    "50ms".into()
}

impl Default for RawKafka {
    fn default() -> Self {
        Self {
            brokers: default_brokers(),
            group_id: default_group(),
            instance_id: None,
            topics: default_topics(),
            format: default_format(),
            ts_unit: None,
            mapping: None,
            dead_letter_topic: default_dlq(),
            state_topic: None,
            max_message_bytes: default_max_message_bytes(),
            librdkafka: BTreeMap::new(),
            topic: BTreeMap::new(),
        }
    }
}

impl Default for RawGrants {
    fn default() -> Self {
        Self {
            paths: default_grant_paths(),
            max_lifetime: default_max_lifetime(),
            default_idle_after: default_idle_after(),
            reload_interval: default_reload_interval(),
            allow_empty: false,
        }
    }
}
impl Default for RawAlerts {
    fn default() -> Self {
        Self {
            kafka_topic: None,
            file: None,
            file_owners: Vec::new(),
            suppressions: Vec::new(),
            alertmanager_url: None,
            dedup_window: default_dedup_window(),
            update_interval: default_update_interval(),
            stdout: false,
            format: None,
            id_patterns: Vec::new(),
        }
    }
}
impl Default for RawMetrics {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}
impl Default for RawBatch {
    fn default() -> Self {
        Self {
            max_events: default_max_events(),
            linger: default_linger(),
        }
    }
}

/// Parses TOML, applies `GRANTWATCH__SECTION__KEY` overrides, then deserializes.
pub(super) fn parse(
    text: &str,
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<RawConfig, ConfigError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
    for (name, value) in env {
        apply_override(&mut table, &name, &value);
    }
    RawConfig::deserialize(toml::Value::Table(table))
        .map_err(|e| ConfigError::single(path, e.message().to_owned()))
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
    let message = e.message().to_owned();
    match line {
        Some(line) => ConfigError::single(path, format!("line {line}: {message}")),
        None => ConfigError::single(path, message),
    }
}

/// The `[kafka.librdkafka]` keys written in the file itself (environment overrides
/// left out), for the readable-secrets warning. Text that does not parse has none.
pub(super) fn librdkafka_keys(text: &str) -> Vec<String> {
    toml::from_str::<toml::Table>(text)
        .ok()
        .as_ref()
        .and_then(|t| t.get("kafka")?.get("librdkafka")?.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// `GRANTWATCH__BATCH__MAX_EVENTS=100` sets `batch.max_events`. Under
/// `kafka.librdkafka`, `_` stands for `.` (`GRANTWATCH__KAFKA__LIBRDKAFKA__SASL_PASSWORD`
/// sets `sasl.password`), since environment names cannot hold dots.
fn apply_override(table: &mut toml::Table, name: &str, value: &str) {
    let Some(rest) = name.strip_prefix("GRANTWATCH__") else {
        return;
    };
    let mut parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if parts.len() == 3 && parts[0] == "kafka" && parts[1] == "librdkafka" {
        parts[2] = parts[2].replace('_', ".");
    }
    let Some((last, sections)) = parts.split_last() else {
        return;
    };
    let mut cursor = table;
    for section in sections {
        let entry = cursor
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(next) = entry else {
            return;
        };
        cursor = next;
    }
    // A value that parses as TOML (numbers, booleans, arrays) keeps its type.
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    cursor.insert(last.clone(), parsed);
}
