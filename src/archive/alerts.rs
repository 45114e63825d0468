//! Alerts as an archive table: one row per alert delivered, updates included (same
//! `alert_id`, a larger `count`), so reports take the latest row per id.

use std::sync::{Arc, LazyLock};

use chrono::DateTime;
use datafusion::arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::alerts::Alert;
use crate::decode::schema::{finish_utc, string_list_type, timestamp_type};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let ts = |name: &str| Field::new(name, timestamp_type(), true);
    Arc::new(Schema::new(vec![
        utf8("alert_id", false),
        utf8("rule", false),
        utf8("severity", false),
        utf8("summary", false),
        utf8("reason", false),
        utf8("grant_id", true),
        utf8("partner", true),
        utf8("owner", true),
        utf8("purpose", true),
        utf8("credential_id", false),
        utf8("action", true),
        ts("first_seen"),
        ts("last_seen"),
        Field::new("count", DataType::Int64, false),
        Field::new("event_ids", string_list_type(), false),
        Field::new("frameworks", string_list_type(), false),
        ts("detected_at"),
        // Nullable: archives written before them carry none.
        Field::new("sample_actions", string_list_type(), true),
        Field::new("grant_ids", string_list_type(), true),
    ]))
});

/// The `alerts` table schema (the alert JSON's fields, times as timestamps).
pub fn alerts_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// Epoch ms of an RFC 3339 time the engine wrote (NULL if it is somehow not one).
pub(super) fn epoch_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The alerts as one batch of [`alerts_schema`].
pub fn alerts_batch(alerts: &[Alert]) -> Result<RecordBatch, ArrowError> {
    let n = alerts.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut id, mut rule, mut severity, mut summary, mut reason) =
        (strings(), strings(), strings(), strings(), strings());
    let (mut grant, mut partner, mut owner, mut purpose, mut credential, mut action) = (
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
    );
    let times = || TimestampMillisecondBuilder::with_capacity(n);
    let (mut first, mut last, mut detected) = (times(), times(), times());
    let mut count = Int64Builder::with_capacity(n);
    let lists = || ListBuilder::new(StringBuilder::new());
    let (mut events, mut frameworks, mut samples, mut grant_ids) =
        (lists(), lists(), lists(), lists());
    for a in alerts {
        id.append_value(&a.alert_id);
        rule.append_value(&a.rule);
        severity.append_value(&a.severity);
        summary.append_value(&a.summary);
        reason.append_value(&a.reason);
        grant.append_option(a.grant_id.as_deref());
        partner.append_option(a.partner.as_deref());
        owner.append_option(a.owner.as_deref());
        purpose.append_option(a.purpose.as_deref());
        credential.append_value(&a.credential_id);
        action.append_option(a.action.as_deref());
        first.append_option(epoch_ms(&a.first_seen));
        last.append_option(epoch_ms(&a.last_seen));
        count.append_value(i64::try_from(a.count).unwrap_or(i64::MAX));
        events.append_value(a.event_ids.iter().map(Some));
        frameworks.append_value(a.frameworks.iter().map(Some));
        detected.append_option(epoch_ms(&a.detected_at));
        samples.append_value(a.sample_actions.iter().map(Some));
        grant_ids.append_value(a.grant_ids.iter().map(Some));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(rule.finish()),
        Arc::new(severity.finish()),
        Arc::new(summary.finish()),
        Arc::new(reason.finish()),
        Arc::new(grant.finish()),
        Arc::new(partner.finish()),
        Arc::new(owner.finish()),
        Arc::new(purpose.finish()),
        Arc::new(credential.finish()),
        Arc::new(action.finish()),
        finish_utc(&mut first),
        finish_utc(&mut last),
        Arc::new(count.finish()),
        Arc::new(events.finish()),
        Arc::new(frameworks.finish()),
        finish_utc(&mut detected),
        Arc::new(samples.finish()),
        Arc::new(grant_ids.finish()),
    ];
    RecordBatch::try_new(alerts_schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_become_rows_with_typed_times() {
        let alert = Alert::example();
        let batch = alerts_batch(&[alert.clone(), Alert { count: 3, ..alert }]).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), alerts_schema());
        let pretty = datafusion::arrow::util::pretty::pretty_format_batches(&[batch])
            .unwrap()
            .to_string();
        assert!(pretty.contains("2026-11-30T09:00:00Z"), "{pretty}");
        assert!(pretty.contains("| 3 "), "{pretty}");
    }
}
