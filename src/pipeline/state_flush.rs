//! Writing grant state to the state topic in rounds, and the offsets each round
//! covers: a batch's offsets may be stored only once the state it changed is
//! acknowledged. A due round runs as its own task while batches go on, so its round
//! trip stays out of the detection latency.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::backoff::Backoff;
use crate::kafka::{KafkaError, StateTopic, StateWriter, WriteFailed};
use crate::state::{EncodedRecords, Round, StateRecord, StateStore};
use crate::telemetry::events::StateWritten;
use crate::telemetry::{Health, Metrics};

/// Grant state is written at most this often (one record per changed key), and the
/// offsets of the batches it covers are stored only after. Each flush rewrites every
/// acting grant's record, so flushing per batch or every second costs a large share
/// of the throughput with many grants (measured in docs/bench-log.md). A crash replays
/// at most this much more (alerts keep their ids).
pub(super) const STATE_FLUSH: Duration = Duration::from_secs(5);

/// The next offset to read, per (topic, partition).
pub(super) type Offsets = HashMap<(String, i32), i64>;

/// Takes the later of each partition's offsets into `into`.
pub(super) fn merge_offsets(into: &mut Offsets, offsets: &Offsets) {
    for (partition, &next) in offsets {
        let slot = into.entry(partition.clone()).or_insert(next);
        *slot = (*slot).max(next);
    }
}

/// Offsets of batches whose alerts are delivered but whose grant state is not
/// written yet, and finding records to write with it.
#[derive(Default)]
struct Unflushed {
    records: BTreeMap<String, Option<StateRecord>>,
    offsets: Offsets,
    since: Option<Instant>,
}

impl Unflushed {
    fn is_empty(&self) -> bool {
        self.since.is_none()
    }

    fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= STATE_FLUSH)
    }
}

/// A state write in flight (one at a time, so records land in order), and the
/// offsets of the batches it covers.
struct StateWrite {
    task: tokio::task::JoinHandle<Result<(), Box<WriteFailed>>>,
    writer: StateWriter,
    /// The changes it takes: those made before it began.
    round: Round,
    offsets: Offsets,
}

/// The state topic, what is waiting to be written to it, and the write in flight.
pub(super) struct StateFlush {
    topic: StateTopic,
    unflushed: Unflushed,
    write: Option<StateWrite>,
}

impl StateFlush {
    pub(super) fn new(topic: StateTopic) -> Self {
        Self {
            topic,
            unflushed: Unflushed::default(),
            write: None,
        }
    }

    pub(super) fn topic(&self) -> &StateTopic {
        &self.topic
    }

    /// The topic, for closing it.
    pub(super) fn into_topic(self) -> StateTopic {
        self.topic
    }

    /// Records to write with the next round, and the offsets of batches whose state
    /// it must carry.
    pub(super) fn add(
        &mut self,
        records: impl IntoIterator<Item = (String, Option<StateRecord>)>,
        offsets: &Offsets,
    ) {
        self.unflushed.records.extend(records);
        merge_offsets(&mut self.unflushed.offsets, offsets);
        self.unflushed.since.get_or_insert_with(Instant::now);
    }

    /// Writes what is unflushed when due (every [`STATE_FLUSH`]) or when `wait`
    /// (idle, stopping, findings: then everything is written before returning).
    /// Answers the offsets whose state is now acknowledged, or `None` when stopped
    /// before it could be written.
    pub(super) async fn flush(
        &mut self,
        stop: &watch::Receiver<bool>,
        wait: bool,
        metrics: &Metrics,
        health: &Health,
    ) -> Option<Offsets> {
        let mut backoff = Backoff::new(metrics, health);
        let mut written = Offsets::new();
        if let Some(write) = self.write.take() {
            if !wait && !write.task.is_finished() {
                self.write = Some(write);
                return Some(written);
            }
            written = self.finish(write, stop, &mut backoff, metrics).await?;
            backoff.succeeded();
            backoff = Backoff::new(metrics, health);
        }
        if self.unflushed.is_empty() || !(wait || self.unflushed.due()) {
            return Some(written);
        }
        let Unflushed {
            records, offsets, ..
        } = std::mem::take(&mut self.unflushed);
        let mut pending = EncodedRecords::default();
        for (key, record) in &records {
            pending.push_record(key, record.as_ref());
        }
        let writer = self.topic.writer();
        let round = self.topic.store().with(StateStore::begin_round);
        let task = tokio::spawn({
            let writer = writer.clone();
            let metrics = metrics.clone();
            async move { write_state(&writer, pending, round, &metrics).await }
        });
        let write = StateWrite {
            task,
            writer,
            round,
            offsets,
        };
        if wait {
            let offsets = self.finish(write, stop, &mut backoff, metrics).await?;
            merge_offsets(&mut written, &offsets);
            backoff.succeeded();
        } else {
            self.write = Some(write);
        }
        Some(written)
    }

    /// Awaits a state write, rewriting with backoff until it is acknowledged or
    /// `stop`; answers its offsets.
    async fn finish(
        &mut self,
        write: StateWrite,
        stop: &watch::Receiver<bool>,
        backoff: &mut Backoff<'_>,
        metrics: &Metrics,
    ) -> Option<Offsets> {
        let StateWrite {
            task,
            writer,
            round,
            offsets,
        } = write;
        let mut result = task.await.unwrap_or_else(|error| {
            // The records it had taken are unknown: all are written again.
            self.topic.store().with(StateStore::mark_all_changed);
            let error = KafkaError::State {
                topic: writer.topic().to_owned(),
                message: format!("write task failed: {error}"),
            };
            Err(Box::new(WriteFailed {
                error,
                pending: EncodedRecords::default(),
            }))
        });
        while let Err(failed) = result {
            let WriteFailed { error, pending } = *failed;
            backoff.record("state", &error);
            if !backoff.wait(stop).await {
                return None;
            }
            result = write_state(&writer, pending, round, metrics).await;
        }
        Some(offsets)
    }
}

/// Writes `pending` and the store's changes, and tells how it went once
/// acknowledged; on failure, the records still to write first.
async fn write_state(
    writer: &StateWriter,
    pending: EncodedRecords,
    round: Round,
    metrics: &Metrics,
) -> Result<(), Box<WriteFailed>> {
    let started = Instant::now();
    let records = writer.write(pending, round).await?;
    StateWritten {
        records,
        duration: started.elapsed(),
    }
    .emit(metrics);
    Ok(())
}
