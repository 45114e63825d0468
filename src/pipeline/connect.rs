//! Reaching Kafka at start: the actions consumer, the producer and the grant state
//! topic, opened on a task of their own. Start-up is mostly waiting on the brokers
//! (creating or reading the state topic) and parsing grants and planning rules on
//! the CPU; run side by side, the first batch comes ~0.2 s sooner with 10,000
//! grants (BENCHMARKS.md).

use tokio::task::JoinHandle;

use super::PipelineError;
use crate::config::KafkaConfig;
use crate::kafka::{self, ActionConsumer, KafkaError, Progress, StateTopic};
use crate::state::SharedStore;
use crate::telemetry::{Health, Metrics};

/// What the pipeline reads and writes through, once reached.
pub struct Connection {
    pub(super) consumer: ActionConsumer,
    pub(super) producer: rdkafka::producer::FutureProducer,
    pub(super) state: StateTopic,
    /// How far the consumer has read, as its statistics report it.
    pub(super) progress: Progress,
}

/// Kafka being reached in the background; dropped unfinished (a start that failed
/// elsewhere), the attempt stops.
pub struct Connecting {
    task: JoinHandle<Result<Connection, KafkaError>>,
    /// The store the state topic fills: the detector is built on it meanwhile.
    store: SharedStore,
}

impl Drop for Connecting {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connecting {
    /// Starts reaching the brokers of `config` and opening the state topic. Must be
    /// called within the multi-threaded runtime (metadata requests block a worker).
    pub fn start(config: &KafkaConfig, metrics: &Metrics, health: &Health) -> Self {
        let (config, metrics, health) = (config.clone(), metrics.clone(), health.clone());
        let store = SharedStore::default();
        let filled = store.clone();
        let task = tokio::spawn(async move {
            let progress = Progress::default();
            let consumer = kafka::consumer(&config, metrics, progress.clone(), health)?;
            kafka::wait_for_brokers(&consumer, &config.brokers, 5).await?;
            let producer = kafka::producer(&config)?;
            // State before any batch: activity and findings in force are known first.
            let state = StateTopic::open(&config, producer.clone(), filled).await?;
            Ok(Connection {
                consumer,
                producer,
                state,
                progress,
            })
        });
        Self { task, store }
    }

    /// The grant state, restored by the time [`Connecting::finish`] returns.
    pub(super) fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Waits until Kafka is reached, or says why it was not.
    pub(super) async fn finish(mut self) -> Result<Connection, PipelineError> {
        match (&mut self.task).await {
            Ok(connected) => Ok(connected?),
            Err(e) => Err(PipelineError::Connect(e.to_string())),
        }
    }
}
