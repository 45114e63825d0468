//! The batches to judge, read, decoded and prepared against the grants on a task of
//! their own while the loop judges and delivers the batch before: decoding costs as
//! much as all the loop's own work per batch, and the rule workers must not idle
//! while it runs.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use datafusion::arrow::error::ArrowError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::PipelineError;
use crate::decode::ActionsBuilder;
use crate::kafka::{Collected, KafkaError, Source};
use crate::rules::{Prepared, Preparer};

/// How long the loop waits for a batch before doing its idle work (state and
/// archive flushes, scheduled rules) anyway.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// How long a batch read waits for the loop to take it before the reading task
/// pauses its partitions and keeps polling ([`Source::hold`]): longer than the loop
/// takes when all is well, as a pause drops librdkafka's read-ahead, and far shorter
/// than any `max.poll.interval.ms`.
const HOLD_AFTER: Duration = Duration::from_secs(2);

/// A batch ready to judge: its rows, stamped with `ingest_ts` and prepared, and its
/// messages' offsets and dead letters.
pub(super) type Taken = (Prepared, Collected);

/// What the loop gets next.
pub(super) enum Next {
    /// A batch (building it failed only on a bug), boxed: it is large and moves
    /// through a channel.
    Batch(Result<Box<Taken>, ArrowError>),
    /// Nothing for a second.
    Idle,
    /// Reading has ended: every batch read was handed over.
    Closed,
}

/// The reading task and the batches it hands over.
pub(super) struct Intake {
    batches: mpsc::Receiver<Result<Box<Taken>, ArrowError>>,
    task: JoinHandle<Result<(), KafkaError>>,
}

impl Intake {
    /// Starts reading from `source`. Once `stop` turns true, the task hands over
    /// what it has read and ends.
    pub(super) fn start(
        source: Arc<Source>,
        mut builder: ActionsBuilder,
        preparer: Preparer,
        mut stop: watch::Receiver<bool>,
    ) -> Self {
        // One batch waits while the next is read: more would only hold memory.
        let (sender, batches) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut collected = Collected::default();
            loop {
                let read = source
                    .collect(&mut builder, &mut collected, &mut stop)
                    .await;
                if collected.messages > 0 {
                    builder.set_ingest_ts(Utc::now().timestamp_millis());
                    let batch = builder
                        .finish()
                        .and_then(|rows| preparer.prepare(rows))
                        .map(|prepared| Box::new((prepared, std::mem::take(&mut collected))));
                    let permit = match tokio::time::timeout(HOLD_AFTER, sender.reserve()).await {
                        Ok(permit) => permit,
                        Err(_) => {
                            // The loop is still on the batch before (a sink being
                            // retried): poll, paused, until it takes this one.
                            let permit = loop {
                                tokio::select! {
                                    permit = sender.reserve() => break permit,
                                    () = source.hold(&mut builder, &mut collected) => {}
                                }
                            };
                            source.release();
                            permit
                        }
                    };
                    let Ok(permit) = permit else {
                        return read;
                    };
                    permit.send(batch);
                }
                if read.is_err() || *stop.borrow() {
                    return read;
                }
            }
        });
        Self { batches, task }
    }

    /// The next batch, [`Next::Idle`] after a second without one, or
    /// [`Next::Closed`] once reading has ended and every batch was taken.
    pub(super) async fn next(&mut self) -> Next {
        match tokio::time::timeout(IDLE_WAKE, self.batches.recv()).await {
            Ok(Some(batch)) => Next::Batch(batch),
            Ok(None) => Next::Closed,
            Err(_) => Next::Idle,
        }
    }

    /// Why reading ended, once [`Next::Closed`]: the consumer failed for good, or
    /// the task panicked (a bug).
    pub(super) async fn finish(mut self) -> Result<(), PipelineError> {
        (&mut self.task)
            .await
            .map_err(|error| PipelineError::Intake(error.to_string()))?
            .map_err(PipelineError::Kafka)
    }
}

/// A loop that returns early (an engine error, a batch undelivered on stop) stops
/// reading with it: what the task read is never committed, so it is read again.
impl Drop for Intake {
    fn drop(&mut self) {
        self.task.abort();
    }
}
