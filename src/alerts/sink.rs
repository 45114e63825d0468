//! Alert sinks. `send` returns only once the sink has durably accepted every alert,
//! because the pipeline stores Kafka offsets right after.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::io::AsyncWriteExt;

use super::alert::Alert;

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
    /// Alerts could not be serialized (a bug).
    #[error("cannot serialize alert: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Alerts to a Kafka topic, keyed by owner so that each owner's alerts stay ordered.
pub struct KafkaSink {
    producer: FutureProducer,
    topic: String,
}

impl KafkaSink {
    /// A sink producing to `topic`.
    pub fn new(producer: FutureProducer, topic: String) -> Self {
        Self { producer, topic }
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let payloads = alerts
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>()?;
        let sends = alerts.iter().zip(&payloads).map(|(alert, payload)| {
            let key = alert.owner.as_deref().unwrap_or("unowned");
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

/// Alerts appended to a JSON-lines file and synced to disk.
pub struct FileSink {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl FileSink {
    /// A sink appending to `path` (created on first use).
    pub fn new(path: PathBuf) -> Self {
        Self { path, file: None }
    }

    async fn send(&mut self, alerts: &[Alert]) -> Result<(), SinkError> {
        let mut buf = Vec::with_capacity(alerts.len() * 512);
        for alert in alerts {
            serde_json::to_writer(&mut buf, alert)?;
            buf.push(b'\n');
        }
        let fail = |source| SinkError::File {
            path: self.path.clone(),
            source,
        };
        if self.file.is_none() {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(fail)?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let written = async {
            file.write_all(&buf).await?;
            file.sync_data().await
        };
        if let Err(source) = written.await {
            // Reopen next time: the handle may be stale (disk replaced, file rotated).
            self.file = None;
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
}

impl Sink {
    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Kafka(_) => "kafka",
            Self::File(_) => "file",
            Self::Stdout(_) => "stdout",
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
        }
    }
}
