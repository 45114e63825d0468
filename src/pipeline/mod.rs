//! The service loop: collect a batch → run the rules → deliver alerts to every sink →
//! wait for dead letters → archive → store offsets. Offsets move only after all of it
//! succeeded (grant state written, archive files put), so a crash at any point
//! re-reads the batch and yields the same alert ids.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::Consumer;
use tokio::sync::watch;

use crate::alerts::{Alert, Sink, SinkError};
use crate::archive::{Archive, ArchiveError};
use crate::config::Config;
use crate::decode::ActionsBuilder;
use crate::detect::{Detector, DetectorError, Schedules};
use crate::grants::GrantSet;
use crate::kafka::{Collected, KafkaError, Source, SourceSettings, StateTopic};
use crate::rules::{Prepared, Rule};
use crate::telemetry::events::{
    AlertsSuppressed, ArchiveFlushed, BatchProcessed, FindingsRaised, GrantsLoaded, RelaysAdmitted,
};
use crate::telemetry::{GrantMetrics, Health, Metrics};

mod backoff;
mod connect;
mod intake;
mod state_flush;
use backoff::Backoff;
pub use connect::Connecting;
use connect::Connection;
use intake::{Intake, Next};
use state_flush::{Offsets, StateFlush, merge_offsets};

/// Drift is the out-of-purpose share over the last hour of processing.
const DRIFT_WINDOW_MS: i64 = 3_600_000;

/// Longest wait for the final commit, and for the Kafka clients to close, on a stop.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Why the service stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Kafka could not be reached or configured.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The rules do not plan, or judging failed.
    #[error(transparent)]
    Detector(#[from] DetectorError),
    /// A suppressions file is invalid.
    #[error("invalid suppressions:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Suppressions(Vec<crate::suppressions::SuppressionError>),
    /// A sink cannot be set up.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Building a batch failed (a bug).
    #[error("cannot build batch: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The archive cannot take more (its writer stopped: a bug).
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The task reading the topics failed (a bug).
    #[error("the reading task failed: {0}")]
    Intake(String),
    /// The task reaching Kafka at start failed (a bug).
    #[error("the task reaching Kafka failed: {0}")]
    Connect(String),
}

/// Everything the loop needs, built by [`run`].
struct Pipeline {
    source: Arc<Source>,
    detector: Detector,
    grant_updates: watch::Receiver<Arc<GrantSet>>,
    sinks: Vec<Sink>,
    update_interval_ms: i64,
    updates_checked: Option<Instant>,
    metrics: Metrics,
    grant_metrics: GrantMetrics,
    state: StateFlush,
    schedules: Schedules,
    /// The topic whose partitions decide which grants and alert groups this
    /// instance reports.
    ownership_topic: String,
    /// Readiness: a failing sink marks the pipeline blocked.
    health: Health,
    /// Where events, alerts and grant versions are archived, if anywhere.
    archive: Option<Archive>,
    /// Offsets of batches whose state is written but whose archive files are not
    /// put yet.
    unarchived: Offsets,
}

/// Runs the service until `shutdown` resolves, then drains the in-flight batch and
/// commits. `connecting` is reaching the brokers of `config` meanwhile (started early, so
/// it overlaps the grant and rule loading before this). Grant sets sent on
/// `grant_updates` come into force between two batches. Returns an error only for
/// failures at start or in the engine.
pub async fn run(
    config: Config,
    connecting: Connecting,
    mut grant_updates: watch::Receiver<Arc<GrantSet>>,
    rules: Vec<Rule>,
    metrics: Metrics,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), PipelineError> {
    let suppressions = crate::suppressions::load(&config.alerts.suppressions)
        .map_err(PipelineError::Suppressions)?;
    let grants = Arc::clone(&grant_updates.borrow_and_update());
    let detector = Detector::new(
        &rules,
        Arc::clone(&grants),
        connecting.store().clone(),
        suppressions,
        config.alerts.grouping(),
    )
    .await?;
    GrantsLoaded {
        count: grants.len(),
    }
    .emit(&metrics);
    let mut archive = match &config.archive {
        Some(a) => Some(Archive::start(
            a.location.clone(),
            a.settings,
            tokio::runtime::Handle::current(),
        )?),
        None => {
            tracing::info!("No [archive] url: events and alerts are not archived.");
            None
        }
    };
    if let Some(archive) = &mut archive {
        archive.append_grants(&grants, Utc::now()).await?;
        tracing::info!(url = %archive.location().url(), "Archiving.");
    }
    let mut grant_metrics = GrantMetrics::new(metrics.grants.clone(), DRIFT_WINDOW_MS);
    grant_metrics.loaded(&grants);
    health.set_grants_loaded(true);

    let Connection {
        consumer,
        producer,
        state,
        progress,
    } = connecting.finish().await?;
    sync_grant_metrics(&state, &grants, &mut grant_metrics);
    let topics: Vec<&str> = config.kafka.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| KafkaError::Subscribe {
            topics: config.kafka.topics.clone(),
            source,
        })?;

    let sinks = Sink::all(&config.alerts.sinks, &producer)?;
    let settings = SourceSettings {
        dead_letter_topic: config.kafka.dead_letter_topic.clone(),
        max_events: config.batch.max_events,
        linger: config.batch.linger,
        formats: config.kafka.formats.clone(),
    };
    let source = Arc::new(Source::new(
        consumer,
        producer,
        settings,
        metrics.clone(),
        progress,
    ));
    let ownership_topic = config.kafka.topics.first().cloned().unwrap_or_default();
    tokio::task::block_in_place(|| source.learn_partition_count(&ownership_topic));
    let (stop_tx, stop) = watch::channel(false);
    let intake = Intake::start(
        Arc::clone(&source),
        ActionsBuilder::with_scope(config.kafka.max_message_bytes, config.scope.clone()),
        detector.preparer(),
        stop.clone(),
    );
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("Shutting down: draining the in-flight batch.");
        let _ = stop_tx.send(true);
    });
    health.set_consuming(true);
    tracing::info!(
        topics = ?config.kafka.topics,
        event_rules = detector.engine().event_rules().count(),
        scheduled_rules = detector.engine().scheduled_rules().count(),
        "Consuming."
    );
    let mut pipeline = Pipeline {
        source,
        detector,
        grant_updates,
        sinks,
        update_interval_ms: config.alerts.update_interval_ms(),
        updates_checked: None,
        metrics,
        grant_metrics,
        state: StateFlush::new(state),
        schedules: Schedules::default(),
        ownership_topic,
        health: health.clone(),
        archive,
        unarchived: Offsets::new(),
    };
    let result = pipeline.run(intake, stop).await;
    health.set_consuming(false);
    pipeline.close().await;
    result
}

impl Pipeline {
    /// Closes the Kafka clients side by side: closing each waits out one of the
    /// 100 ms polls rust-rdkafka's `Drop` makes, ~0.25 s of a stop one after another.
    /// A close that does not end within [`CLOSE_WAIT`] is left behind: rust-rdkafka
    /// polls a closing consumer until librdkafka says it is closed, with no limit,
    /// and everything worth keeping is committed and written by now.
    async fn close(self) {
        let Pipeline {
            source,
            state,
            sinks,
            ..
        } = self;
        // Whichever drops the producer's last handle joins its poll thread.
        drop(sinks);
        let source = tokio::task::spawn_blocking(move || drop(source));
        let state = tokio::task::spawn_blocking(move || drop(state.into_topic()));
        if tokio::time::timeout(CLOSE_WAIT, async { tokio::join!(source, state) })
            .await
            .is_err()
        {
            tracing::warn!(
                wait = ?CLOSE_WAIT,
                "The Kafka clients did not close in time; exiting without them."
            );
        }
    }

    async fn run(
        &mut self,
        mut intake: Intake,
        stop: watch::Receiver<bool>,
    ) -> Result<(), PipelineError> {
        loop {
            if self.grant_updates.has_changed().unwrap_or(false) {
                let grants = Arc::clone(&self.grant_updates.borrow_and_update());
                self.apply_grants(grants).await?;
            }
            let (idle, closed) = match intake.next().await {
                Next::Batch(batch) => {
                    let (prepared, collected) = *batch?;
                    if !self.process(prepared, collected, &stop).await? {
                        tracing::warn!(
                            "Stopped with a batch undelivered; it will be re-read on restart."
                        );
                        return Ok(());
                    }
                    (false, false)
                }
                Next::Idle => (true, false),
                Next::Closed => (true, true),
            };
            let stopping = *stop.borrow();
            if !stopping && !self.send_updates(&stop).await? {
                tracing::warn!(
                    "Stopped with alerts undelivered; their relays and updates are sent after a restart."
                );
                return Ok(());
            }
            if !self.flush(&stop, idle || stopping).await {
                tracing::warn!("Stopped with grant state unwritten; its batches will be re-read.");
                return Ok(());
            }
            if !stopping {
                self.run_scheduled(&stop).await?;
            }
            // Reading ends only once stopping, after handing over what it read: all of
            // it is judged before the last commit.
            if closed {
                intake.finish().await?;
                // A synchronous commit waits for the group coordinator: off the
                // runtime's workers, and not for ever.
                let source = Arc::clone(&self.source);
                let commit = tokio::task::spawn_blocking(move || source.commit());
                if tokio::time::timeout(CLOSE_WAIT, commit).await.is_err() {
                    tracing::warn!(
                        wait = ?CLOSE_WAIT,
                        "The final offset commit did not finish in time; the last one stands."
                    );
                }
                return Ok(());
            }
        }
    }

    /// Puts a new grant set in force; called only between batches.
    async fn apply_grants(&mut self, grants: Arc<GrantSet>) -> Result<(), PipelineError> {
        self.detector.set_grants(Arc::clone(&grants))?;
        if let Some(archive) = &mut self.archive {
            archive.append_grants(&grants, Utc::now()).await?;
        }
        self.grant_metrics.loaded(&grants);
        GrantsLoaded {
            count: grants.len(),
        }
        .emit(&self.metrics);
        Ok(())
    }

    /// Returns `false` when stopped before the batch could be delivered.
    async fn process(
        &mut self,
        prepared: Prepared,
        collected: Collected,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, PipelineError> {
        let started = Instant::now();
        let batch = prepared.batch().clone();
        let ownership = self.source.ownership(&self.ownership_topic);
        let judgement = self
            .detector
            .judge_prepared(prepared, &ownership, Utc::now())
            .await?;
        self.count_suppressed(&judgement.suppressed);
        let (alerts, activity) = (judgement.alerts, judgement.activity);
        if !self.deliver(&alerts, stop).await || !await_dead_letters(collected.dead_letters).await {
            return Ok(false);
        }
        let acknowledged_ms = Utc::now().timestamp_millis();
        if let Some(archive) = &mut self.archive
            && batch.num_rows() > 0
        {
            archive.append_actions(batch.clone()).await?;
            archive.append_alerts(&alerts).await?;
        }
        self.state.add([], &collected.offsets);
        let alert_event_ms: Vec<i64> = alerts.iter().filter_map(last_seen_ms).collect();
        BatchProcessed {
            events: batch.num_rows(),
            alerts: &alerts,
            duration: started.elapsed(),
            acknowledged_ms,
            alert_event_ms: &alert_event_ms,
            out_of_scope: activity.out_of_scope,
            relayed: judgement.relayed,
        }
        .emit(&self.metrics);
        self.grant_metrics.observe(
            activity.iter(),
            activity.unbound,
            self.detector.grants(),
            acknowledged_ms,
        );
        Ok(true)
    }

    /// Runs the scheduled rules that are due over the grants this instance owns, and
    /// delivers what they find. Skipped while no partition is assigned.
    async fn run_scheduled(&mut self, stop: &watch::Receiver<bool>) -> Result<(), PipelineError> {
        let now_ms = Utc::now().timestamp_millis();
        let due = self.schedules.due(self.detector.engine(), now_ms);
        if due.is_empty() || !self.source.caught_up() {
            return Ok(());
        }
        let ownership = self.source.ownership(&self.ownership_topic);
        if ownership.is_empty() {
            return Ok(());
        }
        self.schedules.ran(self.detector.engine(), &due, now_ms);
        // Findings other instances (or this one, before a restart) recorded must be
        // known before deciding what is new.
        if !self.state.topic().catch_up(Duration::from_secs(5)).await {
            tracing::warn!("State topic not caught up; scheduled rules run on what is known.");
        }
        // Other instances' activity reaches this instance's gauges too.
        sync_grant_metrics(
            self.state.topic(),
            self.detector.grants(),
            &mut self.grant_metrics,
        );
        let findings = self.detector.scheduled(&due, &ownership, now_ms).await?;
        self.count_suppressed(&findings.suppressed);
        let alerts = findings.alerts;
        if !self.deliver(&alerts, stop).await {
            return Ok(());
        }
        if let Some(archive) = &mut self.archive {
            archive.append_alerts(&alerts).await?;
        }
        // Written at once: another instance may take these grants over any moment.
        self.state.add(findings.records, &HashMap::new());
        if !self.flush(stop, true).await {
            return Ok(());
        }
        FindingsRaised {
            rules: &due,
            alerts: &alerts,
        }
        .emit(&self.metrics);
        Ok(())
    }

    /// Admits the alerts other instances relayed for the groups this one reports,
    /// and sends the new ones; then sends the alerts whose count grew since the
    /// sinks last saw them (same id, cumulative count), at most once per
    /// `alerts.update_interval` each, and forgets alerts whose window is over.
    /// `false` when stopped before they could be delivered: then the state, which
    /// says they were, must not be written.
    async fn send_updates(&mut self, stop: &watch::Receiver<bool>) -> Result<bool, PipelineError> {
        // A walk over every alert in its window: once a second is plenty.
        if self
            .updates_checked
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return Ok(true);
        }
        self.updates_checked = Some(Instant::now());
        let now_ms = Utc::now().timestamp_millis();
        let ownership = self.source.ownership(&self.ownership_topic);
        let admitted = self.detector.admit_relays(&ownership, now_ms);
        if !admitted.is_empty() {
            if !self.deliver(&admitted, stop).await {
                return Ok(false);
            }
            if let Some(archive) = &mut self.archive {
                archive.append_alerts(&admitted).await?;
            }
            RelaysAdmitted { alerts: &admitted }.emit(&self.metrics);
        }
        let updates = self
            .detector
            .updates_due(now_ms, self.update_interval_ms, &ownership);
        if !updates.is_empty() {
            tracing::debug!(alerts = updates.len(), "Sending alert updates.");
            if !self.deliver(&updates, stop).await {
                return Ok(false);
            }
            if let Some(archive) = &mut self.archive {
                archive.append_alerts(&updates).await?;
            }
        }
        Ok(true)
    }

    fn count_suppressed(&self, silenced: &[Alert]) {
        if !silenced.is_empty() {
            AlertsSuppressed { alerts: silenced }.emit(&self.metrics);
        }
    }

    /// Writes the grant state when due or when `now` ([`StateFlush::flush`]), puts
    /// the archive likewise, then stores the offsets of the batches both cover.
    /// `false` when stopped before the state could be written.
    async fn flush(&mut self, stop: &watch::Receiver<bool>, now: bool) -> bool {
        self.flush_state(stop, now).await && self.flush_archive(stop, now).await
    }

    async fn flush_state(&mut self, stop: &watch::Receiver<bool>, wait: bool) -> bool {
        let flushed = self.state.flush(stop, wait, &self.metrics, &self.health);
        let Some(offsets) = flushed.await else {
            return false;
        };
        if self.archive.is_none() {
            if !offsets.is_empty() {
                self.source.store(&offsets);
            }
        } else {
            merge_offsets(&mut self.unarchived, &offsets);
        }
        true
    }

    /// Puts the archive's files when due, or `now` (idle or stopping), retrying with
    /// backoff, then stores the offsets they cover. Under load a flush waits for
    /// `archive.flush_interval` or `archive.max_rows`, and offsets wait with it; once
    /// the backlog is read they need not wait for the interval.
    async fn flush_archive(&mut self, stop: &watch::Receiver<bool>, now: bool) -> bool {
        let Some(archive) = &mut self.archive else {
            return true;
        };
        if !archive.is_empty() {
            if !archive.due() && !now {
                return true;
            }
            let mut backoff = Backoff::new(&self.metrics, &self.health);
            let started = Instant::now();
            loop {
                match archive.flush().await {
                    Ok(flushed) => {
                        ArchiveFlushed {
                            flushed: &flushed,
                            duration: started.elapsed(),
                        }
                        .emit(&self.metrics);
                        break;
                    }
                    Err(error) => {
                        backoff.record("archive", &error);
                        if !backoff.wait(stop).await {
                            return false;
                        }
                    }
                }
            }
            backoff.succeeded();
        }
        let offsets = std::mem::take(&mut self.unarchived);
        if !offsets.is_empty() {
            self.source.store(&offsets);
        }
        true
    }

    /// Delivers to every sink, retrying each failed one with backoff until it
    /// succeeds (backpressure: nothing new is consumed meanwhile) or `stop`.
    async fn deliver(&mut self, alerts: &[Alert], stop: &watch::Receiver<bool>) -> bool {
        let mut pending: Vec<usize> = (0..self.sinks.len()).collect();
        let mut backoff = Backoff::new(&self.metrics, &self.health);
        loop {
            let mut failed = Vec::new();
            for &i in &pending {
                let sink = &mut self.sinks[i];
                if let Err(error) = sink.send(alerts).await {
                    backoff.record(sink.name(), &error);
                    failed.push(i);
                }
            }
            if failed.is_empty() {
                backoff.succeeded();
                return true;
            }
            if !backoff.wait(stop).await {
                return false;
            }
            pending = failed;
        }
    }
}

/// Sets the last-seen and scopes-used gauges from the state store: at start (what
/// was known before the restart) and each scheduled round (what other instances saw).
fn sync_grant_metrics(state: &StateTopic, grants: &GrantSet, grant_metrics: &mut GrantMetrics) {
    state.store().with(|store| {
        let uses = store.grant_use();
        for grant in grants.grants() {
            if let Some(u) = uses.get(grant.id.as_str()) {
                grant_metrics.merge_known(grant, u.last_seen_ms, &u.scopes_used);
            }
        }
    });
}

async fn await_dead_letters(
    deliveries: Vec<tokio::task::JoinHandle<Result<(), rdkafka::error::KafkaError>>>,
) -> bool {
    let mut all = true;
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "Dead-letter delivery failed; the batch will be re-read.");
                all = false;
            }
            Err(error) => {
                tracing::error!(%error, "Dead-letter task failed; the batch will be re-read.");
                all = false;
            }
        }
    }
    all
}

fn last_seen_ms(alert: &Alert) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&alert.last_seen)
        .ok()
        .map(|t| t.timestamp_millis())
}
