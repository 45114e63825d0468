//! Configuration (DESIGN §3): TOML plus `GRANTWATCH__SECTION__KEY` environment
//! overrides, read in two phases — serde structs that refuse unknown keys
//! (`raw`), then validated types ([`Config`]) that the rest of the code trusts.

mod error;
mod raw;
pub mod secrets;
mod topics;
mod validate;

use std::collections::BTreeMap;

use crate::alerts::{Grouping, Routes, SinkSettings};
use crate::archive::{ArchiveLocation, ArchiveSettings};
use crate::decode::{PartnerScope, TopicFormat};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;

/// `[kafka]`. Its `Debug` hides secret librdkafka values.
#[derive(Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// Consumer group.
    pub group_id: String,
    /// This instance's static membership of the group (`group.instance.id`): a
    /// restarted instance with the same id takes its partitions back at once instead
    /// of after the dead member's session times out. None: dynamic membership.
    pub instance_id: Option<String>,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// How each topic is read: `format` for all, overridden per topic by
    /// `[kafka.topic."NAME"]`.
    pub formats: BTreeMap<String, TopicFormat>,
    /// Where undecodable messages go.
    pub dead_letter_topic: String,
    /// Compacted topic holding grant activity and scheduled-finding state, so both
    /// survive restarts and are shared by every instance of the group.
    pub state_topic: String,
    /// Larger messages are dead-lettered unread.
    pub max_message_bytes: usize,
    /// Passed to librdkafka verbatim (security.protocol, sasl.*, ssl.*).
    pub librdkafka: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("group_id", &self.group_id)
            .field("instance_id", &self.instance_id)
            .field("topics", &self.topics)
            .field("formats", &self.formats)
            .field("dead_letter_topic", &self.dead_letter_topic)
            .field("state_topic", &self.state_topic)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("librdkafka", &secrets::redacted(&self.librdkafka))
            .finish()
    }
}

impl KafkaConfig {
    /// How `topic`'s messages are read.
    pub fn format_of(&self, topic: &str) -> TopicFormat {
        self.formats
            .get(topic)
            .cloned()
            .unwrap_or_else(TopicFormat::native)
    }
}

/// `[grants]`.
#[derive(Debug, Clone)]
pub struct GrantsConfig {
    /// Files or directories of grants.
    pub paths: Vec<PathBuf>,
    /// Lint policy: longest allowed lifetime.
    pub max_lifetime: Duration,
    /// `idle_after` for grants that set none.
    pub default_idle_after: Duration,
    /// How often the grant files are checked for changes (zero: only on SIGHUP).
    pub reload_interval: Duration,
    /// Whether `run` may start with no grant at all (every partner then unknown).
    pub allow_empty: bool,
}

/// `[alerts]`.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    /// Where alerts go.
    pub sinks: SinkSettings,
    /// Suppression files.
    pub suppressions: Vec<PathBuf>,
    /// Alerts with the same rule and group key in one window share an id; repeats
    /// update the alert instead of raising it again.
    pub dedup_window: Duration,
    /// A repeated alert is sent again (same id, cumulative count) at most this often.
    pub update_interval: Duration,
    /// What `{id}` stands for in the route templates alerts group actions by.
    pub routes: Routes,
}

impl AlertsConfig {
    /// [`AlertsConfig::dedup_window`] in milliseconds, as alerts are grouped.
    pub fn dedup_window_ms(&self) -> i64 {
        millis(self.dedup_window)
    }

    /// How rule rows are grouped into alerts.
    pub fn grouping(&self) -> Grouping {
        Grouping {
            window_ms: self.dedup_window_ms(),
            routes: self.routes.clone(),
        }
    }

    /// [`AlertsConfig::update_interval`] in milliseconds.
    pub fn update_interval_ms(&self) -> i64 {
        millis(self.update_interval)
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `[archive]`.
#[derive(Debug, Clone)]
pub struct ArchiveConfig {
    /// Where, with the store that serves it.
    pub location: ArchiveLocation,
    /// When to put files.
    pub settings: ArchiveSettings,
}

/// `[batch]`.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// Most events per batch.
    pub max_events: usize,
    /// Longest wait for a batch to fill.
    pub linger: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[kafka]`.
    pub kafka: KafkaConfig,
    /// `[grants]`.
    pub grants: GrantsConfig,
    /// `[rules] dirs`.
    pub rule_dirs: Vec<PathBuf>,
    /// `[reports] dirs`.
    pub report_dirs: Vec<PathBuf>,
    /// `[alerts]`.
    pub alerts: AlertsConfig,
    /// `[archive]`: `None` when no `url` is set.
    pub archive: Option<ArchiveConfig>,
    /// `[metrics] listen`.
    pub metrics_listen: SocketAddr,
    /// `[batch]`.
    pub batch: BatchConfig,
    /// `[scope]`: which identities no grant binds are judged.
    pub scope: PartnerScope,
    /// Secrets in a file others can read: worth a warning, not a refusal.
    pub readable_secrets: Option<secrets::ReadableSecrets>,
}

impl Config {
    /// Reads, overrides from `env` and validates the file at `path`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::single(path, format!("cannot read: {e}")))?;
        let mut config = Self::from_toml(&text, path, env)?;
        config.readable_secrets = secrets::readable_secrets(path, &raw::librdkafka_keys(&text));
        Ok(config)
    }

    /// Parses TOML text; relative paths resolve against `path`'s directory.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let raw = raw::parse(text, path, env)?;
        validate::validate(raw, path)
    }
}
