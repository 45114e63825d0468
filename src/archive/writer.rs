//! The archive writer: a thread of its own that encodes batches into Parquet as they
//! arrive, one open file per table and date, and puts the files on `flush`. Encoding
//! never runs on the pipeline's task; the pipeline only hands over `Arc`'d batches.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Schema, TimestampMillisecondType};
use datafusion::parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use datafusion::parquet::basic::{Compression, Type as PhysicalType, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use object_store::{ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use super::error::ArchiveError;
use super::location::{ArchiveLocation, Table};
use crate::alerts::Alert;
use crate::grants::GrantSet;

const DAY_MS: i64 = 86_400_000;

/// How often and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSettings {
    /// Longest time rows wait before their files are put (and their offsets
    /// committed): what a crash makes the next start re-read.
    pub flush_interval: Duration,
    /// Rows after which a flush is due sooner: bounds the memory files take before
    /// they are put, whatever the event rate.
    pub max_rows: usize,
}

impl Default for ArchiveSettings {
    /// Offsets committed within 5 s of an event's processing, and at most ~10 MB of
    /// encoded rows held per open file; `grantwatch archive compact` merges the small
    /// files this leaves.
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(4),
            max_rows: 250_000,
        }
    }
}

/// What a flush put.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Flushed {
    /// Files written.
    pub files: usize,
    /// Rows in them.
    pub rows: usize,
    /// Bytes in them.
    pub bytes: usize,
}

enum Command {
    Append(Table, RecordBatch),
    Flush(oneshot::Sender<Result<Flushed, ArchiveError>>),
}

/// The pipeline's handle on the archive thread.
pub struct Archive {
    commands: mpsc::Sender<Command>,
    settings: ArchiveSettings,
    rows: usize,
    since: Option<Instant>,
    location: ArchiveLocation,
}

impl Archive {
    /// Starts the writer thread. Puts run on `runtime` (the thread blocks on them;
    /// the pipeline is waiting for the flush anyway).
    pub fn start(
        location: ArchiveLocation,
        settings: ArchiveSettings,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, ArchiveError> {
        // A few batches of slack; beyond that the pipeline waits for the encoder.
        let (commands, receiver) = mpsc::channel(4);
        let writer = Writer {
            location: location.clone(),
            instance: instance_tag(),
            sequence: 0,
            open: BTreeMap::new(),
            sealed: Vec::new(),
            poisoned: None,
        };
        std::thread::Builder::new()
            .name("archive".into())
            .spawn(move || writer.run(receiver, &runtime))
            .map_err(|e| ArchiveError::Location {
                url: location.url().to_string(),
                message: format!("cannot start the archive thread: {e}"),
            })?;
        Ok(Self {
            commands,
            settings,
            rows: 0,
            since: None,
            location,
        })
    }

    /// Where it writes.
    pub fn location(&self) -> &ArchiveLocation {
        &self.location
    }

    /// Hands a batch of actions to the writer.
    pub async fn append_actions(&mut self, batch: RecordBatch) -> Result<(), ArchiveError> {
        self.append(Table::Actions, batch).await
    }

    /// Hands delivered alerts to the writer.
    pub async fn append_alerts(&mut self, alerts: &[Alert]) -> Result<(), ArchiveError> {
        if alerts.is_empty() {
            return Ok(());
        }
        self.append(Table::Alerts, super::alerts_batch(alerts)?)
            .await
    }

    /// Records a grant set put in force.
    pub async fn append_grants(
        &mut self,
        set: &GrantSet,
        loaded_at: DateTime<Utc>,
    ) -> Result<(), ArchiveError> {
        if set.is_empty() {
            return Ok(());
        }
        self.append(Table::Grants, super::grant_versions_batch(set, loaded_at)?)
            .await
    }

    async fn append(&mut self, table: Table, batch: RecordBatch) -> Result<(), ArchiveError> {
        self.rows += batch.num_rows();
        self.since.get_or_insert_with(Instant::now);
        self.commands
            .send(Command::Append(table, batch))
            .await
            .map_err(|_| ArchiveError::Stopped)
    }

    /// Whether rows wait and the interval passed or enough of them piled up.
    pub fn due(&self) -> bool {
        self.since.is_some_and(|t| {
            t.elapsed() >= self.settings.flush_interval || self.rows >= self.settings.max_rows
        })
    }

    /// Whether nothing waits to be put.
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
    }

    /// Puts every file open so far. On an error the files stay with the writer and
    /// the next flush puts them again.
    pub async fn flush(&mut self) -> Result<Flushed, ArchiveError> {
        let (reply, result) = oneshot::channel();
        self.commands
            .send(Command::Flush(reply))
            .await
            .map_err(|_| ArchiveError::Stopped)?;
        let flushed = result.await.map_err(|_| ArchiveError::Stopped)??;
        self.rows = 0;
        self.since = None;
        Ok(flushed)
    }
}

/// A tag unique to this process, so instances sharing an archive never name two
/// files alike.
fn instance_tag() -> String {
    let mut hash = Sha256::new();
    hash.update(std::process::id().to_le_bytes());
    hash.update(
        Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
            .to_le_bytes(),
    );
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        hash.update(host.as_bytes());
    }
    hex::encode(&hash.finalize()[..6])
}

struct OpenFile {
    writer: ArrowWriter<Vec<u8>>,
    rows: usize,
}

struct Sealed {
    path: object_store::path::Path,
    payload: PutPayload,
    rows: usize,
}

struct Writer {
    location: ArchiveLocation,
    instance: String,
    sequence: u64,
    open: BTreeMap<(Table, NaiveDate), OpenFile>,
    sealed: Vec<Sealed>,
    poisoned: Option<String>,
}

pub(super) fn properties(schema: &Schema) -> WriterProperties {
    // zstd level 1: most of zstd's ratio at close to lz4's speed. Row groups of up to
    // a million rows keep column chunks large for scans. No dictionaries: the
    // encoder hashed and compared every value of every text column to build them,
    // and zstd finds the repeats anyway. Without them, 2M benchmark events took the
    // archive thread 1.8-2.1 s of CPU instead of 2.2-2.3 s, for 73 MB of files
    // instead of 70-71 (BENCHMARKS.md).
    let mut builder = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(1 << 20));
    // No min/max for text: rows arrive in time order, so only times and numbers have
    // ranges narrow enough to skip a file or page by; the range of ids, actions or
    // addresses over a second of traffic is nearly all of them. Keeping them compared
    // every value twice: a tenth of the archive thread's CPU (BENCHMARKS.md). A schema
    // Parquet cannot hold is refused by `ArrowWriter::try_new`, with its error.
    if let Ok(parquet) = ArrowSchemaConverter::new().convert(schema) {
        for column in parquet.columns() {
            if column.physical_type() == PhysicalType::BYTE_ARRAY {
                builder = builder
                    .set_column_statistics_enabled(column.path().clone(), EnabledStatistics::None);
            }
        }
    }
    builder.build()
}

impl Writer {
    fn run(mut self, mut commands: mpsc::Receiver<Command>, runtime: &tokio::runtime::Handle) {
        while let Some(command) = commands.blocking_recv() {
            match command {
                Command::Append(table, batch) => {
                    if let Err(error) = self.append(table, &batch) {
                        // A bug, not retried: every later flush fails, so no offset
                        // ever moves past the batch that could not be archived.
                        tracing::error!(%error, "Cannot encode an archive batch.");
                        self.poisoned.get_or_insert(error.to_string());
                    }
                }
                Command::Flush(reply) => {
                    let _ = reply.send(runtime.block_on(self.flush()));
                }
            }
        }
    }

    fn append(&mut self, table: Table, batch: &RecordBatch) -> Result<(), ArchiveError> {
        for (date, part) in split_by_date(table, batch)? {
            let file = match self.open.entry((table, date)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(OpenFile {
                    writer: ArrowWriter::try_new(
                        Vec::new(),
                        part.schema(),
                        Some(properties(&part.schema())),
                    )?,
                    rows: 0,
                }),
            };
            file.writer.write(&part)?;
            file.rows += part.num_rows();
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<Flushed, ArchiveError> {
        for ((table, date), file) in std::mem::take(&mut self.open) {
            self.sequence += 1;
            let name = format!(
                "part-{}-{}-{:06}.parquet",
                Utc::now().format("%Y%m%dT%H%M%S%3f"),
                self.instance,
                self.sequence
            );
            self.sealed.push(Sealed {
                path: self.location.file_path(table, date, &name),
                payload: PutPayload::from(file.writer.into_inner()?),
                rows: file.rows,
            });
        }
        if let Some(error) = &self.poisoned {
            return Err(ArchiveError::Encode(error.clone()));
        }
        let mut flushed = Flushed::default();
        while let Some(file) = self.sealed.last() {
            self.location
                .store()
                .put(&file.path, file.payload.clone())
                .await?;
            flushed.files += 1;
            flushed.rows += file.rows;
            flushed.bytes += file.payload.content_length();
            self.sealed.pop();
        }
        Ok(flushed)
    }
}

/// Splits a batch by the UTC date of its partitioning time (nearly always one date).
fn split_by_date(
    table: Table,
    batch: &RecordBatch,
) -> Result<Vec<(NaiveDate, RecordBatch)>, ArchiveError> {
    let column = match table {
        Table::Actions => "ts",
        Table::Alerts => "first_seen",
        Table::Grants => "loaded_at",
    };
    let Some(times) = batch
        .column_by_name(column)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
    else {
        return Err(ArchiveError::Arrow(
            datafusion::arrow::error::ArrowError::SchemaError(format!(
                "no `{column}` timestamp column"
            )),
        ));
    };
    // A NULL time (an alert whose time did not parse) files under day 0.
    let days: Vec<i64> = (0..batch.num_rows())
        .map(|i| {
            if times.is_valid(i) {
                times.value(i).div_euclid(DAY_MS)
            } else {
                0
            }
        })
        .collect();
    let date = |day: i64| {
        DateTime::from_timestamp_millis(day * DAY_MS)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    };
    // Nearly always one day: no sort, no copy.
    if let Some(&first) = days.first()
        && days.iter().all(|&d| d == first)
    {
        return Ok(vec![(date(first), batch.clone())]);
    }
    let mut distinct: Vec<i64> = days.clone();
    distinct.sort_unstable();
    distinct.dedup();
    distinct
        .into_iter()
        .map(|day| {
            let mask: BooleanArray = days.iter().map(|&d| Some(d == day)).collect();
            Ok((date(day), filter_record_batch(batch, &mask)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::parquet::schema::types::ColumnPath;

    use super::*;

    #[test]
    fn archived_actions_keep_ranges_of_times_and_numbers_only() {
        let props = properties(&crate::decode::schema::actions());
        let stats = |path: &[&str]| {
            props.statistics_enabled(&ColumnPath::new(
                path.iter().map(|p| (*p).to_owned()).collect(),
            ))
        };
        for numeric in ["ts", "amount", "partition", "offset", "ingest_ts"] {
            assert_ne!(stats(&[numeric]), EnabledStatistics::None, "{numeric}");
        }
        for text in ["event_id", "credential_id", "action", "attributes", "topic"] {
            assert_eq!(stats(&[text]), EnabledStatistics::None, "{text}");
        }
        assert_eq!(
            stats(&["data_classes", "list", "item"]),
            EnabledStatistics::None
        );
    }
}
