//! Builds librdkafka clients from `[kafka]`, passthrough map last so operators can
//! override anything (security.protocol, sasl.*, ssl.*).

use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Statistics};

use super::progress::Progress;
use crate::config::KafkaConfig;
use crate::telemetry::events::{Assigned, BrokersSeen};
use crate::telemetry::metrics::PartitionLabels;
use crate::telemetry::{Health, Metrics};

/// Actions read ahead, in kilobytes (`kafka.librdkafka."queued.max.messages.kbytes"`
/// overrides it).
const ACTIONS_READ_AHEAD_KBYTES: &str = "2048";

/// State records read ahead at start, in kilobytes.
const STATE_READ_AHEAD_KBYTES: &str = "4096";

/// Bytes fetched per partition and request by the actions consumer.
const FETCH_PARTITION_BYTES: &str = "2097152";

/// Longest wait between attempts to reach a broker that is away, in milliseconds.
const RECONNECT_BACKOFF_MAX_MS: &str = "1000";

/// The consumer's context: turns librdkafka's periodic statistics into the
/// `grantwatch_consumer_lag` and `grantwatch_consumer_committed_offset` gauges, the
/// read [`Progress`], and readiness (connected to a broker or not).
pub struct LagContext {
    metrics: Metrics,
    progress: Progress,
    health: Health,
    /// The brokers' latest refusal of the credentials, for a start that cannot connect.
    auth_failure: std::sync::Mutex<Option<String>>,
}

impl LagContext {
    /// Whether the brokers refused the credentials (SASL or TLS), with librdkafka's
    /// reason: retrying will not help.
    fn authentication_failure(&self) -> Option<String> {
        self.auth_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn note_auth_failure(&self, reason: &str) {
        *self.auth_failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_owned());
    }
}

/// librdkafka's words for credentials the brokers refused.
fn is_auth_failure(message: &str) -> bool {
    message.contains("SASL authentication error") || message.contains("SSL handshake failed")
}

impl ClientContext for LagContext {
    /// librdkafka's log lines go to `tracing` (target `librdkafka`), called from its
    /// own threads; a refused login is also remembered for the start-up check.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
        }
        if is_auth_failure(message) {
            self.note_auth_failure(message);
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, "{reason}");
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication)
            || is_auth_failure(reason)
        {
            self.note_auth_failure(reason);
        }
    }

    fn stats(&self, statistics: Statistics) {
        self.progress.record(&statistics);
        // Bootstrap entries (nodeid -1) only stand for the configured addresses.
        let up = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0 && b.state == "UP")
            .count();
        let was_up = self.health.set_brokers_up(up > 0);
        BrokersSeen { up, was_up }.emit(&self.metrics);
        for (topic, stats) in statistics.topics {
            for (partition, p) in stats.partitions {
                // -1 is librdkafka's internal unassigned partition; lag -1 is unknown.
                if partition < 0 {
                    continue;
                }
                let labels = PartitionLabels {
                    topic: topic.clone(),
                    partition,
                };
                if p.consumer_lag >= 0 {
                    self.metrics
                        .consumer_lag
                        .get_or_create(&labels)
                        .set(p.consumer_lag);
                }
                // Negative: nothing committed yet.
                if p.committed_offset >= 0 {
                    self.metrics
                        .committed
                        .get_or_create(&labels)
                        .set(p.committed_offset);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {
    /// Readiness follows the assignment: a consumer waiting for its partitions (a
    /// dead member's session to expire, a rebalance) judges nothing.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = consumer.assignment().map_or(0, |a| a.count());
        self.health.set_assigned(partitions > 0);
        if matches!(rebalance, Rebalance::Assign(_)) {
            Assigned { partitions }.emit(&self.metrics);
        }
    }
}

/// The partner-action consumer.
pub type ActionConsumer = StreamConsumer<LagContext>;

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
    /// The brokers refused the credentials: a configuration to fix, not an outage.
    #[error(
        "Kafka brokers {brokers} refused the credentials (kafka.librdkafka sasl.*/ssl.*): {reason}"
    )]
    Authentication {
        /// Bootstrap servers.
        brokers: String,
        /// librdkafka's reason.
        reason: String,
    },
    /// The state topic cannot be created, read or written.
    #[error("state topic `{topic}`: {message}")]
    State {
        /// The topic.
        topic: String,
        /// What failed.
        message: String,
    },
    /// The consumer failed for good (librdkafka's fatal error), such as another
    /// instance of the group joining with this one's `instance_id`.
    #[error("the Kafka consumer failed for good ({code:?}): {reason}{}", fatal_hint(*.code))]
    Fatal {
        /// librdkafka's code.
        code: RDKafkaErrorCode,
        /// librdkafka's reason.
        reason: String,
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

fn fatal_hint(code: RDKafkaErrorCode) -> &'static str {
    match code {
        RDKafkaErrorCode::FencedInstanceId => {
            ". Another instance of the group uses the same [kafka] instance_id (the host name by \
             default): give each instance on a host its own"
        }
        _ => "",
    }
}

fn base(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        // librdkafka backs off reconnecting up to 10 s by default, so a broker back
        // from an outage could wait that long before anyone noticed; a refused
        // connection attempt a second is nothing to a broker.
        .set("reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS);
    client
}

fn passthrough(client: &mut ClientConfig, config: &KafkaConfig) {
    for (key, value) in &config.librdkafka {
        client.set(key, value);
    }
}

/// A consumer in `group_id`, auto-committing only offsets the pipeline stored,
/// reporting how far it has read to `progress` and its connection to `health`.
pub fn consumer(
    config: &KafkaConfig,
    metrics: Metrics,
    progress: Progress,
    health: Health,
) -> Result<ActionConsumer, KafkaError> {
    let mut client = base(config);
    client
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // At-least-once: offsets are stored by hand after sinks acknowledge.
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Lag gauges and the progress scheduled rules wait on.
        .set("statistics.interval.ms", "2000")
        // 2 MB per partition and fetch: a backlog then arrives in long runs of one
        // partition, and producers key actions by credential (DESIGN §10), so a batch
        // holds fewer credentials and the work done per (grant, credential) shrinks
        // (pairs per batch and the CPU saved against 256 KB fetches: docs/bench-log.md).
        // A larger message is still fetched whole: brokers return a first batch past
        // the limit.
        .set("fetch.message.max.bytes", FETCH_PARTITION_BYTES)
        // Read-ahead of 2 MB instead of librdkafka's 64 MB: the decompressed message
        // sets and a queued op per message would hold ~100 MB at 16 MB, and 2 MB is
        // no slower (BENCHMARKS.md). `fetch.max.bytes`, left unset, is capped at
        // the read-ahead by librdkafka (but not below `message.max.bytes`), so a fetch
        // request brings ~2 MB whatever the number of partitions: one partition's run
        // at a time. It fills the queue at once, so a full queue pauses fetching for
        // 5 ms (librdkafka's default of 1 s would stall a drain).
        .set("queued.max.messages.kbytes", ACTIONS_READ_AHEAD_KBYTES)
        .set("fetch.queue.backoff.ms", "5");
    if let Some(id) = &config.instance_id {
        client.set("group.instance.id", id);
    }
    passthrough(&mut client, config);
    client
        .create_with_context(LagContext {
            metrics,
            progress,
            health,
            auth_failure: std::sync::Mutex::new(None),
        })
        .map_err(|source| KafkaError::Client {
            role: "consumer",
            source,
        })
}

/// A consumer that reads the state topic by assignment (never by group), so every
/// instance reads all of it. It commits nothing: the topic is re-read on start.
pub fn state_reader(config: &KafkaConfig) -> Result<StreamConsumer, KafkaError> {
    let mut client = base(config);
    client
        .set("group.id", format!("{}.state-reader", config.group_id))
        .set("queued.max.messages.kbytes", STATE_READ_AHEAD_KBYTES)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    passthrough(&mut client, config);
    client.create().map_err(|source| KafkaError::Client {
        role: "state reader",
        source,
    })
}

/// An admin client, to create the compacted state topic.
pub fn admin(config: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    let mut client = base(config);
    passthrough(&mut client, config);
    client.create().map_err(|source| KafkaError::Client {
        role: "admin client",
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
    consumer: &ActionConsumer,
    brokers: &str,
    attempts: u32,
) -> Result<(), KafkaError> {
    let mut last = None;
    for attempt in 1..=attempts {
        // fetch_metadata blocks; keep it off the reactor.
        let result =
            tokio::task::block_in_place(|| consumer.fetch_metadata(None, Duration::from_secs(5)));
        if result.is_err() {
            // Serve librdkafka's queued events (logs, errors): a refused login reaches
            // the context only through them. Nothing is subscribed yet, so no message
            // can be taken by this.
            let _ = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
        }
        if let Some(reason) = consumer.context().authentication_failure() {
            return Err(KafkaError::Authentication {
                brokers: brokers.to_owned(),
                reason,
            });
        }
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
