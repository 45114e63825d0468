//! Retrying a failed sink, the state topic or the archive: exponential backoff from
//! 200 ms to 10 s, each failure counted and the pipeline marked blocked (not ready)
//! until the next success. Nothing new is consumed meanwhile: that is the backpressure.

use std::time::Duration;

use tokio::sync::watch;

use crate::telemetry::events::SinkFailed;
use crate::telemetry::{Health, Metrics};

const FIRST: Duration = Duration::from_millis(200);
const LONGEST: Duration = Duration::from_secs(10);

/// One retry loop's state.
pub(super) struct Backoff<'a> {
    delay: Duration,
    metrics: &'a Metrics,
    health: &'a Health,
}

impl<'a> Backoff<'a> {
    pub(super) fn new(metrics: &'a Metrics, health: &'a Health) -> Self {
        Self {
            delay: FIRST,
            metrics,
            health,
        }
    }

    /// Counts and logs a failure of `sink`, to be retried after the current delay.
    pub(super) fn record(&self, sink: &'static str, error: &dyn std::error::Error) {
        SinkFailed {
            sink,
            error,
            retry_in: self.delay,
        }
        .emit(self.metrics);
    }

    /// Marks the pipeline blocked; returns `false` at once when stopping, else waits
    /// before the caller retries.
    pub(super) async fn wait(&mut self, stop: &watch::Receiver<bool>) -> bool {
        self.health.set_blocked(true);
        if *stop.borrow() {
            return false;
        }
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(LONGEST);
        true
    }

    /// The retried operation succeeded.
    pub(super) fn succeeded(self) {
        self.health.set_blocked(false);
    }
}
