//! The state topic: a compacted Kafka topic every instance writes its own records to
//! and reads in full (parsing only the others'). Kafka keeps the latest record per
//! key, so a restart or a new instance rebuilds the state by reading the topic from
//! the beginning, and every instance sees the activity of credentials other
//! instances own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tokio::task::JoinHandle;

use crate::config::KafkaConfig;
use crate::kafka::{self, KafkaError};
use crate::state::{CHUNK_RECORDS, Chunk, EncodedRecords, Round, SharedStore, StateRecord};

/// How far into each state partition the store has read.
type ReadTo = Mutex<HashMap<i32, i64>>;

fn lock(read_to: &ReadTo) -> MutexGuard<'_, HashMap<i32, i64>> {
    // A poisoned lock only means a panicking holder; the map is still whole.
    read_to.lock().unwrap_or_else(|p| p.into_inner())
}

/// The header naming the process that wrote a record.
const WRITER_HEADER: &str = "grantwatch-writer";

/// The state store, persisted to and fed from the state topic.
pub struct StateTopic {
    topic: String,
    /// This process's writer id (see [`writer_id`]).
    writer: Arc<str>,
    partitions: Vec<i32>,
    producer: FutureProducer,
    reader: Arc<StreamConsumer>,
    store: SharedStore,
    read_to: Arc<ReadTo>,
    tail: JoinHandle<()>,
}

impl Drop for StateTopic {
    fn drop(&mut self) {
        self.tail.abort();
    }
}

impl StateTopic {
    /// Creates the topic when missing (compacted), reads it to its end, and keeps
    /// reading it in the background.
    /// Its records are merged into `store`.
    pub async fn open(
        config: &KafkaConfig,
        producer: FutureProducer,
        store: SharedStore,
    ) -> Result<Self, KafkaError> {
        let topic = config.state_topic.clone();
        let name = topic.clone();
        let fail = move |message: String| KafkaError::State {
            topic: name.clone(),
            message,
        };
        let reader = kafka::state_reader(config)?;
        let partitions_of = |reader: &StreamConsumer| {
            tokio::task::block_in_place(|| {
                reader.fetch_metadata(Some(&topic), Duration::from_secs(10))
            })
            .map(|m| {
                m.topics()
                    .iter()
                    .filter(|t| t.error().is_none())
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect::<Vec<i32>>()
            })
            .map_err(|e| fail(format!("cannot read metadata: {e}")))
        };
        // Created only when missing, so operators may pre-create it without granting
        // grantwatch the right to create topics.
        let mut partitions = partitions_of(&reader)?;
        let mut created = false;
        if partitions.is_empty() {
            created = create_compacted(config, &topic).await?;
            // A new topic's metadata reaches every broker shortly after.
            for _ in 0..20 {
                partitions = partitions_of(&reader)?;
                if !partitions.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        if partitions.is_empty() {
            return Err(fail("the topic has no partitions".into()));
        }
        let mut assignment = TopicPartitionList::new();
        for &p in &partitions {
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .map_err(|e| fail(e.to_string()))?;
        }
        reader
            .assign(&assignment)
            .map_err(|e| fail(format!("cannot assign: {e}")))?;
        let reader = Arc::new(reader);
        let read_to = Arc::new(ReadTo::default());
        let writer = writer_id();
        let tail = tokio::spawn(tail(
            Arc::clone(&reader),
            store.clone(),
            Arc::clone(&read_to),
            Arc::clone(&writer),
        ));
        let state = Self {
            topic,
            writer,
            partitions,
            producer,
            reader,
            store,
            read_to,
            tail,
        };
        // A topic this process has just created holds nothing to catch up on, and
        // asking for its end right away can stall a first start for half a second.
        if !created && !state.catch_up(Duration::from_secs(60)).await {
            return Err(fail(
                "could not read the topic to its end within 60 s".into(),
            ));
        }
        let records = state.store.with(|s| s.grant_use().len());
        tracing::info!(topic = %state.topic, grants_with_activity = records, "Grant state restored.");
        Ok(state)
    }

    /// The store this topic feeds and persists.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Waits until everything written to the topic before now has been read, so that
    /// findings another instance recorded are known before judging. False on timeout.
    pub async fn catch_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut ends = HashMap::new();
        for &p in &self.partitions {
            let watermarks = tokio::task::block_in_place(|| {
                self.reader
                    .fetch_watermarks(&self.topic, p, Duration::from_secs(5))
            });
            match watermarks {
                Ok((_, high)) => {
                    ends.insert(p, high);
                }
                Err(error) => {
                    tracing::warn!(%error, topic = %self.topic, "Cannot read state topic end.");
                    return false;
                }
            }
        }
        loop {
            let done = {
                let read_to = lock(&self.read_to);
                ends.iter()
                    .all(|(p, &high)| high <= 0 || read_to.get(p).is_some_and(|&r| r >= high))
            };
            if done {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A handle that writes to the topic, for a write that runs as its own task.
    pub fn writer(&self) -> StateWriter {
        StateWriter {
            topic: self.topic.clone(),
            writer: Arc::clone(&self.writer),
            producer: self.producer.clone(),
            store: self.store.clone(),
        }
    }
}

/// A state write that failed, with the records it had taken and not written: the
/// retry writes them first.
#[derive(Debug)]
pub struct WriteFailed {
    /// Why.
    pub error: KafkaError,
    /// To write before the round's other changes.
    pub pending: EncodedRecords,
}

/// Writes state records; cheap to clone.
#[derive(Clone)]
pub struct StateWriter {
    topic: String,
    writer: Arc<str>,
    producer: FutureProducer,
    /// The store whose changes it writes.
    store: SharedStore,
}

impl StateWriter {
    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes `pending` (records made elsewhere, or the chunk a failed write left),
    /// then the store's changed records, each chunk of them encoded under the lock
    /// just before it is sent and acknowledged before the next, because a round
    /// encoded whole (~110,000 records over 100,000 grants) would add ~35 MB to a
    /// drain's peak. A
    /// record changed by a batch after the round began is written as it is then,
    /// which still covers the round's batches. Returns the records written.
    pub async fn write(
        &self,
        pending: EncodedRecords,
        round: Round,
    ) -> Result<usize, Box<WriteFailed>> {
        let mut chunk = pending;
        let mut written = 0;
        loop {
            if let Err(error) = self.publish(&chunk).await {
                return Err(Box::new(WriteFailed {
                    error,
                    pending: chunk,
                }));
            }
            written += chunk.len();
            chunk = EncodedRecords::default();
            self.store
                .with(|s| s.encode_changes(&mut chunk, round, CHUNK_RECORDS));
            if chunk.is_empty() {
                return Ok(written);
            }
        }
    }

    /// Writes records and waits for every one to be acknowledged, a chunk at a
    /// time: a first round over 100,000 grants held every record's delivery future
    /// at once.
    async fn publish(&self, records: &EncodedRecords) -> Result<(), KafkaError> {
        for chunk in records.chunks() {
            self.publish_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn publish_chunk(&self, chunk: &Chunk) -> Result<(), KafkaError> {
        let deliveries: Vec<_> = chunk
            .iter()
            .map(|(key, payload)| {
                let mut message = FutureRecord::<[u8], [u8]>::to(&self.topic)
                    .key(key)
                    .headers(OwnedHeaders::new().insert(Header {
                        key: WRITER_HEADER,
                        value: Some(self.writer.as_bytes()),
                    }));
                if let Some(payload) = payload {
                    message = message.payload(payload);
                }
                self.producer.send(message, Duration::from_secs(30))
            })
            .collect();
        for delivery in futures::future::join_all(deliveries).await {
            if let Err((error, _)) = delivery {
                return Err(KafkaError::State {
                    topic: self.topic.clone(),
                    message: format!("write failed: {error}"),
                });
            }
        }
        Ok(())
    }
}

/// Creates the topic, compacted, with the broker's default replication; an existing
/// topic is used as it is. Returns whether this call created it (not another
/// instance meanwhile).
async fn create_compacted(config: &KafkaConfig, topic: &str) -> Result<bool, KafkaError> {
    let admin = kafka::admin(config)?;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let results = tokio::time::timeout(
        Duration::from_secs(20),
        admin.create_topics([&new], &options),
    )
    .await
    .map_err(|_| KafkaError::State {
        topic: topic.to_owned(),
        message: "cannot create: no answer within 20 s (create it, compacted, by hand)".into(),
    })?
    .map_err(|e| KafkaError::State {
        topic: topic.to_owned(),
        message: format!("cannot create: {e}"),
    })?;
    let mut created = false;
    for result in results {
        match result {
            Ok(_) => created = true,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(KafkaError::State {
                    topic: topic.to_owned(),
                    message: format!("cannot create: {code}"),
                });
            }
        }
    }
    Ok(created)
}

/// An id for this process's writes, unique among the instances and restarts that
/// share a state topic.
fn writer_id() -> Arc<str> {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded from the OS; the pid and the clock only add to it.
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish()).into()
}

/// Whether `message` was written by the process whose writer id is `writer`.
fn written_by(message: &impl Message, writer: &str) -> bool {
    message.headers().is_some_and(|headers| {
        headers
            .iter()
            .any(|h| h.key == WRITER_HEADER && h.value == Some(writer.as_bytes()))
    })
}

/// Reads the state topic forever, merging every record into the store. Records this
/// process wrote are only counted as read: the store made them, and reading them back
/// would parse and reallocate every changed record after each write.
async fn tail(
    reader: Arc<StreamConsumer>,
    store: SharedStore,
    read_to: Arc<ReadTo>,
    writer: Arc<str>,
) {
    loop {
        match reader.recv().await {
            Ok(message) => {
                let merge = if written_by(&message, &writer) {
                    None
                } else {
                    parse(&message)
                };
                // Merged before it counts as read: `catch_up` promises the store has it.
                if let Some((key, record)) = merge {
                    store.with(|s| s.merge(&key, record));
                }
                lock(&read_to).insert(message.partition(), message.offset() + 1);
            }
            Err(error) => {
                tracing::warn!(%error, "State topic read failed; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A state message's key and record (`None`: a tombstone), or nothing to merge when
/// the record cannot be read (logged and skipped).
fn parse(message: &impl Message) -> Option<(String, Option<StateRecord>)> {
    let key = message
        .key()
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .into_owned();
    match message.payload().map(serde_json::from_slice::<StateRecord>) {
        None => Some((key, None)),
        Some(Ok(record)) => Some((key, Some(record))),
        Some(Err(error)) => {
            tracing::warn!(%error, %key, offset = message.offset(), "Skipping an unreadable state record.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    use super::*;

    fn message(writer: Option<&str>) -> OwnedMessage {
        let headers = writer.map(|w| {
            OwnedHeaders::new().insert(Header {
                key: WRITER_HEADER,
                value: Some(w.as_bytes()),
            })
        });
        OwnedMessage::new(
            None,
            None,
            "state".into(),
            Timestamp::NotAvailable,
            0,
            0,
            headers,
        )
    }

    #[test]
    fn only_this_processs_records_are_skipped() {
        let (mine, theirs) = (writer_id(), writer_id());
        assert_ne!(mine, theirs, "every open gets its own id");
        assert!(written_by(&message(Some(&mine)), &mine));
        assert!(!written_by(&message(Some(&theirs)), &mine));
        // Records from before writer ids existed are always read.
        assert!(!written_by(&message(None), &mine));
    }
}
