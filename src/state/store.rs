//! The in-memory state: activity per (grant, credential) and scheduled findings in
//! force. Fed by local batches and by the state topic (other instances, or this one
//! before a restart); merging is idempotent, so a record seen twice changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int64Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use super::ledger::AlertLedger;
use super::record::{
    ActivityRecord, FindingRecord, StateRecord, parse_alert_key, parse_finding_key,
};
use crate::decode::schema::{string_list_type, timestamp_type};
use crate::rules::BatchActivity;

/// What is known of one grant's use, over all its credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantUse {
    /// Latest event time (epoch ms), if ever used.
    pub last_seen_ms: Option<i64>,
    /// Actions taken.
    pub actions_total: u64,
    /// Of those, flagged by a rule above info.
    pub out_of_purpose_total: u64,
    /// Action patterns of the scopes used.
    pub scopes_used: BTreeSet<String>,
}

/// One credential's activity under a grant, and whether it changed since it was
/// last taken for writing.
#[derive(Debug)]
struct Tracked {
    record: ActivityRecord,
    dirty: bool,
}

/// Activity (grant → credential → record) and findings, as in the state topic.
/// Nested maps so that a batch looks keys up by `&str` without allocating.
#[derive(Debug, Default)]
pub struct StateStore {
    activity: HashMap<String, HashMap<String, Tracked>>,
    findings: HashMap<(String, String), String>,
    /// Alerts in their dedup window.
    pub alerts: AlertLedger,
}

/// Schema of the `grant_activity` table scheduled rules see (DESIGN §6).
pub fn grant_activity_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("grant_id", DataType::Utf8, false),
        Field::new("last_seen", timestamp_type(), true),
        Field::new("actions_total", DataType::Int64, false),
        Field::new("out_of_purpose_total", DataType::Int64, false),
        Field::new("scopes_used", string_list_type(), false),
    ]))
}

impl StateStore {
    /// Merges a record read from the state topic; `None` is a tombstone for `key`.
    pub fn merge(&mut self, key: &str, record: Option<StateRecord>) {
        match record {
            Some(StateRecord::Activity(a)) => {
                let credentials = self.activity.entry(a.grant_id.clone()).or_default();
                match credentials.get_mut(&a.credential_id) {
                    Some(current) if !a.supersedes(&current.record) => {}
                    Some(current) => current.record = a,
                    None => {
                        let credential = a.credential_id.clone();
                        credentials.insert(
                            credential,
                            Tracked {
                                record: a,
                                dirty: false,
                            },
                        );
                    }
                }
            }
            Some(StateRecord::Finding(f)) => {
                self.findings.insert((f.rule, f.grant_id), f.condition);
            }
            Some(StateRecord::Alert(a)) => {
                self.alerts.merge(*a, chrono::Utc::now().timestamp_millis());
            }
            None => {
                if let Some((rule, grant)) = parse_finding_key(key) {
                    self.findings.remove(&(rule.to_owned(), grant.to_owned()));
                } else if let Some(alert_id) = parse_alert_key(key) {
                    self.alerts.forget(alert_id);
                }
            }
        }
    }

    /// Adds a batch's activity; what changed is written by [`StateStore::take_changes`].
    pub fn record_batch(&mut self, batch: &BatchActivity) {
        for a in &batch.grants {
            let credentials = match self.activity.get_mut(a.grant_id.as_str()) {
                Some(credentials) => credentials,
                None => self.activity.entry(a.grant_id.clone()).or_default(),
            };
            let tracked = match credentials.get_mut(a.credential_id.as_str()) {
                Some(tracked) => tracked,
                None => credentials
                    .entry(a.credential_id.clone())
                    .or_insert_with(|| Tracked {
                        record: ActivityRecord {
                            grant_id: a.grant_id.clone(),
                            credential_id: a.credential_id.clone(),
                            last_seen_ms: i64::MIN,
                            actions_total: 0,
                            out_of_purpose_total: 0,
                            scopes_used: Vec::new(),
                        },
                        dirty: true,
                    }),
            };
            let record = &mut tracked.record;
            record.last_seen_ms = record.last_seen_ms.max(a.last_seen_ms);
            record.actions_total += a.actions;
            record.out_of_purpose_total += a.flagged;
            for scope in &a.scopes_used {
                if let Err(at) = record.scopes_used.binary_search(scope) {
                    record.scopes_used.insert(at, scope.clone());
                }
            }
            tracked.dirty = true;
        }
    }

    /// The activity and alert records changed since the last call, to persist
    /// (`None`: a tombstone for the key).
    pub fn take_changes(&mut self) -> Vec<(String, Option<StateRecord>)> {
        let mut changed = self.alerts.take_changes();
        for tracked in self.activity.values_mut().flat_map(HashMap::values_mut) {
            if std::mem::take(&mut tracked.dirty) {
                let record = StateRecord::Activity(tracked.record.clone());
                changed.push((record.key(), Some(record)));
            }
        }
        changed
    }

    /// Use per grant, over all its credentials.
    pub fn grant_use(&self) -> BTreeMap<&str, GrantUse> {
        let mut uses: BTreeMap<&str, GrantUse> = BTreeMap::new();
        for a in self
            .activity
            .values()
            .flat_map(HashMap::values)
            .map(|t| &t.record)
        {
            let u = uses.entry(a.grant_id.as_str()).or_default();
            u.last_seen_ms = u.last_seen_ms.max(Some(a.last_seen_ms));
            u.actions_total += a.actions_total;
            u.out_of_purpose_total += a.out_of_purpose_total;
            u.scopes_used.extend(a.scopes_used.iter().cloned());
        }
        uses
    }

    /// The `grant_activity` table.
    pub fn grant_activity(&self) -> Result<RecordBatch, ArrowError> {
        let uses = self.grant_use();
        let mut grant = StringBuilder::new();
        let mut last_seen = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut actions = Int64Builder::new();
        let mut flagged = Int64Builder::new();
        let mut scopes = ListBuilder::new(StringBuilder::new());
        for (id, u) in &uses {
            grant.append_value(id);
            last_seen.append_option(u.last_seen_ms);
            actions.append_value(i64::try_from(u.actions_total).unwrap_or(i64::MAX));
            flagged.append_value(i64::try_from(u.out_of_purpose_total).unwrap_or(i64::MAX));
            for s in &u.scopes_used {
                scopes.values().append_value(s);
            }
            scopes.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(grant.finish()),
            Arc::new(last_seen.finish()),
            Arc::new(actions.finish()),
            Arc::new(flagged.finish()),
            Arc::new(scopes.finish()),
        ];
        RecordBatch::try_new(grant_activity_schema(), columns)
    }

    /// The condition a finding fired for, if it is in force.
    pub fn finding(&self, rule: &str, grant_id: &str) -> Option<&str> {
        self.findings
            .get(&(rule.to_owned(), grant_id.to_owned()))
            .map(String::as_str)
    }

    /// Grants with `rule` in force.
    pub fn findings_of<'a>(&'a self, rule: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.findings
            .keys()
            .filter(move |(r, _)| r == rule)
            .map(|(_, g)| g.as_str())
    }

    /// Records that `rule` fired for `grant_id` on `condition`; returns the record.
    pub fn set_finding(&mut self, rule: &str, grant_id: &str, condition: &str) -> StateRecord {
        self.findings
            .insert((rule.to_owned(), grant_id.to_owned()), condition.to_owned());
        StateRecord::Finding(FindingRecord {
            rule: rule.to_owned(),
            grant_id: grant_id.to_owned(),
            condition: condition.to_owned(),
        })
    }

    /// Clears a finding whose condition no longer holds.
    pub fn clear_finding(&mut self, rule: &str, grant_id: &str) {
        self.findings
            .remove(&(rule.to_owned(), grant_id.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::GrantActivity;
    use crate::state::record::finding_key;

    fn batch(credential: &str, actions: u64, last: i64) -> BatchActivity {
        BatchActivity {
            grants: vec![GrantActivity {
                grant_id: "g".into(),
                credential_id: credential.into(),
                actions,
                flagged: 1,
                last_seen_ms: last,
                scopes_used: ["GET /x".to_owned()].into(),
            }],
            unbound: 0,
        }
    }

    #[test]
    fn activity_accumulates_and_merging_is_idempotent() {
        let mut local = StateStore::default();
        local.record_batch(&batch("c1", 2, 100));
        local.record_batch(&batch("c1", 3, 50));
        let changed: Vec<StateRecord> = local
            .take_changes()
            .into_iter()
            .filter_map(|(_, r)| r)
            .collect();
        assert_eq!(changed.len(), 1);
        assert!(local.take_changes().is_empty(), "taken once");
        let mut remote = StateStore::default();
        for record in changed.iter().chain(&changed) {
            remote.merge(&record.key(), Some(record.clone()));
        }
        // An older write arriving late does not roll the state back.
        remote.merge(
            "k",
            Some(StateRecord::Activity(ActivityRecord {
                grant_id: "g".into(),
                credential_id: "c1".into(),
                last_seen_ms: 10,
                actions_total: 1,
                out_of_purpose_total: 0,
                scopes_used: Vec::new(),
            })),
        );
        remote.record_batch(&batch("c2", 1, 300));
        let uses = remote.grant_use();
        let g = &uses["g"];
        assert_eq!(
            (g.last_seen_ms, g.actions_total, g.out_of_purpose_total),
            (Some(300), 6, 3)
        );
        assert_eq!(remote.grant_activity().expect("table").num_rows(), 1);
    }

    #[test]
    fn findings_set_and_clear_through_tombstones() {
        let mut store = StateStore::default();
        let record = store.set_finding("idle_grant", "g", "since-1");
        let mut other = StateStore::default();
        other.merge(&record.key(), Some(record));
        assert_eq!(other.finding("idle_grant", "g"), Some("since-1"));
        other.merge(&finding_key("idle_grant", "g"), None);
        assert_eq!(other.finding("idle_grant", "g"), None);
    }
}
