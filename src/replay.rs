//! `grantwatch replay`: the same decoders, rules and alert building as the live
//! pipeline, over files instead of Kafka. Event rules judge each action by its own
//! `ts`, so replaying history yields the alerts live processing would have raised.
//! Scheduled rules run once at the end, over the activity replayed, with `now()`
//! the newest event time.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};

use futures::StreamExt;

use crate::alerts::{Alert, Grouping};
use crate::archive::{Archive, ArchiveLocation, ArchiveSettings, Table};
use crate::decode::schema;
use crate::decode::{ActionsBuilder, Format, PartnerScope, Rejected, Source, TopicFormat};
use crate::detect::{Detector, DetectorError};
use crate::grants::GrantSet;
use crate::kafka::Ownership;
use crate::query::{QuerySession, TimeRange};
use crate::rules::Rule;
use crate::state::SharedStore;
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
    /// How rule rows are grouped into alerts.
    pub grouping: Grouping,
    /// Which identities no grant binds are judged.
    pub scope: PartnerScope,
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
    /// Of those, actions by identities outside partner scope (never alerted).
    pub out_of_scope: u64,
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
    /// The rules do not plan, or judging failed.
    #[error(transparent)]
    Detector(#[from] DetectorError),
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
    grants: Arc<GrantSet>,
    rules: &[Rule],
    out: &mut impl Write,
) -> Result<ReplaySummary, ReplayError> {
    let detector = Detector::new(
        rules,
        Arc::clone(&grants),
        SharedStore::default(),
        options.suppressions.clone(),
        options.grouping.clone(),
    )
    .await?;
    let mut replayer = Replayer {
        detector,
        options,
        builder: ActionsBuilder::with_scope(options.max_message_bytes, options.scope.clone()),
        suppressed: BTreeSet::new(),
        summary: ReplaySummary::default(),
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
        archive.append_grants(&grants, Utc::now()).await?;
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
    let findings = replayer.scheduled().await?;
    replayer.write(findings, out).await
}

/// One replay under way.
struct Replayer<'a> {
    /// Its ledger holds the alerts by id with their cumulative counts, as a consumer
    /// of the live topic upserts them.
    detector: Detector,
    options: &'a ReplayOptions,
    builder: ActionsBuilder,
    /// The ids of the alerts a suppression silenced.
    suppressed: BTreeSet<String>,
    summary: ReplaySummary,
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

    /// Judges one batch.
    async fn evaluate(&mut self, batch: RecordBatch) -> Result<(), ReplayError> {
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
        let judgement = self.detector.judge(batch, Utc::now()).await?;
        self.newest_ms = self.newest_ms.max(judgement.newest_ms);
        self.summary.out_of_scope += judgement.activity.out_of_scope;
        self.suppressed
            .extend(judgement.suppressed.into_iter().map(|a| a.alert_id));
        Ok(())
    }

    /// Runs every scheduled rule once, at the newest event time, and returns what
    /// they found.
    async fn scheduled(&mut self) -> Result<Vec<Alert>, ReplayError> {
        let Some(now_ms) = self.newest_ms else {
            return Ok(Vec::new());
        };
        let due = self.detector.scheduled_rules();
        let findings = self
            .detector
            .scheduled(&due, &Ownership::everything(), now_ms)
            .await?;
        self.suppressed
            .extend(findings.suppressed.into_iter().map(|a| a.alert_id));
        Ok(findings.alerts)
    }

    /// Writes every alert no suppression silenced, by id, as JSON lines (and to the
    /// archive): the event alerts with their final counts, then the findings.
    async fn write(
        mut self,
        findings: Vec<Alert>,
        out: &mut impl Write,
    ) -> Result<ReplaySummary, ReplayError> {
        let fail = |source| ReplayError::Input {
            path: "alerts".into(),
            source,
        };
        let mut alerts: BTreeMap<String, Alert> = BTreeMap::new();
        for alert in self.detector.alerts().into_iter().chain(findings) {
            alerts.insert(alert.alert_id.clone(), alert);
        }
        for alert in alerts.values() {
            serde_json::to_writer(&mut *out, alert).map_err(|e| fail(e.into()))?;
            out.write_all(b"\n").map_err(fail)?;
        }
        self.summary.alerts = alerts.len();
        self.summary.suppressed = self.suppressed.len();
        if let Some(mut archive) = self.archive.take() {
            let alerts: Vec<Alert> = alerts.into_values().collect();
            archive.append_alerts(&alerts).await?;
            archive.flush().await?;
        }
        Ok(self.summary)
    }
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
    let ts = schema::event_times(&batch);
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
