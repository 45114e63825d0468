//! Compaction: merges each partition's small files into a few large ones. The writer
//! puts a file every few seconds so that offsets are committed soon after events are
//! judged; readers would otherwise open thousands of files a day.
//!
//! Safe beside live writers: it merges only files it listed, old enough to be
//! finished, and deletes them only once the merged file is in the store. Each merged
//! file holds all the rows of the inputs it names in its Parquet metadata, and
//! appears whole or not at all, so a run that stopped between the put and the
//! deletes is finished by the next one, and one that failed mid-merge left nothing.
//! A reader listing a partition in that moment sees the rows twice; runs take one
//! partition at a time to keep it short.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{KeyValue, PageIndexPolicy, ParquetMetaDataReader};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use super::error::ArchiveError;
use super::location::{ArchiveLocation, Table};
use super::writer::properties;

/// The metadata key under which a merged file lists the files it replaces.
const REPLACES_KEY: &str = "grantwatch.replaces";

/// Bytes read from a file's end in the hope they hold its footer.
const FOOTER_GUESS: u64 = 64 << 10;

/// Marks a merged file's name; its inputs are read from its metadata only.
const MERGED_MARK: &str = "-merged-";

/// What to merge.
#[derive(Debug, Clone, Copy)]
pub struct CompactSettings {
    /// Files put less than this long ago are left alone: a writer may still be
    /// putting files of the same minutes, and a partition of the current hour is
    /// still growing.
    pub older_than: Duration,
    /// Files at least this large are left alone, and merged files are cut at about
    /// this size.
    pub target_bytes: u64,
}

impl Default for CompactSettings {
    fn default() -> Self {
        Self {
            older_than: Duration::from_secs(3600),
            target_bytes: 128 << 20,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// Partitions merged.
    pub partitions: usize,
    /// Files merged and deleted.
    pub files_in: usize,
    /// Files written.
    pub files_out: usize,
    /// Rows moved.
    pub rows: usize,
    /// Bytes of the files merged.
    pub bytes_in: u64,
    /// Bytes of the files written.
    pub bytes_out: u64,
    /// Inputs of an earlier, interrupted run deleted now.
    pub leftovers: usize,
    /// Partitions left as they were, and why (a file that cannot be read or merged).
    pub refused: Vec<String>,
}

/// Merges the small files of every partition of every table of the archive.
pub async fn compact(
    location: &ArchiveLocation,
    settings: CompactSettings,
    now: DateTime<Utc>,
) -> Result<Compacted, ArchiveError> {
    let cutoff = now - chrono::Duration::from_std(settings.older_than).unwrap_or_default();
    let mut done = Compacted::default();
    for table in [Table::Actions, Table::Alerts, Table::Grants] {
        for date in location.dates(table).await? {
            let partition = Partition {
                location,
                table,
                date,
            };
            match partition.compact(settings, cutoff, &mut done).await {
                Ok(()) => {}
                // One unreadable file must not stop the other partitions' merges.
                Err(error @ ArchiveError::Compact { .. }) => done.refused.push(error.to_string()),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(done)
}

struct Partition<'a> {
    location: &'a ArchiveLocation,
    table: Table,
    date: NaiveDate,
}

impl Partition<'_> {
    async fn compact(
        &self,
        settings: CompactSettings,
        cutoff: DateTime<Utc>,
        done: &mut Compacted,
    ) -> Result<(), ArchiveError> {
        let store = self.location.store();
        let dir = self.location.partition_dir(self.table, self.date);
        let mut files: Vec<ObjectMeta> = store
            .list_with_delimiter(Some(&dir))
            .await?
            .objects
            .into_iter()
            .filter(|o| o.location.as_ref().ends_with(".parquet"))
            .collect();
        let leftovers = self.leftovers(&store, &files).await?;
        for file in &leftovers {
            delete_if_present(&store, file).await?;
        }
        done.leftovers += leftovers.len();
        files.retain(|f| !leftovers.contains(&f.location));
        let mut inputs: Vec<ObjectMeta> = files
            .into_iter()
            .filter(|f| f.last_modified < cutoff && f.size < settings.target_bytes)
            .collect();
        // Names begin with the time they were put: merged rows keep that order.
        inputs.sort_by(|a, b| a.location.cmp(&b.location));
        let mut merged_any = false;
        for group in groups(&inputs, settings.target_bytes) {
            let written = self.merge(&store, group).await?;
            for input in group {
                delete_if_present(&store, &input.location).await?;
            }
            merged_any = true;
            done.files_in += group.len();
            done.bytes_in += group.iter().map(|f| f.size).sum::<u64>();
            done.files_out += 1;
            done.rows += written.rows;
            done.bytes_out += written.bytes;
        }
        done.partitions += usize::from(merged_any);
        Ok(())
    }

    /// The inputs that an interrupted run's merged files name and that are still
    /// present: their rows are in the merged file already.
    async fn leftovers(
        &self,
        store: &Arc<dyn ObjectStore>,
        files: &[ObjectMeta],
    ) -> Result<Vec<Path>, ArchiveError> {
        let mut leftovers = Vec::new();
        for merged in files.iter().filter(|f| is_merged(f)) {
            for name in replaces(store, merged).await? {
                if let Some(file) = files
                    .iter()
                    .find(|f| f.location.filename() == Some(name.as_str()))
                {
                    leftovers.push(file.location.clone());
                }
            }
        }
        Ok(leftovers)
    }

    /// Writes `inputs`' rows, in order, into one new file that names them all. On
    /// an error the file is abandoned unfinished: it never appears.
    async fn merge(
        &self,
        store: &Arc<dyn ObjectStore>,
        inputs: &[ObjectMeta],
    ) -> Result<Written, ArchiveError> {
        let schema = self.table.schema();
        let names: Vec<String> = inputs
            .iter()
            .filter_map(|f| f.location.filename().map(str::to_owned))
            .collect();
        let mut hash = Sha256::new();
        for name in &names {
            hash.update(name.as_bytes());
        }
        let name = format!(
            "part-{}{MERGED_MARK}{}.parquet",
            Utc::now().format("%Y%m%dT%H%M%S%3f"),
            hex::encode(&hash.finalize()[..6])
        );
        let path = self.location.file_path(self.table, self.date, &name);
        let mut writer = AsyncArrowWriter::try_new(
            BufWriter::new(Arc::clone(store), path),
            Arc::clone(&schema),
            Some(properties(&schema)),
        )?;
        writer.append_key_value_metadata(KeyValue::new(
            REPLACES_KEY.to_owned(),
            serde_json::to_string(&names).unwrap_or_default(),
        ));
        let mut rows = 0;
        for input in inputs {
            if let Err(error) = copy_rows(store, input, &schema, &mut writer, &mut rows).await {
                // Best effort: an upload left over is never listed as a Parquet file.
                let _ = writer.into_inner().abort().await;
                return Err(error);
            }
        }
        writer.finish().await?;
        Ok(Written {
            rows,
            bytes: writer.bytes_written() as u64,
        })
    }
}

/// `inputs` in runs of consecutive files of about `target_bytes` together, each of
/// at least two files: each run becomes one merged file.
fn groups(inputs: &[ObjectMeta], target_bytes: u64) -> Vec<&[ObjectMeta]> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, input) in inputs.iter().enumerate() {
        bytes += input.size;
        if bytes >= target_bytes || i + 1 == inputs.len() {
            if i + 1 - start >= 2 {
                groups.push(&inputs[start..=i]);
            }
            (start, bytes) = (i + 1, 0);
        }
    }
    groups
}

/// Appends the rows of `input` (smaller than the target size: read whole) to
/// `writer`, in the table's current schema.
async fn copy_rows(
    store: &Arc<dyn ObjectStore>,
    input: &ObjectMeta,
    schema: &SchemaRef,
    writer: &mut AsyncArrowWriter<BufWriter>,
    rows: &mut usize,
) -> Result<(), ArchiveError> {
    let bytes = store.get(&input.location).await?.bytes().await?;
    let batches = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .map_err(|e| unreadable(input, &e))?;
    for batch in batches {
        let batch = batch.map_err(|e| unreadable(input, &e))?;
        let batch = conform(&batch, schema, &input.location)?;
        writer.write(&batch).await?;
        *rows += batch.num_rows();
    }
    Ok(())
}

/// A file that is not the Parquet it should be: the partition is left alone.
fn unreadable(file: &ObjectMeta, error: &dyn std::fmt::Display) -> ArchiveError {
    ArchiveError::Compact {
        file: file.location.to_string(),
        message: error.to_string(),
    }
}

struct Written {
    rows: usize,
    bytes: u64,
}

fn is_merged(file: &ObjectMeta) -> bool {
    file.location
        .filename()
        .is_some_and(|name| name.contains(MERGED_MARK))
}

/// The input names a merged file's metadata lists, read from its footer alone.
async fn replaces(
    store: &Arc<dyn ObjectStore>,
    merged: &ObjectMeta,
) -> Result<Vec<String>, ArchiveError> {
    let mut reader = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Skip);
    let mut suffix = merged.size.min(FOOTER_GUESS);
    loop {
        let range = merged.size - suffix..merged.size;
        let bytes = store.get_range(&merged.location, range).await?;
        match reader.try_parse_sized(&bytes, merged.size) {
            Ok(()) => break,
            Err(ParquetError::NeedMoreData(needed)) if needed as u64 > suffix => {
                suffix = needed as u64;
            }
            Err(error) => return Err(unreadable(merged, &error)),
        }
    }
    let metadata = reader.finish().map_err(|e| unreadable(merged, &e))?;
    let listed = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == REPLACES_KEY))
        .and_then(|kv| kv.value.as_deref())
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .unwrap_or_default();
    Ok(listed)
}

/// Deletes `path`, which another run may have deleted already.
async fn delete_if_present(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<(), ArchiveError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// `batch` in the table's current schema: a column files of an older version lack
/// is filled with nulls, one of another type is cast. A column the current schema
/// does not know, or a missing one that cannot be null, is refused: merging would
/// lose it.
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    file: &Path,
) -> Result<RecordBatch, ArchiveError> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let refuse = |message: String| ArchiveError::Compact {
        file: file.to_string(),
        message,
    };
    if let Some(unknown) = batch
        .schema()
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        return Err(refuse(format!(
            "column `{}` is not in this version's schema",
            unknown.name()
        )));
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Arc::clone(column),
            Some(column) => cast(column, field.data_type())?,
            None if field.is_nullable() => new_null_array(field.data_type(), batch.num_rows()),
            None => {
                return Err(refuse(format!(
                    "required column `{}` is missing",
                    field.name()
                )));
            }
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Archive, ArchiveSettings};

    fn meta(name: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(name),
            last_modified: Utc::now(),
            size,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn groups_are_consecutive_runs_of_about_the_target_size() {
        let files: Vec<ObjectMeta> = [10, 10, 10, 10, 5, 30]
            .iter()
            .enumerate()
            .map(|(i, &size)| meta(&format!("f{i}"), size))
            .collect();
        let names = |target| -> Vec<Vec<String>> {
            groups(&files, target)
                .iter()
                .map(|g| g.iter().map(|f| f.location.to_string()).collect())
                .collect()
        };
        assert_eq!(names(25), [vec!["f0", "f1", "f2"], vec!["f3", "f4", "f5"]]);
        // A file reaching the target alone is left as it is.
        assert_eq!(names(10), [vec!["f4", "f5"]]);
    }

    /// Rows per Parquet file under `dir`, by file name.
    fn rows_per_file(dir: &std::path::Path) -> Vec<(String, usize)> {
        let mut files: Vec<(String, usize)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .map(|p| {
                let file = std::fs::File::open(&p).unwrap();
                let rows = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .metadata()
                    .file_metadata()
                    .num_rows();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, usize::try_from(rows).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    /// Three puts of one day merge into one file; a run interrupted after its put is
    /// finished by the next without a row twice; an unreadable file leaves only its
    /// own partition alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn merges_finishes_interrupted_runs_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let location = ArchiveLocation::parse("archive", dir.path()).unwrap();
        let mut archive = Archive::start(
            location.clone(),
            ArchiveSettings::default(),
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        for hour in 10..13 {
            let events = (0..100).map(|i| {
                format!(
                    r#"{{"ts":"2026-11-01T{hour}:00:{:02}Z","credential_id":"c","action":"GET /x"}}"#,
                    i % 60
                )
            });
            archive
                .append_actions(crate::decode::native_batch(events))
                .await
                .unwrap();
            archive.flush().await.unwrap();
        }
        let day = dir.path().join("archive/date=2026-11-01");
        let before = rows_per_file(&day);
        assert_eq!(before.iter().map(|(_, n)| n).collect::<Vec<_>>(), [&100; 3]);
        let aside = tempfile::tempdir().unwrap();
        for (name, _) in &before {
            std::fs::copy(day.join(name), aside.path().join(name)).unwrap();
        }

        let now = Utc::now() + chrono::Duration::seconds(1);
        let settings = CompactSettings {
            older_than: Duration::ZERO,
            target_bytes: 128 << 20,
        };
        let done = compact(&location, settings, now).await.unwrap();
        assert_eq!(
            (done.partitions, done.files_in, done.files_out, done.rows),
            (1, 3, 1, 300)
        );
        let merged = rows_per_file(&day);
        assert_eq!(merged.len(), 1);
        assert!(merged[0].0.contains(MERGED_MARK), "{merged:?}");
        assert_eq!(merged[0].1, 300);

        // As if the run had stopped before its deletes.
        for (name, _) in &before {
            std::fs::copy(aside.path().join(name), day.join(name)).unwrap();
        }
        let done = compact(&location, settings, now).await.unwrap();
        assert_eq!((done.leftovers, done.files_in), (3, 0));
        assert_eq!(rows_per_file(&day), merged);

        let other = dir.path().join("archive/date=2026-11-02");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("part-bad.parquet"), b"not parquet").unwrap();
        std::fs::copy(day.join(&merged[0].0), other.join("part-good.parquet")).unwrap();
        for (name, _) in &before {
            std::fs::copy(aside.path().join(name), day.join(name)).unwrap();
        }
        std::fs::remove_file(day.join(&merged[0].0)).unwrap();
        let done = compact(&location, settings, now).await.unwrap();
        assert_eq!((done.partitions, done.files_in), (1, 3));
        assert_eq!(done.refused.len(), 1, "{:?}", done.refused);
        assert!(
            done.refused[0].contains("part-bad.parquet"),
            "{:?}",
            done.refused
        );
        assert_eq!(
            std::fs::read_dir(&other).unwrap().count(),
            2,
            "left as it was"
        );
    }
}
