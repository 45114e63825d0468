//! Per-batch grant activity for the drift metrics: how many actions each grant's
//! credentials took, when last, and which scopes they used. Two internal queries,
//! planned once like the rules; which actions were flagged comes from the rule hits.

use std::collections::{BTreeSet, HashMap, HashSet};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int32Type, Int64Type, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;

use super::engine::RuleHits;
use super::rule::Severity;

/// Actions per grant (a NULL grant_id row counts actions no grant binds).
pub(super) const ACTIONS_SQL: &str = "\
SELECT gc.grant_id, count(*) AS actions, max(a.ts) AS last_seen
FROM actions a
LEFT JOIN grant_credentials gc ON gc.credential_id = a.credential_id
GROUP BY gc.grant_id";

/// Scopes whose pattern matched an action of the batch.
pub(super) const SCOPES_SQL: &str = "\
SELECT DISTINCT gc.grant_id, s.scope_index
FROM actions a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grant_scopes s ON s.grant_id = gc.grant_id
WHERE action_matches(s.action, a.action)";

/// One grant's activity in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantActivity {
    /// The grant.
    pub grant_id: String,
    /// Actions by its credentials.
    pub actions: u64,
    /// Of those, actions some rule above `info` flagged against this grant.
    pub flagged: u64,
    /// Latest event time (epoch ms).
    pub last_seen_ms: i64,
    /// Indexes (into `grant_scopes.scope_index`) of the scopes used.
    pub scopes_used: BTreeSet<i32>,
}

/// Grant activity of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchActivity {
    /// Per grant, for grants whose credentials acted.
    pub grants: Vec<GrantActivity>,
    /// Actions by credentials no grant binds.
    pub unbound: u64,
}

impl BatchActivity {
    pub(super) fn build(
        actions: &[RecordBatch],
        scopes: &[RecordBatch],
        hits: &[RuleHits],
    ) -> Result<Self, ArrowError> {
        let flagged = flagged_pairs(hits);
        let mut activity = BatchActivity::default();
        let mut index = HashMap::new();
        for batch in actions {
            let ids = batch.column(0).as_string::<i32>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            let last = batch.column(2).as_primitive::<TimestampMillisecondType>();
            for row in 0..batch.num_rows() {
                let actions = u64::try_from(counts.value(row)).unwrap_or_default();
                if ids.is_null(row) {
                    activity.unbound += actions;
                    continue;
                }
                let grant_id = ids.value(row).to_owned();
                index.insert(grant_id.clone(), activity.grants.len());
                activity.grants.push(GrantActivity {
                    flagged: flagged
                        .get(grant_id.as_str())
                        .map_or(0, |events| events.len() as u64),
                    grant_id,
                    actions,
                    last_seen_ms: last.value(row),
                    scopes_used: BTreeSet::new(),
                });
            }
        }
        for batch in scopes {
            let ids = batch.column(0).as_string::<i32>();
            let scope = batch.column(1).as_primitive::<Int32Type>();
            for row in 0..batch.num_rows() {
                if let Some(&i) = index.get(ids.value(row)) {
                    activity.grants[i].scopes_used.insert(scope.value(row));
                }
            }
        }
        Ok(activity)
    }
}

/// Distinct (grant, event) pairs flagged by rules above `info`.
fn flagged_pairs(hits: &[RuleHits]) -> HashMap<String, HashSet<String>> {
    let mut flagged: HashMap<String, HashSet<String>> = HashMap::new();
    for hit in hits.iter().filter(|h| h.rule.severity > Severity::Info) {
        for rows in &hit.rows {
            let (Some(grants), Some(events)) = (
                rows.column_by_name("grant_id"),
                rows.column_by_name("event_id"),
            ) else {
                continue;
            };
            let (Some(grants), Some(events)) =
                (grants.as_string_opt::<i32>(), events.as_string_opt::<i32>())
            else {
                continue;
            };
            for (grant, event) in grants.iter().zip(events.iter()) {
                if let (Some(grant), Some(event)) = (grant, event) {
                    flagged
                        .entry(grant.to_owned())
                        .or_default()
                        .insert(event.to_owned());
                }
            }
        }
    }
    flagged
}
