//! Alert sinks, one file each, built from [`SinkSettings`]. `send` returns only
//! once the sink has durably accepted every alert, because the pipeline stores Kafka
//! offsets right after.
//!
//! Adding a sink: its file here, a variant of [`Sink`], a field of [`SinkSettings`]
//! built in [`Sink::all`], and its `[alerts]` key in `config`.

mod alertmanager;
mod error;
mod file;
mod kafka;
mod stdout;

use std::path::PathBuf;

use rdkafka::producer::FutureProducer;

use super::{Alert, AlertFormat};
pub use alertmanager::AlertmanagerSink;
pub use error::SinkError;
pub use file::FileSink;
pub use kafka::KafkaSink;
pub use stdout::StdoutSink;

/// Where alerts go: the `[alerts]` destinations, validated.
#[derive(Debug, Clone, Default)]
pub struct SinkSettings {
    /// Kafka alert topic (none: not sent to Kafka).
    pub kafka_topic: Option<String>,
    /// JSON-lines file; `{owner}` in the name splits it into one file per owner.
    pub file: Option<PathBuf>,
    /// Only alerts of these owners go to the file (empty: all).
    pub file_owners: Vec<String>,
    /// Alertmanager base URL.
    pub alertmanager_url: Option<String>,
    /// Also print alerts on standard output.
    pub stdout: bool,
    /// How the Kafka topic and the file carry alerts.
    pub format: AlertFormat,
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
    /// Every sink `settings` names; `producer` serves the Kafka one.
    pub fn all(settings: &SinkSettings, producer: &FutureProducer) -> Result<Vec<Sink>, SinkError> {
        let mut sinks = Vec::new();
        if let Some(topic) = &settings.kafka_topic {
            sinks.push(Sink::Kafka(KafkaSink::new(
                producer.clone(),
                topic.clone(),
                settings.format,
            )));
        }
        if let Some(path) = &settings.file {
            sinks.push(Sink::File(FileSink::new(
                path.clone(),
                &settings.file_owners,
                settings.format,
            )));
        }
        if settings.stdout {
            sinks.push(Sink::Stdout(StdoutSink));
        }
        if let Some(url) = &settings.alertmanager_url {
            sinks.push(Sink::Alertmanager(AlertmanagerSink::new(url)?));
        }
        Ok(sinks)
    }

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
