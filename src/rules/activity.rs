//! Per-batch grant activity, per grant and credential: how many actions, when last,
//! in which environments, which scopes they used, and the counts the grants' windowed
//! limits need. It feeds the drift metrics and the persistent activity state. Internal
//! queries, planned once like the rules; which actions were flagged comes from the
//! rule hits.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap, FxHashSet};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;

use super::engine::RuleHits;
use super::rule::Severity;
use crate::grants::GrantIndex;
use crate::state::{DailyAmount, WindowCount};

/// Actions per grant, credential and environment (a NULL grant_id row counts actions no
/// grant binds). Reduced before the join, so the join sees a row per credential and
/// environment (nearly always one).
pub(super) const ACTIONS_SQL: &str = "\
SELECT gc.grant_id, c.credential_id, c.environment, c.actions, c.last_seen, c.first_seen
FROM (SELECT credential_id, environment, count(*) AS actions, max(ts) AS last_seen,
             min(ts) AS first_seen
      FROM actions GROUP BY credential_id, environment) c
LEFT JOIN grant_credentials gc ON gc.credential_id = c.credential_id";

/// Scopes whose pattern matched an action of the batch.
pub(super) const SCOPES_SQL: &str = "SELECT DISTINCT grant_id, scope_index FROM action_scopes";

/// Actions per rate window, for grants with a `rate_limit`.
pub(super) const WINDOWS_SQL: &str = "\
SELECT l.grant_id, a.credential_id, l.rate_window_ms,
       window_start(a.ts, l.rate_window_ms) AS window_start, count(*) AS actions
FROM (SELECT gc.credential_id, g.grant_id, g.rate_window_ms
      FROM grants g JOIN grant_credentials gc ON gc.grant_id = g.grant_id
      WHERE g.rate_window_ms IS NOT NULL) l
JOIN actions a ON a.credential_id = l.credential_id
GROUP BY l.grant_id, a.credential_id, l.rate_window_ms, window_start(a.ts, l.rate_window_ms)";

/// Money moved per UTC day and currency by successful actions, for grants with a
/// `max_daily_amount`.
pub(super) const AMOUNTS_SQL: &str = "\
SELECT l.grant_id, a.credential_id, window_start(a.ts, 86400000) AS day, a.currency,
       sum(a.amount) AS amount
FROM (SELECT gc.credential_id, g.grant_id
      FROM grants g JOIN grant_credentials gc ON gc.grant_id = g.grant_id
      WHERE g.max_daily_amount IS NOT NULL) l
JOIN actions a ON a.credential_id = l.credential_id
WHERE a.amount IS NOT NULL AND a.outcome = 'success'
GROUP BY l.grant_id, a.credential_id, window_start(a.ts, 86400000), a.currency";

/// The internal queries' results for one batch.
pub(super) struct ActivityRows {
    pub actions: Vec<RecordBatch>,
    pub scopes: Vec<RecordBatch>,
    pub windows: Vec<RecordBatch>,
    pub amounts: Vec<RecordBatch>,
}

/// One credential's activity under one grant in a batch.
#[derive(Debug, Clone, PartialEq)]
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
    /// Earliest event time (epoch ms).
    pub first_seen_ms: i64,
    /// Action patterns of the scopes used (stable across reloads, unlike indexes).
    pub scopes_used: BTreeSet<String>,
    /// Environments it acted in.
    pub environments: BTreeSet<String>,
    /// Actions per window of the grant's `rate_limit`.
    pub rate_windows: Vec<WindowCount>,
    /// Money moved per day and currency, for a grant with a `max_daily_amount`.
    pub daily_amounts: Vec<DailyAmount>,
}

impl GrantActivity {
    /// No activity yet.
    pub fn new(grant_id: &str, credential_id: &str) -> Self {
        Self {
            grant_id: grant_id.to_owned(),
            credential_id: credential_id.to_owned(),
            actions: 0,
            flagged: 0,
            last_seen_ms: i64::MIN,
            first_seen_ms: i64::MAX,
            scopes_used: BTreeSet::new(),
            environments: BTreeSet::new(),
            rate_windows: Vec::new(),
            daily_amounts: Vec::new(),
        }
    }
}

/// Grant activity of one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchActivity {
    /// Per grant and credential, for grants whose credentials acted.
    pub grants: Vec<GrantActivity>,
    /// Actions by credentials no grant binds.
    pub unbound: u64,
}

impl BatchActivity {
    /// `grants` names each grant's scopes by `scope_index`.
    pub(super) fn build(
        rows: &ActivityRows,
        hits: &[RuleHits],
        grants: &GrantIndex,
    ) -> Result<Self, ArrowError> {
        let flagged = flagged_pairs(hits);
        let mut activity = BatchActivity::default();
        // Keys borrow the result rows: one (grant, credential) pair per acting
        // credential, so thousands per batch.
        let mut index: FxHashMap<(&str, &str), usize> = FxHashMap::default();
        for batch in &rows.actions {
            let ids = batch.column(0).as_string::<i32>();
            let credentials = batch.column(1).as_string::<i32>();
            let environments = batch.column(2).as_string::<i32>();
            let counts = batch.column(3).as_primitive::<Int64Type>();
            let last = batch.column(4).as_primitive::<TimestampMillisecondType>();
            let first = batch.column(5).as_primitive::<TimestampMillisecondType>();
            for row in 0..batch.num_rows() {
                let actions = u64::try_from(counts.value(row)).unwrap_or_default();
                if ids.is_null(row) {
                    activity.unbound += actions;
                    continue;
                }
                let key = (ids.value(row), credentials.value(row));
                let i = *index.entry(key).or_insert_with(|| {
                    activity.grants.push(GrantActivity {
                        flagged: flagged.get(&key).map_or(0, |events| events.len() as u64),
                        ..GrantActivity::new(key.0, key.1)
                    });
                    activity.grants.len() - 1
                });
                let grant = &mut activity.grants[i];
                grant.actions += actions;
                grant.last_seen_ms = grant.last_seen_ms.max(last.value(row));
                grant.first_seen_ms = grant.first_seen_ms.min(first.value(row));
                if environments.is_valid(row) {
                    grant
                        .environments
                        .insert(environments.value(row).to_owned());
                }
            }
        }
        activity.add_scopes(&rows.scopes, grants);
        let lookup = |grant: &str, credential: &str| index.get(&(grant, credential)).copied();
        for batch in &rows.windows {
            let ids = batch.column(0).as_string::<i32>();
            let credentials = batch.column(1).as_string::<i32>();
            let window = batch.column(2).as_primitive::<Int64Type>();
            let start = batch.column(3).as_primitive::<TimestampMillisecondType>();
            let counts = batch.column(4).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                if let Some(i) = lookup(ids.value(row), credentials.value(row)) {
                    activity.grants[i].rate_windows.push(WindowCount {
                        window_ms: window.value(row),
                        start_ms: start.value(row),
                        actions: u64::try_from(counts.value(row)).unwrap_or_default(),
                    });
                }
            }
        }
        for batch in &rows.amounts {
            let ids = batch.column(0).as_string::<i32>();
            let credentials = batch.column(1).as_string::<i32>();
            let day = batch.column(2).as_primitive::<TimestampMillisecondType>();
            let currency = batch.column(3).as_string::<i32>();
            let amount = batch.column(4).as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                if let Some(i) = lookup(ids.value(row), credentials.value(row)) {
                    activity.grants[i].daily_amounts.push(DailyAmount {
                        day_ms: day.value(row),
                        currency: currency
                            .is_valid(row)
                            .then(|| currency.value(row).to_owned()),
                        amount: amount.value(row),
                    });
                }
            }
        }
        Ok(activity)
    }

    /// Names the scopes each grant used. Scopes are used by a grant; each of its
    /// credentials that acted carries them, so the union per grant is exact whichever
    /// instance wrote which credential.
    fn add_scopes(&mut self, scopes: &[RecordBatch], grants: &GrantIndex) {
        let mut by_grant: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, a) in self.grants.iter().enumerate() {
            by_grant.entry(a.grant_id.as_str()).or_default().push(i);
        }
        let mut used: Vec<(usize, String)> = Vec::new();
        for batch in scopes {
            let ids = batch.column(0).as_string::<i32>();
            let index = batch.column(1).as_primitive::<Int32Type>();
            for row in 0..batch.num_rows() {
                let grant = ids.value(row);
                let action = usize::try_from(index.value(row))
                    .ok()
                    .and_then(|i| grants.scope_action(grant, i));
                if let (Some(entries), Some(action)) = (by_grant.get(grant), action) {
                    used.extend(entries.iter().map(|&i| (i, action.to_owned())));
                }
            }
        }
        for (i, action) in used {
            self.grants[i].scopes_used.insert(action);
        }
    }
}

/// Distinct events flagged by rules above `info`, per (grant, credential).
fn flagged_pairs(hits: &[RuleHits]) -> FxHashMap<(&str, &str), FxHashSet<&str>> {
    let mut flagged: FxHashMap<(&str, &str), FxHashSet<&str>> = FxHashMap::default();
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
                flagged
                    .entry((grants.value(row), credentials.value(row)))
                    .or_default()
                    .insert(events.value(row));
            }
        }
    }
    flagged
}
