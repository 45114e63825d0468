//! Why a sink did not accept alerts.

use std::path::PathBuf;

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
