//! `grantwatch replay`: the same decoders, rules and alert building as the live
//! pipeline, over files instead of Kafka. Event rules judge each action by its own
//! `ts`, so replaying history yields the alerts live processing would have raised.
//! Scheduled rules run once at the end, over the activity replayed, with `now()`
//! the newest event time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, max};
use datafusion::arrow::datatypes::TimestampMillisecondType;

use futures::StreamExt;

use crate::alerts::{Alert, build_alerts};
use crate::archive::{Archive, ArchiveLocation, ArchiveSettings, Table};
use crate::decode::schema;
use crate::decode::{ActionsBuilder, Format, Rejected, Source, TopicFormat};
use crate::findings;
use crate::grants::{GrantSet, GrantTables};
use crate::query::{QuerySession, TimeRange};
use crate::rules::{Rule, RuleEngine};
use crate::state::{Ownership, StateStore};
use crate::suppressions::Suppression;

/// What to replay and how.
pub struct ReplayOptions {
    /// Files or directories of input.
    pub inputs: Vec<PathBuf>,
    /// Replay the archive's actions instead of files.
    pub archive_in: Option<ArchiveLocation>,
    /// Also archive the events replayed and the alerts raised (a backfill).
    pub archive_out: Option<ArchiveLocation>,
    /// How to read them.
    pub format: TopicFormat,
    /// Keep events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Keep events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events per batch.
    pub batch: usize,
    /// Largest message accepted.
    pub max_message_bytes: usize,
    /// Alert grouping window (ms).
    pub dedup_window_ms: i64,
    /// Alerts these silence are counted, not written.
    pub suppressions: Vec<Suppression>,
}

/// What a replay did.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    /// Files read.
    pub files: usize,
    /// Actions judged (after --since/--until).
    pub events: usize,
    /// Records that could not be decoded, by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Alerts written.
    pub alerts: usize,
    /// Alerts a suppression silenced.
    pub suppressed: usize,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// An input cannot be read: the user's fault.
    #[error("{}: {source}", path.display())]
    Input {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The rules do not plan.
    #[error("invalid rules: {0}")]
    Rules(String),
    /// Evaluation failed.
    #[error(transparent)]
    Engine(#[from] crate::rules::EngineError),
    /// A batch could not be built.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The archive could not be read.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    /// The archive could not be written.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
}

/// Replays `options.inputs` and writes the alerts as JSON lines to `out`.
pub async fn replay(
    options: &ReplayOptions,
    grants: &GrantSet,
    rules: &[Rule],
    out: &mut impl Write,
) -> Result<ReplaySummary, ReplayError> {
    let engine = RuleEngine::new(rules, GrantTables::build(grants)?)
        .await
        .map_err(|e| {
            ReplayError::Rules(
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
    let mut replayer = Replayer {
        engine,
        options,
        grants,
        builder: ActionsBuilder::new(options.max_message_bytes),
        alerts: BTreeMap::new(),
        summary: ReplaySummary::default(),
        store: StateStore::default(),
        newest_ms: None,
        archive: None,
    };
    if let Some(location) = &options.archive_out {
        let settings = ArchiveSettings::default();
        let mut archive = Archive::start(
            location.clone(),
            settings,
            tokio::runtime::Handle::current(),
        )?;
        // The grant set these alerts were judged by, as `run` records each one it loads.
        archive.append_grants(grants, Utc::now()).await?;
        replayer.archive = Some(archive);
    }
    match &options.archive_in {
        Some(location) => replayer.archived(location).await?,
        None => {
            for file in input_files(&options.inputs)? {
                replayer.file(&file).await?;
            }
        }
    }
    replayer.judge().await?;
    replayer.scheduled().await?;
    replayer.write(out).await
}

/// One replay under way.
struct Replayer<'a> {
    engine: RuleEngine,
    options: &'a ReplayOptions,
    grants: &'a GrantSet,
    builder: ActionsBuilder,
    /// Alerts merge by id across batches, as a consumer of the live topic upserts them.
    alerts: BTreeMap<String, Alert>,
    summary: ReplaySummary,
    /// Grant activity of the events replayed so far.
    store: StateStore,
    /// The newest event time: the clock scheduled rules run at.
    newest_ms: Option<i64>,
    /// Where replayed events and alerts are archived, if anywhere.
    archive: Option<Archive>,
}

impl Replayer<'_> {
    /// Reads one file, judging a batch whenever one is full.
    async fn file(&mut self, file: &Path) -> Result<(), ReplayError> {
        self.summary.files += 1;
        let fail = |source| ReplayError::Input {
            path: file.to_owned(),
            source,
        };
        let name = file.display().to_string();
        if self.options.format.format == Format::CloudTrail {
            // A delivery file is one JSON document (or lines): small, read whole.
            let text = std::fs::read(file).map_err(fail)?;
            for (line, message) in messages(&text, Format::CloudTrail).into_iter().enumerate() {
                self.push(&name, line, message).await?;
            }
            return Ok(());
        }
        // JSON lines are streamed, so an export of any size replays in bounded memory.
        let mut reader =
            std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file).map_err(fail)?);
        let mut buffer = Vec::new();
        let mut line = 0;
        loop {
            buffer.clear();
            if std::io::BufRead::read_until(&mut reader, b'\n', &mut buffer).map_err(fail)? == 0 {
                return Ok(());
            }
            let message = buffer.trim_ascii();
            if !message.is_empty() {
                self.push(&name, line, message).await?;
                line += 1;
            }
        }
    }

    /// Decodes one message (line `line` of file `name`), judging a batch when full.
    async fn push(&mut self, name: &str, line: usize, message: &[u8]) -> Result<(), ReplayError> {
        let source = Source {
            topic: name,
            partition: 0,
            offset: line as i64,
        };
        let format = &self.options.format;
        for Rejected { error, .. } in self.builder.push(format, message, source) {
            *self
                .summary
                .rejected
                .entry(error.fault.label().to_owned())
                .or_default() += 1;
        }
        if self.builder.len() >= self.options.batch {
            self.judge().await?;
        }
        Ok(())
    }

    /// Reads the archive's actions in the window, oldest first, a batch at a time.
    async fn archived(&mut self, location: &ArchiveLocation) -> Result<(), ReplayError> {
        let range = TimeRange {
            since: self.options.since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            until: self.options.until.unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
        let session = QuerySession::open(Some(location), &GrantSet::default(), range).await?;
        let files = location.dates(Table::Actions).await?.len();
        self.summary.files += files;
        let failed = |source| crate::query::QueryError::Sql {
            file: PathBuf::from(location.url().as_str()),
            source,
        };
        let sql = "SELECT * FROM actions ORDER BY ts, event_id";
        let frame = session.context().sql(sql).await.map_err(failed)?;
        let mut stream = frame.execute_stream().await.map_err(failed)?;
        let mut pending: Vec<RecordBatch> = Vec::new();
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(failed)?;
            rows += batch.num_rows();
            pending.push(batch);
            if rows >= self.options.batch {
                let batch = concat_batches(&schema::actions(), &pending)?;
                self.evaluate(batch).await?;
                pending.clear();
                rows = 0;
            }
        }
        if rows > 0 {
            let batch = concat_batches(&schema::actions(), &pending)?;
            self.evaluate(batch).await?;
        }
        Ok(())
    }

    /// Runs the event rules over the events collected so far.
    async fn judge(&mut self) -> Result<(), ReplayError> {
        if self.builder.is_empty() {
            return Ok(());
        }
        self.builder.set_ingest_ts(Utc::now().timestamp_millis());
        let options = self.options;
        let batch = within(self.builder.finish()?, options.since, options.until)?;
        self.evaluate(batch).await
    }

    /// Runs the event rules over one batch and merges the alerts it raises.
    async fn evaluate(&mut self, batch: RecordBatch) -> Result<(), ReplayError> {
        let options = self.options;
        self.summary.events += batch.num_rows();
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some(archive) = &mut self.archive {
            archive.append_actions(batch.clone()).await?;
            if archive.due() {
                archive.flush().await?;
            }
        }
        let evaluation = self
            .engine
            .evaluate(batch.clone(), |grants| self.store.tables_for(grants))
            .await?;
        self.store.record_batch(evaluation.activity.iter());
        let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
        self.newest_ms = self.newest_ms.max(max(ts));
        for alert in build_alerts(
            &evaluation.hits,
            &batch,
            self.grants,
            options.dedup_window_ms,
            Utc::now(),
        )? {
            match self.alerts.get_mut(&alert.alert_id) {
                Some(existing) => merge(existing, alert),
                None => {
                    self.alerts.insert(alert.alert_id.clone(), alert);
                }
            }
        }
        Ok(())
    }

    /// Runs every scheduled rule once, at the newest event time.
    async fn scheduled(&mut self) -> Result<(), ReplayError> {
        let Some(now_ms) = self.newest_ms else {
            return Ok(());
        };
        let due: Vec<String> = self
            .engine
            .scheduled_rules()
            .map(|r| r.name.clone())
            .collect();
        let hits = self
            .engine
            .evaluate_scheduled(&due, &self.store.tables()?, now_ms)
            .await?;
        let round = findings::decide(
            &hits,
            self.grants,
            &mut self.store,
            &Ownership::everything(),
            now_ms,
        )?;
        for alert in round.alerts {
            self.alerts.insert(alert.alert_id.clone(), alert);
        }
        Ok(())
    }

    /// Writes the alerts no suppression silences, as JSON lines (and to the archive).
    async fn write(mut self, out: &mut impl Write) -> Result<ReplaySummary, ReplayError> {
        let fail = |source| ReplayError::Input {
            path: "alerts".into(),
            source,
        };
        for alert in self.alerts.values() {
            if self.options.suppressions.iter().any(|s| s.silences(alert)) {
                self.summary.suppressed += 1;
                continue;
            }
            serde_json::to_writer(&mut *out, alert).map_err(|e| fail(e.into()))?;
            out.write_all(b"\n").map_err(fail)?;
        }
        self.summary.alerts = self.alerts.len() - self.summary.suppressed;
        if let Some(mut archive) = self.archive.take() {
            let alerts: Vec<Alert> = self
                .alerts
                .into_values()
                .filter(|a| !self.options.suppressions.iter().any(|s| s.silences(a)))
                .collect();
            archive.append_alerts(&alerts).await?;
            archive.flush().await?;
        }
        Ok(self.summary)
    }
}

fn merge(into: &mut Alert, more: Alert) {
    for id in more.event_ids {
        if !into.event_ids.contains(&id) {
            into.event_ids.push(id);
            into.count += 1;
        }
    }
    // RFC 3339 in UTC with fixed precision orders as text.
    into.first_seen = into.first_seen.clone().min(more.first_seen);
    into.last_seen = into.last_seen.clone().max(more.last_seen);
}

fn within(
    batch: RecordBatch,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<RecordBatch, ReplayError> {
    if since.is_none() && until.is_none() {
        return Ok(batch);
    }
    let (from, to) = (
        since.map(|t| t.timestamp_millis()),
        until.map(|t| t.timestamp_millis()),
    );
    let ts = batch.column(1).as_primitive::<TimestampMillisecondType>();
    let keep: BooleanArray = ts
        .values()
        .iter()
        .map(|&t| Some(from.is_none_or(|f| t >= f) && to.is_none_or(|u| t < u)))
        .collect();
    Ok(filter_record_batch(&batch, &keep)?)
}

/// The messages a file holds: a whole JSON document (a CloudTrail delivery file),
/// or one per line.
fn messages(text: &[u8], format: Format) -> Vec<&[u8]> {
    let trimmed = text.trim_ascii();
    if format == Format::CloudTrail
        && trimmed.starts_with(b"{")
        && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok()
    {
        return vec![trimmed];
    }
    text.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .collect()
}

fn input_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, ReplayError> {
    let mut files = Vec::new();
    for input in inputs {
        let fail = |source| ReplayError::Input {
            path: input.clone(),
            source,
        };
        if std::fs::metadata(input).map_err(fail)?.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(fail)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}
