//! Alert sinks. `send` returns only once the sink has durably accepted every alert,
//! because the pipeline stores Kafka offsets right after.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::io::AsyncWriteExt;

use super::alert::Alert;
use super::alertmanager::AlertmanagerSink;
use super::format::AlertFormat;

/// A sink failed: the external system's fault; the batch is retried.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The Kafka alert topic did not acknowledge.
    #[error("kafka alert topic `{topic}`: {source}")]
    Kafka {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The alert file could not be written.
    #[error("alert file {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Alertmanager refused or did not answer.
    #[error("alertmanager {url}: {message}")]
    Alertmanager {
        /// The endpoint.
        url: String,
        /// What failed.
        message: String,
    },
    /// Alerts could not be serialized (a bug).
    #[error("cannot serialize alert: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Alerts to a Kafka topic, keyed by owner so that each owner's alerts stay ordered.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
    format: AlertFormat,
}

impl KafkaSink {
    /// A sink producing to `topic` in `format`.
    pub fn new(producer: FutureProducer, topic: String, format: AlertFormat) -> Self {
        Self {
            producer,
            topic,
            format,
        }
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let payloads = alerts
            .iter()
            .map(|a| self.format.encode(a))
            .collect::<Result<Vec<_>, _>>()?;
        let sends = alerts.iter().zip(&payloads).map(|(alert, payload)| {
            let key = alert.owner.as_deref().unwrap_or(UNOWNED);
            let record = FutureRecord::to(&self.topic).key(key).payload(payload);
            self.producer.send(record, Duration::from_secs(5))
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(source, _)| SinkError::Kafka {
                topic: self.topic.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// Alerts appended to JSON-lines files and synced to disk: one file, or one per
/// owner when the path holds `{owner}`, optionally only for some owners.
pub struct FileSink {
    path: PathBuf,
    owners: Option<HashSet<String>>,
    format: AlertFormat,
    files: HashMap<PathBuf, tokio::fs::File>,
}

/// The owner name used for alerts whose grant names none (and for unknown credentials).
pub const UNOWNED: &str = "unowned";

impl FileSink {
    /// A sink appending to `path` in `format` (files are created on first use).
    /// `owners`, when not empty, keeps only those owners' alerts (`unowned` for
    /// alerts without one).
    pub fn new(path: PathBuf, owners: &[String], format: AlertFormat) -> Self {
        Self {
            path,
            owners: (!owners.is_empty()).then(|| owners.iter().cloned().collect()),
            format,
            files: HashMap::new(),
        }
    }

    /// The file an owner's alerts go to.
    fn path_for(&self, owner: &str) -> PathBuf {
        let text = self.path.to_string_lossy();
        if !text.contains("{owner}") {
            return self.path.clone();
        }
        // An owner is an e-mail address or a team name: keep it readable, never a path.
        let safe: String = owner
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "@._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = safe.trim_start_matches('.');
        PathBuf::from(text.replace("{owner}", if safe.is_empty() { "_" } else { safe }))
    }

    async fn send(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        let mut by_file: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
        for alert in alerts {
            let owner = alert.owner.as_deref().unwrap_or(UNOWNED);
            if self.owners.as_ref().is_some_and(|o| !o.contains(owner)) {
                continue;
            }
            let buf = by_file.entry(self.path_for(owner)).or_default();
            buf.extend(self.format.encode(alert)?);
            buf.push(b'\n');
        }
        for (path, buf) in by_file {
            self.append(path, &buf).await?;
        }
        Ok(())
    }

    async fn append(&mut self, path: PathBuf, buf: &[u8]) -> Result<(), SinkError> {
        let fail = |source| SinkError::File {
            path: path.clone(),
            source,
        };
        let file = match self.files.entry(path.clone()) {
            Entry::Occupied(file) => file.into_mut(),
            Entry::Vacant(slot) => {
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(slot.key())
                    .await
                    .map_err(fail)?;
                slot.insert(file)
            }
        };
        let written = async {
            file.write_all(buf).await?;
            file.sync_data().await
        };
        if let Err(source) = written.await {
            // Reopen next time: the handle may be stale (disk replaced, file rotated).
            self.files.remove(&path);
            return Err(fail(source));
        }
        Ok(())
    }
}

/// Alerts printed one per line for a person watching (`grantwatch demo`).
pub struct StdoutSink;

impl StdoutSink {
    fn send(alerts: &[Alert]) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        for a in alerts {
            let line = format!(
                "ALERT {:<8} {:<24} grant={} owner={} credential={} action={} count={}\n      {}\n",
                a.severity,
                a.rule,
                a.grant_id.as_deref().unwrap_or("-"),
                a.owner.as_deref().unwrap_or("-"),
                a.credential_id,
                a.action.as_deref().unwrap_or("-"),
                a.count,
                a.reason,
            );
            // A closed stdout (a pipe to `head`) must not stop the service.
            if out.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// One configured alert destination.
pub enum Sink {
    /// The Kafka alert topic.
    Kafka(KafkaSink),
    /// The JSON-lines file.
    File(FileSink),
    /// Standard output.
    Stdout(StdoutSink),
    /// Alertmanager's API.
    Alertmanager(AlertmanagerSink),
}

impl Sink {
    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Kafka(_) => "kafka",
            Self::File(_) => "file",
            Self::Stdout(_) => "stdout",
            Self::Alertmanager(_) => "alertmanager",
        }
    }

    /// Delivers `alerts`; `Ok` means durably accepted.
    pub async fn send(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        match self {
            Self::Kafka(sink) => sink.send(alerts).await,
            Self::File(sink) => sink.send(alerts).await,
            Self::Stdout(_) => StdoutSink::send(alerts),
            Self::Alertmanager(sink) => sink.send(alerts).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(owner: Option<&str>, id: &str) -> Alert {
        Alert {
            alert_id: id.into(),
            owner: owner.map(str::to_owned),
            ..Alert::example()
        }
    }

    fn ids(path: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Alert>(l).expect("alert").alert_id)
            .collect()
    }

    #[tokio::test]
    async fn the_file_sink_splits_and_filters_by_owner() {
        let dir = tempfile::tempdir().expect("tmp");
        let alerts = [
            alert(Some("jane@bank.example"), "1"),
            alert(Some("../../etc/x"), "2"),
            alert(None, "3"),
            alert(Some("jane@bank.example"), "4"),
        ];
        let mut split = FileSink::new(
            dir.path().join("alerts-{owner}.jsonl"),
            &[],
            AlertFormat::Grantwatch,
        );
        split.send(&alerts).await.expect("send");
        assert_eq!(
            ids(&dir.path().join("alerts-jane@bank.example.jsonl")),
            ["1", "4"]
        );
        assert_eq!(ids(&dir.path().join("alerts-_.._etc_x.jsonl")), ["2"]);
        assert_eq!(ids(&dir.path().join("alerts-unowned.jsonl")), ["3"]);

        let only = ["unowned".to_owned(), "jane@bank.example".to_owned()];
        let mut filtered = FileSink::new(
            dir.path().join("mine.jsonl"),
            &only,
            AlertFormat::Grantwatch,
        );
        filtered.send(&alerts).await.expect("send");
        assert_eq!(ids(&dir.path().join("mine.jsonl")), ["1", "3", "4"]);
    }
}
