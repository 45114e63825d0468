//! Turns rule rows into alerts: one per (rule, group key, dedup window), where the
//! window is fixed by event time so that live, replay and redelivery agree. An
//! `action` in a group key is its route template (`DELETE /v1/accounts/{id}`), so
//! one misuse over many ids is one alert.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;
use hashbrown::HashTable;

use crate::alerts::{Alert, Grouping, MAX_EVENT_IDS, MAX_SAMPLE_ACTIONS, alert_id};
use crate::columns::{find, rows_by_key};
use crate::grants::GrantSet;
use crate::rules::RuleHits;

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn strings(column: &ArrayRef) -> Result<StringArray, ArrowError> {
    Ok(cast(column, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn value(column: &StringArray, row: usize) -> Option<&str> {
    (!column.is_null(row)).then(|| column.value(row))
}

/// The batch's events by id, with string views of the columns alerts read.
struct Events {
    ids: StringArray,
    /// The first row of each id, keyed by the strings of `ids` themselves (as the
    /// grant index keys its rows): a map of owned ids copied every event id of a
    /// batch to look up the few its hits name.
    by_id: HashTable<u32>,
    ts: Vec<i64>,
    columns: HashMap<String, StringArray>,
    batch: RecordBatch,
}

impl Events {
    fn new(batch: &RecordBatch) -> Result<Self, ArrowError> {
        let ids = strings(
            batch
                .column_by_name("event_id")
                .ok_or_else(|| missing("event_id"))?,
        )?;
        let ts = batch.column_by_name("ts").ok_or_else(|| missing("ts"))?;
        let ts = cast(
            ts,
            &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, None),
        )?;
        let ts = ts
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .to_vec();
        let by_id = rows_by_key(&ids);
        Ok(Self {
            ids,
            by_id,
            ts,
            columns: HashMap::new(),
            batch: batch.clone(),
        })
    }

    /// The row of the event `id`.
    fn row_of(&self, id: &str) -> Option<usize> {
        find(&self.by_id, &self.ids, id).map(|r| r as usize)
    }

    /// An event column as strings, converted on first use.
    fn column(&mut self, name: &str) -> Result<Option<&StringArray>, ArrowError> {
        if !self.columns.contains_key(name) {
            let Some(column) = self.batch.column_by_name(name) else {
                return Ok(None);
            };
            self.columns.insert(name.to_owned(), strings(column)?);
        }
        Ok(self.columns.get(name))
    }
}

fn missing(name: &str) -> ArrowError {
    ArrowError::SchemaError(format!("missing column `{name}`"))
}

struct Group {
    alert: Alert,
    /// The batch row of its earliest event, which describes it.
    first_row: usize,
    /// The batch rows of its events.
    events: Vec<usize>,
    first_ms: i64,
    last_ms: i64,
}

/// Builds the alerts for one batch.
pub fn build_alerts(
    hits: &[RuleHits],
    batch: &RecordBatch,
    grants: &GrantSet,
    grouping: &Grouping,
    detected_at: DateTime<Utc>,
) -> Result<Vec<Alert>, ArrowError> {
    let window_ms = grouping.window_ms;
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = Events::new(batch)?;
    let detected_at = detected_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(String, Vec<String>, i64), usize> = HashMap::new();
    for hit in hits {
        let rule = &hit.rule;
        for rows in &hit.rows {
            let column = |name: &str| rows.column_by_name(name).map(strings).transpose();
            let (grant_ids, credentials, reasons, event_ids) = (
                column("grant_id")?,
                column("credential_id")?,
                column("reason")?,
                column("event_id")?,
            );
            let (Some(credentials), Some(reasons), Some(event_ids)) =
                (credentials, reasons, event_ids)
            else {
                return Err(missing("credential_id, reason or event_id"));
            };
            let rule_keys: Vec<Option<StringArray>> = rule
                .group_by
                .iter()
                .map(|name| column(name))
                .collect::<Result<_, _>>()?;
            for row in 0..rows.num_rows() {
                let event_id = value(&event_ids, row).unwrap_or_default();
                let Some(event_row) = events.row_of(event_id) else {
                    continue;
                };
                let ts = events.ts[event_row];
                let window = ts - ts.rem_euclid(window_ms.max(1));
                let mut key = Vec::with_capacity(rule.group_by.len());
                for (name, own) in rule.group_by.iter().zip(&rule_keys) {
                    let part = match own {
                        Some(own) => value(own, row),
                        None => events.column(name)?.and_then(|c| value(c, event_row)),
                    };
                    let part = part.unwrap_or_default();
                    key.push(match name.as_str() {
                        "action" => grouping.routes.template(part).into_owned(),
                        _ => part.to_owned(),
                    });
                }
                let slot = (rule.name.clone(), key, window);
                let position = match index.get(&slot) {
                    Some(&i) => i,
                    None => {
                        groups.push(Group {
                            alert: Alert {
                                alert_id: alert_id(&rule.name, &slot.1, &rfc3339(window)),
                                rule: rule.name.clone(),
                                severity: rule.severity.as_str().to_owned(),
                                summary: rule.summary.clone(),
                                frameworks: rule.frameworks.clone(),
                                detected_at: detected_at.clone(),
                                ..Alert::default()
                            },
                            first_row: usize::MAX,
                            events: Vec::new(),
                            first_ms: ts,
                            last_ms: ts,
                        });
                        index.insert(slot, groups.len() - 1);
                        groups.len() - 1
                    }
                };
                let group = &mut groups[position];
                // The earliest event describes the alert, whatever order the rule's
                // rows came in: then a batch split anywhere describes it the same.
                if event_row < group.first_row {
                    group.first_row = event_row;
                    let alert = &mut group.alert;
                    alert.grant_id = grant_ids
                        .as_ref()
                        .and_then(|g| value(g, row))
                        .map(str::to_owned);
                    let grant = alert.grant_id.as_deref().and_then(|id| grants.get(id));
                    let claimed_partner = events
                        .column("partner")?
                        .and_then(|c| value(c, event_row))
                        .map(str::to_owned);
                    alert.partner = grant.map(|g| g.partner.to_string()).or(claimed_partner);
                    alert.owner = grant.and_then(|g| g.owner.as_deref().map(str::to_owned));
                    alert.purpose = grant.map(|g| g.purpose.to_string());
                    alert.reason = value(&reasons, row).unwrap_or_default().to_owned();
                    alert.credential_id = value(&credentials, row).unwrap_or_default().to_owned();
                    alert.action = events
                        .column("action")?
                        .and_then(|c| value(c, event_row))
                        .map(|a| grouping.routes.template(a).into_owned());
                }
                group.events.push(event_row);
                group.first_ms = group.first_ms.min(ts);
                group.last_ms = group.last_ms.max(ts);
            }
        }
    }
    groups.sort_by_key(|g| g.first_row);
    let actions = events.column("action")?.cloned();
    Ok(groups
        .into_iter()
        .map(|mut g| {
            // In arrival order, each once, and as many as the ledger keeps.
            g.events.sort_unstable();
            g.events.dedup();
            g.alert.count = g.events.len() as u64;
            g.alert.event_ids = g
                .events
                .iter()
                .take(MAX_EVENT_IDS)
                .map(|&row| events.ids.value(row).to_owned())
                .collect();
            if let Some(actions) = &actions {
                for &row in &g.events {
                    if g.alert.sample_actions.len() == MAX_SAMPLE_ACTIONS {
                        break;
                    }
                    if let Some(action) = value(actions, row)
                        && !g.alert.sample_actions.iter().any(|a| a == action)
                    {
                        g.alert.sample_actions.push(action.to_owned());
                    }
                }
            }
            g.alert.first_seen = rfc3339(g.first_ms);
            g.alert.last_seen = rfc3339(g.last_ms);
            g.alert
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::rules::Rule;

    fn events(lines: &[&str]) -> RecordBatch {
        crate::decode::native_batch(lines)
    }

    fn hits(event_ids: &[&str]) -> Vec<RuleHits> {
        let rule = Rule::parse(
            "-- rule: r\n-- severity: high\n-- summary: s\n-- group_by: grant_id, action\nSELECT 1",
            Path::new("r.sql"),
        )
        .expect("rule");
        let n = event_ids.len();
        let utf8 = |name| Field::new(name, DataType::Utf8, true);
        let schema = Schema::new(vec![
            utf8("grant_id"),
            utf8("credential_id"),
            utf8("reason"),
            utf8("event_id"),
        ]);
        let rows = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![None::<&str>; n])),
                Arc::new(StringArray::from(vec!["c"; n])),
                Arc::new(StringArray::from(vec!["why"; n])),
                Arc::new(StringArray::from(event_ids.to_vec())),
            ],
        )
        .expect("rows");
        vec![RuleHits {
            rule: Arc::new(rule),
            rows: vec![rows],
        }]
    }

    #[test]
    fn groups_by_key_within_the_event_time_window() {
        let batch = events(&[
            r#"{"event_id":"a","ts":"2026-11-30T09:05:00Z","credential_id":"c","action":"GET /x"}"#,
            r#"{"event_id":"b","ts":"2026-11-30T09:55:00Z","credential_id":"c","action":"GET /x"}"#,
            r#"{"event_id":"c","ts":"2026-11-30T10:01:00Z","credential_id":"c","action":"GET /x"}"#,
            r#"{"event_id":"d","ts":"2026-11-30T09:30:00Z","credential_id":"c","action":"GET /y"}"#,
        ]);
        let alerts = build_alerts(
            &hits(&["a", "b", "c", "d"]),
            &batch,
            &GrantSet::default(),
            &Grouping::default(),
            Utc::now(),
        )
        .expect("alerts");
        let summary: Vec<(u64, Vec<String>, String, String)> = alerts
            .iter()
            .map(|a| {
                (
                    a.count,
                    a.event_ids.clone(),
                    a.first_seen.clone(),
                    a.last_seen.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    2,
                    vec!["a".into(), "b".into()],
                    "2026-11-30T09:05:00.000Z".into(),
                    "2026-11-30T09:55:00.000Z".into()
                ),
                (
                    1,
                    vec!["c".into()],
                    "2026-11-30T10:01:00.000Z".into(),
                    "2026-11-30T10:01:00.000Z".into()
                ),
                (
                    1,
                    vec!["d".into()],
                    "2026-11-30T09:30:00.000Z".into(),
                    "2026-11-30T09:30:00.000Z".into()
                ),
            ]
        );
        // The same events split across two batches give the same ids: redelivery-safe.
        let first = build_alerts(
            &hits(&["a"]),
            &batch,
            &GrantSet::default(),
            &Grouping::default(),
            Utc::now(),
        )
        .expect("alerts");
        assert_eq!(first[0].alert_id, alerts[0].alert_id);
        assert_ne!(
            alerts[0].alert_id, alerts[1].alert_id,
            "a new window is a new alert"
        );
        assert_ne!(
            alerts[0].alert_id, alerts[2].alert_id,
            "a new key is a new alert"
        );
    }
}
