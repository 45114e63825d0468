//! The grant set as the Arrow tables rules query: `grants`, `grant_credentials`,
//! `grant_scopes` (DESIGN §6). Built once per load, shared by every batch.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use super::load::GrantSet;
use super::model::{Grant, Scope};
use crate::decode::schema::{finish_utc, string_list_type, timestamp_type};

/// The three grant tables.
#[derive(Debug, Clone)]
pub struct GrantTables {
    /// One row per grant.
    pub grants: RecordBatch,
    /// credential_id → grant_id.
    pub grant_credentials: RecordBatch,
    /// One row per scope and emergency scope.
    pub grant_scopes: RecordBatch,
}

fn ts_field(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// Schema of `grants`.
pub fn grants_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("grant_id", false),
        utf8("partner", false),
        utf8("owner", true),
        utf8("approved_by", true),
        ts_field("approved_at"),
        utf8("purpose", false),
        ts_field("valid_from"),
        ts_field("expires_at"),
        Field::new("idle_after_seconds", DataType::Int64, false),
        Field::new("environments", string_list_type(), false),
        Field::new("delegates", string_list_type(), false),
        utf8("status", false),
        ts_field("emergency_from"),
        ts_field("emergency_until"),
        utf8("emergency_reason", true),
        utf8("emergency_approved_by", true),
        utf8("rate_limit", true),
        Field::new("rate_limit_count", DataType::Int64, true),
        Field::new("rate_window_ms", DataType::Int64, true),
        Field::new("max_daily_amount", DataType::Float64, true),
    ]))
}

/// Schema of `grant_credentials`.
pub fn credentials_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("credential_id", false),
        utf8("grant_id", false),
    ]))
}

/// Schema of `grant_scopes`.
pub fn scopes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        utf8("grant_id", false),
        Field::new("scope_index", DataType::Int32, false),
        utf8("action", false),
        Field::new("data_classes", string_list_type(), true),
        Field::new("max_amount", DataType::Float64, true),
        Field::new("currencies", string_list_type(), true),
        Field::new("is_emergency", DataType::Boolean, false),
        ts_field("emergency_from"),
        ts_field("emergency_until"),
    ]))
}

fn ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_millis())
}

fn append_list(b: &mut ListBuilder<StringBuilder>, values: Option<&[String]>) {
    match values {
        Some(values) => {
            for v in values {
                b.values().append_value(v);
            }
            b.append(true);
        }
        None => b.append(false),
    }
}

impl GrantTables {
    /// Builds the tables for a grant set.
    pub fn build(set: &GrantSet) -> Result<Self, ArrowError> {
        Ok(Self {
            grants: grants_batch(set.grants())?,
            grant_credentials: credentials_batch(set.grants())?,
            grant_scopes: scopes_batch(set.grants())?,
        })
    }
}

fn grants_batch(grants: &[Grant]) -> Result<RecordBatch, ArrowError> {
    let mut id = StringBuilder::new();
    let mut partner = StringBuilder::new();
    let mut owner = StringBuilder::new();
    let mut approved_by = StringBuilder::new();
    let mut approved_at = TimestampMillisecondBuilder::new();
    let mut purpose = StringBuilder::new();
    let mut valid_from = TimestampMillisecondBuilder::new();
    let mut expires_at = TimestampMillisecondBuilder::new();
    let mut idle = Int64Builder::new();
    let mut environments = ListBuilder::new(StringBuilder::new());
    let mut delegates = ListBuilder::new(StringBuilder::new());
    let mut status = StringBuilder::new();
    let mut em_from = TimestampMillisecondBuilder::new();
    let mut em_until = TimestampMillisecondBuilder::new();
    let mut em_reason = StringBuilder::new();
    let mut em_approved_by = StringBuilder::new();
    let mut rate_limit = StringBuilder::new();
    let mut rate_count = Int64Builder::new();
    let mut rate_window = Int64Builder::new();
    let mut max_daily = Float64Builder::new();
    for g in grants {
        id.append_value(&g.id);
        partner.append_value(&g.partner);
        owner.append_option(g.owner.as_deref());
        approved_by.append_option(g.approved_by.as_deref());
        approved_at.append_option(ms(g.approved_at));
        purpose.append_value(&g.purpose);
        valid_from.append_option(ms(g.valid_from));
        expires_at.append_option(ms(g.expires_at));
        idle.append_value(i64::try_from(g.idle_after.as_secs()).unwrap_or(i64::MAX));
        append_list(&mut environments, Some(&g.environments));
        append_list(&mut delegates, Some(&g.delegates));
        status.append_value(g.status.as_str());
        let em = g.emergency.as_ref();
        em_from.append_option(ms(em.and_then(|e| e.from)));
        em_until.append_option(ms(em.and_then(|e| e.until)));
        em_reason.append_option(em.and_then(|e| e.reason.as_deref()));
        em_approved_by.append_option(em.and_then(|e| e.approved_by.as_deref()));
        let rate = g.rate_limit.as_ref();
        rate_limit.append_option(rate.map(ToString::to_string));
        rate_count.append_option(rate.map(|r| i64::try_from(r.count).unwrap_or(i64::MAX)));
        rate_window.append_option(rate.map(|r| r.window_ms()));
        max_daily.append_option(g.max_daily_amount);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(partner.finish()),
        Arc::new(owner.finish()),
        Arc::new(approved_by.finish()),
        finish_utc(&mut approved_at),
        Arc::new(purpose.finish()),
        finish_utc(&mut valid_from),
        finish_utc(&mut expires_at),
        Arc::new(idle.finish()),
        Arc::new(environments.finish()),
        Arc::new(delegates.finish()),
        Arc::new(status.finish()),
        finish_utc(&mut em_from),
        finish_utc(&mut em_until),
        Arc::new(em_reason.finish()),
        Arc::new(em_approved_by.finish()),
        Arc::new(rate_limit.finish()),
        Arc::new(rate_count.finish()),
        Arc::new(rate_window.finish()),
        Arc::new(max_daily.finish()),
    ];
    sized(grants_schema(), columns)
}

fn credentials_batch(grants: &[Grant]) -> Result<RecordBatch, ArrowError> {
    let mut credential = StringBuilder::new();
    let mut grant = StringBuilder::new();
    for g in grants {
        for c in &g.credentials {
            credential.append_value(c);
            grant.append_value(&g.id);
        }
    }
    sized(
        credentials_schema(),
        vec![Arc::new(credential.finish()), Arc::new(grant.finish())],
    )
}

fn scopes_batch(grants: &[Grant]) -> Result<RecordBatch, ArrowError> {
    let mut grant = StringBuilder::new();
    let mut index = Int32Builder::new();
    let mut action = StringBuilder::new();
    let mut classes = ListBuilder::new(StringBuilder::new());
    let mut max_amount = Float64Builder::new();
    let mut currencies = ListBuilder::new(StringBuilder::new());
    let mut is_emergency = BooleanBuilder::new();
    let mut em_from = TimestampMillisecondBuilder::new();
    let mut em_until = TimestampMillisecondBuilder::new();
    for g in grants {
        let normal = g.scopes.iter().map(|s| (s, None));
        let emergency = g
            .emergency
            .iter()
            .flat_map(|e| e.scopes.iter().map(move |s| (s, Some(e))));
        for (i, (scope, em)) in normal.chain(emergency).enumerate() {
            let scope: &Scope = scope;
            grant.append_value(&g.id);
            index.append_value(i32::try_from(i).unwrap_or(i32::MAX));
            action.append_value(scope.action.as_str());
            append_list(&mut classes, scope.data_classes.as_deref());
            max_amount.append_option(scope.max_amount);
            append_list(&mut currencies, scope.currencies.as_deref());
            is_emergency.append_value(em.is_some());
            em_from.append_option(ms(em.and_then(|e| e.from)));
            em_until.append_option(ms(em.and_then(|e| e.until)));
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(grant.finish()),
        Arc::new(index.finish()),
        Arc::new(action.finish()),
        Arc::new(classes.finish()),
        Arc::new(max_amount.finish()),
        Arc::new(currencies.finish()),
        Arc::new(is_emergency.finish()),
        finish_utc(&mut em_from),
        finish_utc(&mut em_until),
    ];
    sized(scopes_schema(), columns)
}

/// A batch of `columns`, each shrunk to its length: builders grow by doubling, and
/// the slack (~30 MB with 100,000 grants) would be held as long as the set.
fn sized(schema: SchemaRef, mut columns: Vec<ArrayRef>) -> Result<RecordBatch, ArrowError> {
    for column in &mut columns {
        Array::shrink_to_fit(column);
    }
    RecordBatch::try_new(schema, columns)
}
