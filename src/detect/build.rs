//! Turns rule rows into alerts: one per rule, group key and session, a session
//! being a run of events each within `alerts.dedup_window` of the one before, by
//! event time, so that an ongoing misuse stays one alert however long it lasts. An
//! `action` in a group key is its route template (`DELETE /v1/accounts/{id}`), so
//! one misuse over many ids is one alert.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;
use hashbrown::HashTable;

use crate::alerts::{Alert, Grouping, MAX_EVENT_IDS, MAX_SAMPLE_ACTIONS, alert_id};
use crate::columns::{find, rows_by_key};
use crate::grants::GrantSet;
use crate::rules::{Rule, RuleHits};

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

/// The rows of one rule's hits, with the columns alerts read as strings.
struct Chunk {
    grant_ids: Option<StringArray>,
    credentials: StringArray,
    reasons: StringArray,
}

/// One hit on one event.
#[derive(Clone, Copy)]
struct Member {
    ts: i64,
    /// The event's batch row.
    event_row: usize,
    /// The hit's chunk and row there.
    chunk: usize,
    row: usize,
}

/// The hits of one rule with one group key.
struct Group {
    rule: Arc<Rule>,
    key: Vec<String>,
    members: Vec<Member>,
    /// The batch row of its first event to arrive.
    first_row: usize,
}

/// Builds the alerts for one batch: one per rule, group key and session, a session
/// being events each within `grouping.window_ms` of the one before (by event time).
/// Each alert's id is that of its session's first event here; the ledger gives it the
/// id of the session it continues, if an earlier batch began it.
pub fn build_alerts(
    hits: &[RuleHits],
    batch: &RecordBatch,
    grants: &GrantSet,
    grouping: &Grouping,
    detected_at: DateTime<Utc>,
) -> Result<Vec<Alert>, ArrowError> {
    if hits.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = Events::new(batch)?;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(String, Vec<String>), usize> = HashMap::new();
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
            let chunk = chunks.len();
            for row in 0..rows.num_rows() {
                let event_id = value(&event_ids, row).unwrap_or_default();
                let Some(event_row) = events.row_of(event_id) else {
                    continue;
                };
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
                let slot = (rule.name.clone(), key);
                let position = match index.get(&slot) {
                    Some(&i) => i,
                    None => {
                        groups.push(Group {
                            rule: rule.clone(),
                            key: slot.1.clone(),
                            members: Vec::new(),
                            first_row: event_row,
                        });
                        index.insert(slot, groups.len() - 1);
                        groups.len() - 1
                    }
                };
                let group = &mut groups[position];
                group.first_row = group.first_row.min(event_row);
                group.members.push(Member {
                    ts: events.ts[event_row],
                    event_row,
                    chunk,
                    row,
                });
            }
            chunks.push(Chunk {
                grant_ids,
                credentials,
                reasons,
            });
        }
    }
    groups.sort_by_key(|g| g.first_row);
    let detected_at = detected_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut alerts = Vec::new();
    for mut group in groups {
        group.members.sort_by_key(|m| (m.ts, m.event_row));
        let group_id = alert_id(&group.rule.name, &group.key, "");
        let mut rest = group.members.as_slice();
        while !rest.is_empty() {
            // A session ends where the next event is more than a window after it.
            let end = rest
                .windows(2)
                .position(|pair| pair[1].ts - pair[0].ts > grouping.window_ms)
                .map_or(rest.len(), |i| i + 1);
            let (session, later) = rest.split_at(end);
            let mut alert = Alert {
                alert_id: alert_id(&group.rule.name, &group.key, &rfc3339(session[0].ts)),
                group: group_id.clone(),
                rule: group.rule.name.clone(),
                severity: group.rule.severity.as_str().to_owned(),
                summary: group.rule.summary.clone(),
                frameworks: group.rule.frameworks.clone(),
                detected_at: detected_at.clone(),
                first_seen: rfc3339(session[0].ts),
                last_seen: rfc3339(session[session.len() - 1].ts),
                ..Alert::default()
            };
            describe(&mut alert, session, &chunks, &mut events, grants, grouping)?;
            alerts.push(alert);
            rest = later;
        }
    }
    Ok(alerts)
}

/// Fills in what a session's alert says: its earliest-arriving event describes it
/// (then a batch split anywhere describes it the same), and its events are listed in
/// arrival order, each once.
fn describe(
    alert: &mut Alert,
    session: &[Member],
    chunks: &[Chunk],
    events: &mut Events,
    grants: &GrantSet,
    grouping: &Grouping,
) -> Result<(), ArrowError> {
    let Some(first) = session.iter().min_by_key(|m| m.event_row) else {
        return Ok(());
    };
    let chunk = &chunks[first.chunk];
    alert.grant_id = chunk
        .grant_ids
        .as_ref()
        .and_then(|g| value(g, first.row))
        .map(str::to_owned);
    let grant = alert.grant_id.as_deref().and_then(|id| grants.get(id));
    let claimed_partner = events
        .column("partner")?
        .and_then(|c| value(c, first.event_row))
        .map(str::to_owned);
    alert.partner = grant.map(|g| g.partner.to_string()).or(claimed_partner);
    alert.owner = grant.and_then(|g| g.owner.as_deref().map(str::to_owned));
    alert.purpose = grant.map(|g| g.purpose.to_string());
    alert.reason = value(&chunk.reasons, first.row)
        .unwrap_or_default()
        .to_owned();
    alert.credential_id = value(&chunk.credentials, first.row)
        .unwrap_or_default()
        .to_owned();
    let mut rows: Vec<usize> = session.iter().map(|m| m.event_row).collect();
    rows.sort_unstable();
    rows.dedup();
    alert.count = rows.len() as u64;
    alert.event_ids = rows
        .iter()
        .take(MAX_EVENT_IDS)
        .map(|&row| events.ids.value(row).to_owned())
        .collect();
    if let Some(actions) = events.column("action")? {
        alert.action =
            value(actions, first.event_row).map(|a| grouping.routes.template(a).into_owned());
        for &row in &rows {
            if alert.sample_actions.len() == MAX_SAMPLE_ACTIONS {
                break;
            }
            if let Some(action) = value(actions, row)
                && !alert.sample_actions.iter().any(|a| a == action)
            {
                alert.sample_actions.push(action.to_owned());
            }
        }
    }
    Ok(())
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
    fn groups_by_key_within_sessions_of_event_time() {
        let batch = events(&[
            r#"{"event_id":"a","ts":"2026-11-30T09:05:00Z","credential_id":"c","action":"GET /x"}"#,
            r#"{"event_id":"b","ts":"2026-11-30T09:55:00Z","credential_id":"c","action":"GET /x"}"#,
            r#"{"event_id":"c","ts":"2026-11-30T10:01:00Z","credential_id":"c","action":"GET /x"}"#,
            r#"{"event_id":"d","ts":"2026-11-30T09:30:00Z","credential_id":"c","action":"GET /y"}"#,
            r#"{"event_id":"e","ts":"2026-11-30T11:30:00Z","credential_id":"c","action":"GET /x"}"#,
        ]);
        let alerts = build_alerts(
            &hits(&["a", "b", "c", "d", "e"]),
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
        // a, b and c each come within the hour of the one before, across the hour
        // boundary; e comes after a longer pause.
        assert_eq!(
            summary,
            [
                (
                    3,
                    vec!["a".into(), "b".into(), "c".into()],
                    "2026-11-30T09:05:00.000Z".into(),
                    "2026-11-30T10:01:00.000Z".into()
                ),
                (
                    1,
                    vec!["e".into()],
                    "2026-11-30T11:30:00.000Z".into(),
                    "2026-11-30T11:30:00.000Z".into()
                ),
                (
                    1,
                    vec!["d".into()],
                    "2026-11-30T09:30:00.000Z".into(),
                    "2026-11-30T09:30:00.000Z".into()
                ),
            ]
        );
        // A session's id is its first event's: a batch of a alone gives the same id.
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
            "a pause longer than the window is a new alert"
        );
        assert_eq!(alerts[0].group, alerts[1].group, "of the same misuse");
        assert_ne!(
            alerts[0].group, alerts[2].group,
            "a new key is a new misuse"
        );
    }
}
