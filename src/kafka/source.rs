//! Collects batches from the consumer: decodes each message as it arrives, sends
//! undecodable ones to the dead-letter topic unchanged, and remembers the highest
//! offset per partition so the pipeline can store them once the batch is done.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{CommitMode, Consumer, MessageStream};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Ownership;
use super::client::{ActionConsumer, KafkaError, LagContext};
use super::progress::Progress;
use crate::decode::{ActionsBuilder, Rejected, Source as MessageSource, TopicFormat};
use crate::telemetry::Metrics;
use crate::telemetry::events::EventDeadLettered;

/// Most messages taken in one go from those already fetched (about 0.3 ms of
/// decoding) before the stop signal and the linger are looked at again. The worker
/// is not handed to other tasks in between (the other worker runs the rule queries):
/// yielding there queued reading behind the rules for half of its time, and the loop
/// then waited on the reading task for a quarter of a drain (BENCHMARKS.md).
const DRAIN_CHUNK: usize = 256;

/// The messages of the batch being collected (possibly over several rounds).
#[derive(Default)]
pub struct Collected {
    /// Next offset to consume, per (topic, partition).
    pub offsets: HashMap<(String, i32), i64>,
    /// Dead-letter deliveries still in flight; must succeed before offsets are stored.
    pub dead_letters: Vec<JoinHandle<Result<(), rdkafka::error::KafkaError>>>,
    /// Messages seen (decoded or not).
    pub messages: usize,
    /// When the first message arrived: the batch lingers from then.
    first_at: Option<tokio::time::Instant>,
}

/// Longest wait of one [`Source::hold`] poll: far below any `max.poll.interval.ms`.
const HOLD_POLL: Duration = Duration::from_millis(500);

/// The partner-action source.
pub struct Source {
    consumer: ActionConsumer,
    producer: FutureProducer,
    settings: SourceSettings,
    /// For topics the settings do not name (none, once subscribed as configured).
    native: TopicFormat,
    metrics: Metrics,
    progress: Progress,
}

/// How the source batches and reads its topics.
pub struct SourceSettings {
    /// Where undecodable records go.
    pub dead_letter_topic: String,
    /// Most messages per batch.
    pub max_events: usize,
    /// Longest wait after a batch's first message.
    pub linger: Duration,
    /// Each topic's format.
    pub formats: BTreeMap<String, TopicFormat>,
}

impl Source {
    /// A source over an already subscribed consumer.
    pub fn new(
        consumer: ActionConsumer,
        producer: FutureProducer,
        settings: SourceSettings,
        metrics: Metrics,
        progress: Progress,
    ) -> Self {
        Self {
            consumer,
            producer,
            settings,
            native: TopicFormat::native(),
            metrics,
            progress,
        }
    }

    /// Adds messages to `collected` (decoded into `builder`) until `max_events`,
    /// `linger` after the batch's first message, or `stop` turns true; with no
    /// traffic it waits (the loop does its idle work on a timeout of its own).
    /// Consumer errors are logged and retried: the broker being away is not the end
    /// of the service. A fatal one (this instance fenced by another with its
    /// `instance_id`) is: it ends the call with the reason.
    ///
    /// Cancel-safe: a message is added whole as soon as it is received, so a caller
    /// may drop this and call again to go on.
    pub async fn collect(
        &self,
        builder: &mut ActionsBuilder,
        collected: &mut Collected,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), KafkaError> {
        let linger = |first: tokio::time::Instant| first + self.settings.linger;
        // One timer and one stream for the whole call: a `recv` and a `sleep_until`
        // per message (a waker slot taken and freed under a mutex, a timer entry
        // re-registered) would cost as much as decoding. The timer runs only once
        // the batch has a first message.
        let sleep = tokio::time::sleep_until(
            collected
                .first_at
                .map_or_else(tokio::time::Instant::now, linger),
        );
        tokio::pin!(sleep);
        let mut messages = self.consumer.stream();
        while collected.messages < self.settings.max_events && !*stop.borrow() {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                () = &mut sleep, if collected.first_at.is_some() => break,
                received = messages.next() => match received {
                    Some(Ok(message)) => {
                        if collected.first_at.is_none() {
                            let first = tokio::time::Instant::now();
                            collected.first_at = Some(first);
                            sleep.as_mut().reset(linger(first));
                        }
                        self.accept(&message, builder, collected);
                    }
                    Some(Err(error)) => {
                        if let Some((code, reason)) = self.consumer.client().fatal_error() {
                            return Err(KafkaError::Fatal { code, reason });
                        }
                        tracing::warn!(%error, "Kafka consumer error.");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    None => break,
                },
            }
            self.drain(&mut messages, builder, collected);
        }
        Ok(())
    }

    /// Polls for up to half a second with every assigned partition paused, while a
    /// batch read waits for the loop (a sink being retried): a member that stops
    /// polling for `max.poll.interval.ms` is dropped from the group and its partitions
    /// move, so it keeps polling however long the sink is down. A message fetched
    /// before the pause is added to `collected`, not lost; fetching resumes after the
    /// last message taken.
    ///
    /// Cancel-safe, like [`collect`](Self::collect).
    pub async fn hold(&self, builder: &mut ActionsBuilder, collected: &mut Collected) {
        // Paused again each time: a rebalance meanwhile assigns partitions unpaused.
        if let Ok(assignment) = self.consumer.assignment()
            && let Err(error) = self.consumer.pause(&assignment)
        {
            tracing::warn!(%error, "Could not pause the assigned partitions.");
        }
        let mut messages = self.consumer.stream();
        if let Ok(Some(Ok(message))) = tokio::time::timeout(HOLD_POLL, messages.next()).await {
            self.accept(&message, builder, collected);
        }
    }

    /// Resumes every assigned partition after [`hold`](Self::hold).
    pub fn release(&self) {
        if let Ok(assignment) = self.consumer.assignment()
            && let Err(error) = self.consumer.resume(&assignment)
        {
            tracing::warn!(%error, "Could not resume the assigned partitions.");
        }
    }

    /// Adds up to [`DRAIN_CHUNK`] messages that librdkafka has already fetched,
    /// without waiting.
    fn drain(
        &self,
        messages: &mut MessageStream<'_, LagContext>,
        builder: &mut ActionsBuilder,
        collected: &mut Collected,
    ) {
        for _ in 0..DRAIN_CHUNK {
            if collected.messages >= self.settings.max_events {
                return;
            }
            // An error or an empty queue is left to the waiting `select!`.
            match messages.next().now_or_never() {
                Some(Some(Ok(message))) => self.accept(&message, builder, collected),
                _ => return,
            }
        }
    }

    fn accept<M: Message>(
        &self,
        message: &M,
        builder: &mut ActionsBuilder,
        collected: &mut Collected,
    ) {
        let source = MessageSource {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
        };
        collected.messages += 1;
        // A scan of the few partitions seen, not a keyed lookup: the key is an owned
        // topic name, which would be an allocation per message.
        let next = source.offset + 1;
        let seen = collected
            .offsets
            .iter_mut()
            .find(|((topic, partition), _)| {
                topic == source.topic && *partition == source.partition
            });
        match seen {
            Some((_, slot)) => *slot = (*slot).max(next),
            None => {
                collected
                    .offsets
                    .insert((source.topic.to_owned(), source.partition), next);
            }
        }
        let format = self
            .settings
            .formats
            .get(source.topic)
            .unwrap_or(&self.native);
        for rejected in builder.push(format, message.payload().unwrap_or_default(), source) {
            EventDeadLettered {
                error: &rejected.error,
                topic: source.topic,
                partition: source.partition,
                offset: source.offset,
            }
            .emit(&self.metrics);
            collected
                .dead_letters
                .push(self.dead_letter(message, rejected, source));
        }
    }

    fn dead_letter<M: Message>(
        &self,
        message: &M,
        rejected: Rejected,
        source: MessageSource<'_>,
    ) -> JoinHandle<Result<(), rdkafka::error::KafkaError>> {
        let producer = self.producer.clone();
        let topic = self.settings.dead_letter_topic.clone();
        // A bad record of a multi-record message goes alone; otherwise the message as is.
        let payload = rejected
            .record
            .or_else(|| message.payload().map(<[u8]>::to_vec));
        let key = message.key().map(<[u8]>::to_vec);
        let reason = rejected.error.to_string();
        let origin = format!("{}/{}/{}", source.topic, source.partition, source.offset);
        tokio::spawn(async move {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "grantwatch.error",
                    value: Some(&reason),
                })
                .insert(Header {
                    key: "grantwatch.source",
                    value: Some(&origin),
                });
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&topic).headers(headers);
            if let Some(payload) = payload.as_deref() {
                record = record.payload(payload);
            }
            if let Some(key) = key.as_deref() {
                record = record.key(key);
            }
            producer
                .send(record, Duration::from_secs(30))
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
        })
    }

    /// Stores offsets and commits them without waiting (auto-commit would wait up
    /// to its interval more, and a crash then re-reads that much). Partitions revoked
    /// meanwhile are skipped: their new owner re-reads from the last commit
    /// (at-least-once).
    pub fn store(&self, offsets: &HashMap<(String, i32), i64>) {
        let mut list = TopicPartitionList::with_capacity(offsets.len());
        for ((topic, partition), next) in offsets {
            if let Err(error) =
                list.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*next))
            {
                tracing::warn!(%error, topic, partition, "Cannot record offset.");
            }
        }
        if let Err(error) = self.consumer.store_offsets(&list) {
            tracing::warn!(%error, "Could not store offsets (partitions revoked?); they will be re-read.");
        }
        // A failed commit is retried by the next one or by auto-commit.
        if let Err(error) = self.consumer.commit_consumer_state(CommitMode::Async) {
            tracing::debug!(%error, "Offset commit not sent; auto-commit will retry.");
        }
    }

    /// The partitions assigned now (local, no broker round trip).
    fn assigned(&self) -> Vec<(String, i32)> {
        self.consumer
            .assignment()
            .map(|list| {
                list.elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads how many partitions `topic` has from the brokers, so that ownership is
    /// known from the first batch rather than from the first statistics report (an
    /// instance that knows no count owns nothing, and relays every alert). A topic
    /// that does not exist yet is learnt from the statistics once it does. Blocks
    /// for up to 5 s.
    pub fn learn_partition_count(&self, topic: &str) {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), std::time::Duration::from_secs(5));
        let count = metadata.ok().and_then(|m| {
            m.topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len())
        });
        match count.and_then(|n| i32::try_from(n).ok()).filter(|&n| n > 0) {
            Some(n) => self.progress.set_partition_count(topic, n),
            None => tracing::debug!(topic, "Partition count not known yet."),
        }
    }

    /// Which scheduled findings and alert groups this instance reports: the
    /// partitions of `topic` it is assigned now, out of the topic's partition count
    /// (DESIGN §10).
    pub fn ownership(&self, topic: &str) -> Ownership {
        let assigned: Vec<i32> = self
            .assigned()
            .into_iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p)
            .collect();
        match self.progress.partition_count(topic) {
            Some(n) if n > 0 && !assigned.is_empty() => Ownership::new(n, assigned),
            // Unknown count: owning nothing is safe, reporting twice is not.
            _ => Ownership::new(1, []),
        }
    }

    /// Whether the backlog has been read (see [`Progress`]); false with nothing
    /// assigned.
    pub fn caught_up(&self) -> bool {
        let assigned = self.assigned();
        !assigned.is_empty() && self.progress.caught_up(&assigned)
    }

    /// Commits stored offsets synchronously (on shutdown).
    pub fn commit(&self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("Committed offsets."),
            // Nothing stored since the last commit is not a failure.
            Err(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::NoOffset,
            )) => {}
            Err(error) => {
                tracing::warn!(%error, "Final offset commit failed; the last auto-commit stands.")
            }
        }
    }
}
