//! Per-batch grant activity, per grant and credential: how many actions, when last,
//! and which scopes they used. It feeds the drift metrics and the persistent
//! `grant_activity` state. Two internal queries, planned once like the rules; which
//! actions were flagged comes from the rule hits.

use std::collections::{BTreeSet, HashMap, HashSet};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int32Type, Int64Type, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;

use super::engine::RuleHits;
use super::rule::Severity;

/// Actions per grant and credential (a NULL grant_id row counts actions no grant binds).
/// Reduced per credential before the join, so the join sees one row per credential.
pub(super) const ACTIONS_SQL: &str = "\
SELECT gc.grant_id, c.credential_id, c.actions, c.last_seen
FROM (SELECT credential_id, count(*) AS actions, max(ts) AS last_seen
      FROM actions GROUP BY credential_id) c
LEFT JOIN grant_credentials gc ON gc.credential_id = c.credential_id";

/// Scopes whose pattern matched an action of the batch. Patterns are matched against
/// each distinct (credential, action) once, not against every event.
pub(super) const SCOPES_SQL: &str = "\
SELECT DISTINCT gc.grant_id, s.scope_index
FROM (SELECT DISTINCT credential_id, action FROM actions) a
JOIN grant_credentials gc ON gc.credential_id = a.credential_id
JOIN grant_scopes s ON s.grant_id = gc.grant_id
WHERE action_matches(s.action, a.action)";

/// One credential's activity under one grant in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantActivity {
    /// The grant.
    pub grant_id: String,
    /// The credential that acted.
    pub credential_id: String,
    /// Actions it took.
    pub actions: u64,
    /// Of those, actions some rule above `info` flagged against this grant.
    pub flagged: u64,
    /// Latest event time (epoch ms).
    pub last_seen_ms: i64,
    /// Action patterns of the scopes used (stable across reloads, unlike indexes).
    pub scopes_used: BTreeSet<String>,
}

/// Grant activity of one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchActivity {
    /// Per grant and credential, for grants whose credentials acted.
    pub grants: Vec<GrantActivity>,
    /// Actions by credentials no grant binds.
    pub unbound: u64,
}

impl BatchActivity {
    /// `scope_actions` gives each grant's scope patterns by `scope_index`.
    pub(super) fn build(
        actions: &[RecordBatch],
        scopes: &[RecordBatch],
        hits: &[RuleHits],
        scope_actions: &HashMap<String, Vec<String>>,
    ) -> Result<Self, ArrowError> {
        let flagged = flagged_pairs(hits);
        let mut activity = BatchActivity::default();
        let mut index = HashMap::new();
        for batch in actions {
            let ids = batch.column(0).as_string::<i32>();
            let credentials = batch.column(1).as_string::<i32>();
            let counts = batch.column(2).as_primitive::<Int64Type>();
            let last = batch.column(3).as_primitive::<TimestampMillisecondType>();
            for row in 0..batch.num_rows() {
                let actions = u64::try_from(counts.value(row)).unwrap_or_default();
                if ids.is_null(row) {
                    activity.unbound += actions;
                    continue;
                }
                let key = (ids.value(row).to_owned(), credentials.value(row).to_owned());
                let flagged = flagged.get(&key).map_or(0, |events| events.len() as u64);
                index.insert(key.clone(), activity.grants.len());
                activity.grants.push(GrantActivity {
                    grant_id: key.0,
                    credential_id: key.1,
                    actions,
                    flagged,
                    last_seen_ms: last.value(row),
                    scopes_used: BTreeSet::new(),
                });
            }
        }
        // Scopes are used by a grant; each of its credentials that acted carries them,
        // so the union per grant is exact whichever instance wrote which credential.
        let mut by_grant: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, a) in activity.grants.iter().enumerate() {
            by_grant.entry(a.grant_id.as_str()).or_default().push(i);
        }
        let mut used: Vec<(usize, String)> = Vec::new();
        for batch in scopes {
            let ids = batch.column(0).as_string::<i32>();
            let index = batch.column(1).as_primitive::<Int32Type>();
            for row in 0..batch.num_rows() {
                let grant = ids.value(row);
                let action = scope_actions
                    .get(grant)
                    .and_then(|s| s.get(usize::try_from(index.value(row)).ok()?));
                if let (Some(entries), Some(action)) = (by_grant.get(grant), action) {
                    used.extend(entries.iter().map(|&i| (i, action.clone())));
                }
            }
        }
        for (i, action) in used {
            activity.grants[i].scopes_used.insert(action);
        }
        Ok(activity)
    }
}

/// Distinct events flagged by rules above `info`, per (grant, credential).
fn flagged_pairs(hits: &[RuleHits]) -> HashMap<(String, String), HashSet<String>> {
    let mut flagged: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for hit in hits.iter().filter(|h| h.rule.severity > Severity::Info) {
        for rows in &hit.rows {
            let column = |name| {
                rows.column_by_name(name)
                    .and_then(|c| c.as_string_opt::<i32>())
            };
            let (Some(grants), Some(credentials), Some(events)) = (
                column("grant_id"),
                column("credential_id"),
                column("event_id"),
            ) else {
                continue;
            };
            for row in 0..rows.num_rows() {
                if grants.is_null(row) || credentials.is_null(row) || events.is_null(row) {
                    continue;
                }
                let key = (
                    grants.value(row).to_owned(),
                    credentials.value(row).to_owned(),
                );
                flagged
                    .entry(key)
                    .or_default()
                    .insert(events.value(row).to_owned());
            }
        }
    }
    flagged
}
