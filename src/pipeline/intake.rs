//! The batch being collected. Its messages are read and decoded while the batch
//! before it is judged and delivered: decoding runs on the loop's thread, and waiting
//! for the rules to finish before starting it left a core idle.

use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use tokio::sync::watch;

use crate::decode::ActionsBuilder;
use crate::kafka::{Collected, Source};

/// The next batch: its decoded rows and its messages' offsets and dead letters.
pub(super) struct Intake {
    source: Arc<Source>,
    builder: ActionsBuilder,
    collected: Collected,
}

impl Intake {
    pub(super) fn new(source: Arc<Source>, builder: ActionsBuilder) -> Self {
        Self {
            source,
            builder,
            collected: Collected::default(),
        }
    }

    /// Reads until the batch is ready (full, lingered, idle a second, or `stop`).
    /// Cancel-safe: dropped when the batch before is done, the next call goes on.
    pub(super) async fn collect(&mut self, stop: &mut watch::Receiver<bool>) {
        self.source
            .collect(&mut self.builder, &mut self.collected, stop)
            .await;
    }

    /// Whether no message has been read since the last [`Intake::take`].
    pub(super) fn is_empty(&self) -> bool {
        self.collected.messages == 0
    }

    /// Takes the batch read so far (its rows stamped with `ingest_ts` now) and starts
    /// the next.
    pub(super) fn take(&mut self) -> Result<(RecordBatch, Collected), ArrowError> {
        self.builder.set_ingest_ts(Utc::now().timestamp_millis());
        let batch = self.builder.finish()?;
        Ok((batch, std::mem::take(&mut self.collected)))
    }
}
