//! The read-only SQL session a query runs in: the archive's tables for the asked
//! window (only the date partitions it overlaps are listed), the grants in force,
//! and the rule functions.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};

use super::error::QueryError;
use super::report::Report;
use crate::archive::{ArchiveLocation, Table};
use crate::grants::{GrantSet, GrantTables};
use crate::rules::{Clock, register_functions};
use crate::time::{parse_duration, parse_time};

/// The window of history a query sees: `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Earliest event time.
    pub since: DateTime<Utc>,
    /// End of the window; also what `now()` answers, so a report is reproducible.
    pub until: DateTime<Utc>,
}

impl TimeRange {
    /// Reads `--since` and `--until`: an RFC 3339 time, a date, or (for `--since`) a
    /// duration back from `until` such as `90d`. Without `--since` the window starts
    /// at the beginning of the archive; without `--until` it ends `now`.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let until = match until {
            Some(text) => parse_time(text).map_err(|e| format!("--until: {e}"))?,
            None => now,
        };
        let since = match since {
            None => DateTime::<Utc>::UNIX_EPOCH,
            Some(text) => match parse_time(text) {
                Ok(t) => t,
                Err(_) => {
                    let back = parse_duration(text).map_err(|e| {
                        format!("--since: `{text}` is neither a time, a date nor a duration ({e})")
                    })?;
                    chrono::Duration::from_std(back)
                        .ok()
                        .and_then(|d| until.checked_sub_signed(d))
                        .unwrap_or(DateTime::<Utc>::MIN_UTC)
                }
            },
        };
        if since >= until {
            return Err(format!("--since ({since}) is not before --until ({until})"));
        }
        Ok(Self { since, until })
    }

    fn literal(t: DateTime<Utc>) -> ScalarValue {
        ScalarValue::TimestampMillisecond(Some(t.timestamp_millis()), Some("UTC".into()))
    }
}

/// A session over the archive and the grants.
pub struct QuerySession {
    ctx: SessionContext,
    range: TimeRange,
}

impl QuerySession {
    /// Registers `actions` and `alerts` (limited to `range`), `grant_versions` (all of
    /// them: a change is judged against the version before it), and the grant tables.
    /// Without an archive the archive tables are empty.
    pub async fn open(
        archive: Option<&ArchiveLocation>,
        grants: &GrantSet,
        range: TimeRange,
    ) -> Result<Self, QueryError> {
        let mut config = SessionConfig::new().with_information_schema(true);
        // Late materialization: a report filtering on one column (actor IS NOT NULL)
        // decodes the others only for the rows that pass.
        config.options_mut().execution.parquet.pushdown_filters = true;
        // No statistics gathered while planning. Reading every file's footer for them
        // was most of a light report's planning time, and with them the planner built
        // the pattern-matching joins on the history's side, which then ran on one core:
        // those reports took about twice as long (BENCHMARKS.md). Row groups are still
        // pruned by their ranges when scanned.
        config.options_mut().execution.collect_statistics = false;
        // Without statistics joins are partitioned, and DataFusion's hash join then
        // waits forever for the runtime filter of a partition whose build side is
        // empty (the console's drift query over a two-event archive hung). The
        // reports are no slower without that filter.
        config
            .options_mut()
            .optimizer
            .enable_join_dynamic_filter_pushdown = false;
        let ctx = SessionContext::new_with_config(config);
        let clock = Clock::default();
        clock.set(range.until.timestamp_millis());
        register_functions(&ctx, &clock);
        let tables =
            GrantTables::build(grants).map_err(datafusion::error::DataFusionError::from)?;
        for (name, batch) in [
            ("grants", tables.grants),
            ("grant_credentials", tables.grant_credentials),
            ("grant_scopes", tables.grant_scopes),
        ] {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            ctx.register_table(name, Arc::new(table))?;
        }
        if let Some(location) = archive {
            ctx.register_object_store(location.url(), location.store());
        }
        let session = Self { ctx, range };
        session
            .register(archive, "actions", Table::Actions, Some("ts"))
            .await?;
        session
            .register(archive, "alerts", Table::Alerts, Some("first_seen"))
            .await?;
        session
            .register(archive, "grant_versions", Table::Grants, None)
            .await?;
        Ok(session)
    }

    /// The session, for callers that plan their own SQL over the same tables.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    async fn register(
        &self,
        archive: Option<&ArchiveLocation>,
        name: &str,
        table: Table,
        time_column: Option<&str>,
    ) -> Result<(), QueryError> {
        let schema = table.schema();
        let dates = match archive {
            Some(location) => location.dates(table).await?,
            None => Vec::new(),
        };
        let Some(location) = archive.filter(|_| !dates.is_empty()) else {
            let empty = MemTable::try_new(Arc::clone(&schema), vec![vec![]])?;
            self.ctx.register_table(name, Arc::new(empty))?;
            return Ok(());
        };
        let Some(column) = time_column else {
            let all = self.listing(location, table, &dates, &schema)?;
            self.ctx.register_table(name, all)?;
            return Ok(());
        };
        // A partition holds one UTC day: list only the days the window overlaps, and
        // filter rows only on the days it cuts (a window of whole days filters none).
        let (since, until) = (self.range.since, self.range.until);
        let day = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        let (mut whole, mut cut) = (Vec::new(), Vec::new());
        for date in dates {
            let (start, end) = (day(date), day(date) + chrono::Duration::days(1));
            if end <= since || start >= until {
                continue;
            }
            if since <= start && end <= until {
                whole.push(date);
            } else {
                cut.push(date);
            }
        }
        let mut frame = None;
        if !whole.is_empty() {
            frame = Some(
                self.ctx
                    .read_table(self.listing(location, table, &whole, &schema)?)?,
            );
        }
        if !cut.is_empty() {
            let window = col(column)
                .gt_eq(lit(TimeRange::literal(since)))
                .and(col(column).lt(lit(TimeRange::literal(until))));
            let part = self
                .ctx
                .read_table(self.listing(location, table, &cut, &schema)?)?
                .filter(window)?;
            frame = Some(match frame {
                Some(whole) => whole.union(part)?,
                None => part,
            });
        }
        match frame {
            Some(frame) => self.ctx.register_table(name, frame.into_view())?,
            None => {
                let empty = MemTable::try_new(Arc::clone(&schema), vec![vec![]])?;
                self.ctx.register_table(name, Arc::new(empty))?
            }
        };
        Ok(())
    }

    /// One table over the given day partitions.
    fn listing(
        &self,
        location: &ArchiveLocation,
        table: Table,
        dates: &[chrono::NaiveDate],
        schema: &SchemaRef,
    ) -> Result<Arc<ListingTable>, QueryError> {
        let urls = dates
            .iter()
            .map(|&date| ListingTableUrl::parse(location.partition_url(table, date)))
            .collect::<Result<Vec<_>, _>>()?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(Arc::clone(schema));
        Ok(Arc::new(ListingTable::try_new(config)?))
    }

    /// Runs a report with `params` (`--param k=v`, as strings) bound to its `$names`,
    /// `$since` and `$until` to the window.
    pub async fn run(
        &self,
        report: &Report,
        params: &BTreeMap<String, String>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let bound = report.bind(params)?;
        let mut values: Vec<(String, ScalarValue)> = bound
            .into_iter()
            .map(|(k, v)| (k, ScalarValue::Utf8(Some(v))))
            .collect();
        values.push(("since".into(), TimeRange::literal(self.range.since)));
        values.push(("until".into(), TimeRange::literal(self.range.until)));
        let sql_error = |source| QueryError::Sql {
            file: report.source.clone(),
            source,
        };
        let frame = self
            .ctx
            .sql(&report.sql)
            .await
            .and_then(|f| f.with_param_values(values))
            .map_err(sql_error)?;
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await.map_err(sql_error)?;
        Ok((schema, batches))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;

    #[test]
    fn windows_from_times_dates_and_durations() {
        let now = parse_time("2026-11-29T12:00:00Z").unwrap();
        let r = TimeRange::parse(Some("90d"), None, now).unwrap();
        assert_eq!(r.until, now);
        assert_eq!(r.since, parse_time("2026-08-31T12:00:00Z").unwrap());
        let r = TimeRange::parse(Some("2026-11-01"), Some("2026-11-02"), now).unwrap();
        assert_eq!(r.since, parse_time("2026-11-01T00:00:00Z").unwrap());
        assert_eq!(
            TimeRange::parse(None, None, now).unwrap().since,
            DateTime::<Utc>::UNIX_EPOCH
        );
        let err = TimeRange::parse(Some("soon"), None, now).unwrap_err();
        assert!(err.starts_with("--since: `soon`"), "{err}");
        assert!(TimeRange::parse(Some("2026-12-01"), None, now).is_err());
    }

    /// Every canned report plans and runs over the archive's schemas (here empty), with
    /// its default parameters.
    #[tokio::test]
    async fn every_canned_report_runs_on_an_empty_archive() {
        let range = TimeRange::parse(Some("30d"), None, chrono::Utc::now()).unwrap();
        let session = QuerySession::open(None, &GrantSet::default(), range)
            .await
            .unwrap();
        for report in super::super::load_reports(&[]).unwrap() {
            let (schema, batches) = session
                .run(&report, &BTreeMap::new())
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", report.name));
            assert!(schema.fields().len() >= 3, "{}", report.name);
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
        }
    }

    fn actions(times: &[&str]) -> RecordBatch {
        crate::decode::native_batch(
            times
                .iter()
                .map(|ts| format!(r#"{{"ts":"{ts}","credential_id":"c","action":"GET /x"}}"#)),
        )
    }

    async fn count(
        location: &ArchiveLocation,
        since: &str,
        until: &str,
    ) -> Result<i64, QueryError> {
        let now = chrono::Utc::now();
        let range = TimeRange::parse(Some(since), Some(until), now).unwrap();
        let session = QuerySession::open(Some(location), &GrantSet::default(), range).await?;
        let report = Report::parse(
            "SELECT count(*) AS n FROM actions",
            std::path::Path::new("n.sql"),
        )?;
        let (_, batches) = session.run(&report, &BTreeMap::new()).await?;
        let n = batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        Ok(n.value(0))
    }

    /// A join over a history too small to fill both partitions completes: with
    /// DataFusion's join runtime filters on, the console's drift query over two
    /// events waited forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn joins_over_a_history_smaller_than_the_partitions_finish() {
        let dir = tempfile::tempdir().unwrap();
        let location = ArchiveLocation::parse("archive", dir.path()).unwrap();
        let mut archive = crate::archive::Archive::start(
            location.clone(),
            crate::archive::ArchiveSettings::default(),
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let batch = actions(&["2026-11-01T10:00:00Z", "2026-11-01T10:00:01Z"]);
        archive.append_actions(batch).await.unwrap();
        archive.flush().await.unwrap();
        let grants = crate::grants::parse_str(
            "- id: g\n  partner: p\n  owner: o@bank.example\n  purpose: reads\n  \
             credentials: [c]\n  scopes:\n    - action: \"GET /y\"\n",
            std::path::Path::new("g.yaml"),
            std::time::Duration::from_secs(86_400),
        )
        .unwrap();
        let range = TimeRange::parse(Some("2026-11-01"), Some("2026-11-02"), Utc::now()).unwrap();
        let session = QuerySession::open(Some(&location), &grants, range)
            .await
            .unwrap();
        let report = Report::parse(
            "WITH pairs AS (SELECT credential_id, action, count(*) AS n FROM actions
                            GROUP BY credential_id, action),
             matched AS (SELECT DISTINCT p.credential_id, p.action FROM pairs p
                         JOIN grant_credentials gc ON gc.credential_id = p.credential_id
                         JOIN grant_scopes s ON s.grant_id = gc.grant_id
                         WHERE action_matches(s.action, p.action))
             SELECT gc.grant_id, sum(p.n) AS n, count(m.action) AS matched FROM pairs p
             JOIN grant_credentials gc ON gc.credential_id = p.credential_id
             LEFT JOIN matched m ON m.credential_id = p.credential_id AND m.action = p.action
             GROUP BY gc.grant_id",
            std::path::Path::new("drift.sql"),
        )
        .unwrap();
        let params = BTreeMap::new();
        let run = session.run(&report, &params);
        let (_, batches) = tokio::time::timeout(std::time::Duration::from_secs(20), run)
            .await
            .expect("the join finished")
            .unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    }

    /// Events written across days come back per window, and a window reads only the
    /// days it overlaps: a corrupt file on another day does not break it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn archive_round_trip_reads_only_the_days_asked() {
        let dir = tempfile::tempdir().unwrap();
        let location = ArchiveLocation::parse("archive", dir.path()).unwrap();
        let settings = crate::archive::ArchiveSettings::default();
        let mut archive = crate::archive::Archive::start(
            location.clone(),
            settings,
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let batch = actions(&[
            "2026-11-01T10:00:00Z",
            "2026-11-02T23:59:59.999Z",
            "2026-11-03T00:00:00Z",
            "2026-11-03T12:00:00Z",
        ]);
        archive.append_actions(batch).await.unwrap();
        let flushed = archive.flush().await.unwrap();
        assert_eq!((flushed.files, flushed.rows), (3, 4));
        assert!(archive.is_empty());
        let dates: Vec<String> = location
            .dates(Table::Actions)
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(dates, ["2026-11-01", "2026-11-02", "2026-11-03"]);

        assert_eq!(
            count(&location, "2026-11-01", "2026-11-04").await.unwrap(),
            4
        );
        assert_eq!(
            count(&location, "2026-11-02", "2026-11-03").await.unwrap(),
            1
        );
        assert_eq!(
            count(&location, "2026-11-03T06:00:00Z", "2026-11-04")
                .await
                .unwrap(),
            1
        );
        std::fs::write(
            dir.path().join("archive/date=2026-11-01/part-bad.parquet"),
            b"not parquet",
        )
        .unwrap();
        assert_eq!(
            count(&location, "2026-11-02", "2026-11-04").await.unwrap(),
            3
        );
        assert!(count(&location, "2026-11-01", "2026-11-04").await.is_err());
    }
}
