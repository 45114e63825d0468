//! Builds librdkafka clients from `[kafka]`, passthrough map last so operators can
//! override anything (security.protocol, sasl.*, ssl.*).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;

use crate::config::KafkaConfig;

/// A Kafka problem: the external system's fault (or a config librdkafka refused).
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// librdkafka refused the client configuration.
    #[error("cannot create Kafka {role}: {source}")]
    Client {
        /// consumer or producer.
        role: &'static str,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The brokers did not answer.
    #[error("Kafka brokers {brokers} unreachable after {attempts} attempts: {source}")]
    Unreachable {
        /// Bootstrap servers.
        brokers: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// Subscribing failed.
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        /// Topics.
        topics: Vec<String>,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

fn base(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    client
}

fn passthrough(client: &mut ClientConfig, config: &KafkaConfig) {
    for (key, value) in &config.librdkafka {
        client.set(key, value);
    }
}

/// A consumer in `group_id`, auto-committing only offsets the pipeline stored.
pub fn consumer(config: &KafkaConfig) -> Result<StreamConsumer, KafkaError> {
    let mut client = base(config);
    client
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // At-least-once: offsets are stored by hand after sinks acknowledge.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "fetch.message.max.bytes",
            (config.max_message_bytes + 1).max(1 << 20).to_string(),
        );
    passthrough(&mut client, config);
    client.create().map_err(|source| KafkaError::Client {
        role: "consumer",
        source,
    })
}

/// An idempotent producer for alerts and dead letters.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, KafkaError> {
    let mut client = base(config);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    passthrough(&mut client, config);
    client.create().map_err(|source| KafkaError::Client {
        role: "producer",
        source,
    })
}

/// Waits until the brokers answer a metadata request, retrying with backoff.
pub async fn wait_for_brokers(
    consumer: &StreamConsumer,
    brokers: &str,
    attempts: u32,
) -> Result<(), KafkaError> {
    let mut last = None;
    for attempt in 1..=attempts {
        // fetch_metadata blocks; keep it off the reactor.
        let result =
            tokio::task::block_in_place(|| consumer.fetch_metadata(None, Duration::from_secs(5)));
        match result {
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, attempt, brokers, "Kafka brokers not answering yet.");
                last = Some(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
    }
    Err(KafkaError::Unreachable {
        brokers: brokers.to_owned(),
        attempts,
        source: last.unwrap_or(rdkafka::error::KafkaError::Canceled),
    })
}
