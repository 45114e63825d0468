//! The state as the Arrow tables rules query (DESIGN §6, extended): what was known
//! before the batch being judged. `grant_activity` sums each grant's credentials;
//! `credential_activity` is one row per (grant, credential); the two window tables
//! hold the recent counts the grants' `rate_limit` and `max_daily_amount` need.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use super::grant_use::grant_uses;
use super::record::ActivityRecord;
use crate::decode::schema::{finish_utc, string_list_type, timestamp_type};

/// The state tables of one moment, made from (grant, credential) records in which
/// a grant's records are adjacent (as the store yields them).
#[derive(Debug, Clone)]
pub struct StateTables {
    /// Per grant, over its credentials.
    pub grant_activity: RecordBatch,
    /// Per grant and credential.
    pub credential_activity: RecordBatch,
    /// Actions per grant and rate window.
    pub grant_rate_windows: RecordBatch,
    /// Money moved per grant, UTC day and currency.
    pub grant_daily_amounts: RecordBatch,
}

/// Schema of `grant_activity`.
pub fn grant_activity_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grant_id", DataType::Utf8, false),
        Field::new("last_seen", timestamp_type(), true),
        Field::new("first_seen", timestamp_type(), true),
        Field::new("actions_total", DataType::Int64, false),
        Field::new("out_of_purpose_total", DataType::Int64, false),
        Field::new("scopes_used", string_list_type(), false),
    ]))
}

/// Schema of `credential_activity`.
pub fn credential_activity_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grant_id", DataType::Utf8, false),
        Field::new("credential_id", DataType::Utf8, false),
        Field::new("last_seen", timestamp_type(), true),
        Field::new("actions_total", DataType::Int64, false),
        Field::new("environments", string_list_type(), false),
    ]))
}

/// Schema of `grant_rate_windows`.
pub fn rate_windows_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grant_id", DataType::Utf8, false),
        Field::new("window_ms", DataType::Int64, false),
        Field::new("window_start", timestamp_type(), false),
        Field::new("actions", DataType::Int64, false),
    ]))
}

/// Schema of `grant_daily_amounts`.
pub fn daily_amounts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grant_id", DataType::Utf8, false),
        Field::new("day", timestamp_type(), false),
        Field::new("currency", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, false),
    ]))
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl StateTables {
    /// The tables of these (grant, credential) records, each grant's adjacent.
    pub fn build(records: &[&ActivityRecord]) -> Result<Self, ArrowError> {
        Ok(Self {
            grant_activity: grant_activity(records)?,
            credential_activity: credential_activity(records)?,
            grant_rate_windows: rate_windows(records)?,
            grant_daily_amounts: daily_amounts(records)?,
        })
    }
}

/// A string builder sized for `values`. Sized, not grown: a scheduled round builds
/// these for every grant, and builders grown by doubling held up to twice the table
/// at the round's peak.
fn strings<'a>(values: impl Iterator<Item = &'a str>) -> StringBuilder {
    let (count, bytes) = values.fold((0, 0), |(n, b), v| (n + 1, b + v.len()));
    StringBuilder::with_capacity(count, bytes)
}

/// A list builder sized for `lists` of strings, like [`strings`].
fn string_lists<'a, L>(lists: impl Iterator<Item = L> + Clone) -> ListBuilder<StringBuilder>
where
    L: IntoIterator<Item = &'a str>,
{
    let rows = lists.clone().count();
    ListBuilder::with_capacity(strings(lists.flatten()), rows)
}

fn grant_activity(records: &[&ActivityRecord]) -> Result<RecordBatch, ArrowError> {
    let uses = grant_uses(records.iter().copied());
    let rows = uses.len();
    let mut grant = strings(uses.iter().map(|(id, _)| *id));
    let mut last_seen = TimestampMillisecondBuilder::with_capacity(rows);
    let mut first_seen = TimestampMillisecondBuilder::with_capacity(rows);
    let mut actions = Int64Builder::with_capacity(rows);
    let mut flagged = Int64Builder::with_capacity(rows);
    let mut scopes = string_lists(uses.iter().map(|(_, u)| u.scopes_used.iter().copied()));
    for (id, u) in &uses {
        grant.append_value(id);
        last_seen.append_option(u.last_seen_ms);
        first_seen.append_option(u.first_seen_ms);
        actions.append_value(count(u.actions_total));
        flagged.append_value(count(u.out_of_purpose_total));
        for s in &u.scopes_used {
            scopes.values().append_value(s);
        }
        scopes.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(grant.finish()),
        finish_utc(&mut last_seen),
        finish_utc(&mut first_seen),
        Arc::new(actions.finish()),
        Arc::new(flagged.finish()),
        Arc::new(scopes.finish()),
    ];
    RecordBatch::try_new(grant_activity_schema(), columns)
}

fn credential_activity(records: &[&ActivityRecord]) -> Result<RecordBatch, ArrowError> {
    let rows = records.len();
    let mut grant = strings(records.iter().map(|r| r.grant_id.as_str()));
    let mut credential = strings(records.iter().map(|r| r.credential_id.as_str()));
    let mut last_seen = TimestampMillisecondBuilder::with_capacity(rows);
    let mut actions = Int64Builder::with_capacity(rows);
    let mut environments =
        string_lists(records.iter().map(|r| r.environments.iter().map(|e| &**e)));
    for r in records {
        grant.append_value(&r.grant_id);
        credential.append_value(&r.credential_id);
        last_seen.append_option((r.actions_total > 0).then_some(r.last_seen_ms));
        actions.append_value(count(r.actions_total));
        for e in &r.environments {
            environments.values().append_value(e);
        }
        environments.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(grant.finish()),
        Arc::new(credential.finish()),
        finish_utc(&mut last_seen),
        Arc::new(actions.finish()),
        Arc::new(environments.finish()),
    ];
    RecordBatch::try_new(credential_activity_schema(), columns)
}

fn rate_windows(records: &[&ActivityRecord]) -> Result<RecordBatch, ArrowError> {
    let mut sums: BTreeMap<(&str, i64, i64), u64> = BTreeMap::new();
    for r in records {
        for w in &r.rate_windows {
            *sums
                .entry((r.grant_id.as_str(), w.window_ms, w.start_ms))
                .or_default() += w.actions;
        }
    }
    let mut grant = StringBuilder::new();
    let mut window = Int64Builder::new();
    let mut start = TimestampMillisecondBuilder::new();
    let mut actions = Int64Builder::new();
    for ((id, window_ms, start_ms), n) in sums {
        grant.append_value(id);
        window.append_value(window_ms);
        start.append_value(start_ms);
        actions.append_value(count(n));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(grant.finish()),
        Arc::new(window.finish()),
        finish_utc(&mut start),
        Arc::new(actions.finish()),
    ];
    RecordBatch::try_new(rate_windows_schema(), columns)
}

fn daily_amounts(records: &[&ActivityRecord]) -> Result<RecordBatch, ArrowError> {
    let mut sums: BTreeMap<(&str, i64, Option<&str>), f64> = BTreeMap::new();
    for r in records {
        for d in &r.daily_amounts {
            *sums
                .entry((r.grant_id.as_str(), d.day_ms, d.currency.as_deref()))
                .or_default() += d.amount;
        }
    }
    let mut grant = StringBuilder::new();
    let mut day = TimestampMillisecondBuilder::new();
    let mut currency = StringBuilder::new();
    let mut amount = Float64Builder::new();
    for ((id, day_ms, cur), sum) in sums {
        grant.append_value(id);
        day.append_value(day_ms);
        currency.append_option(cur);
        amount.append_value(sum);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(grant.finish()),
        finish_utc(&mut day),
        Arc::new(currency.finish()),
        Arc::new(amount.finish()),
    ];
    RecordBatch::try_new(daily_amounts_schema(), columns)
}
