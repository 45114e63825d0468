//! Per-batch grant activity, per grant and credential: how many actions, when last,
//! in which environments, which scopes they used, and the counts the grants' windowed
//! limits need. It feeds the drift metrics and the persistent activity state.
//!
//! Counted here in one pass over the batch grouped by credential, with the grant
//! index the batch's scope matches were made with; which actions were flagged comes
//! from the rule hits. It was four internal SQL queries per batch, whose rows were
//! then re-keyed by (grant, credential) strings; the queries cost little, the
//! re-keying most (BENCHMARKS.md, 2026-12-03).

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap, FxHashSet};

use datafusion::arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;

use super::engine::RuleHits;
use super::prepare::GrantView;
use super::rule::Severity;
use crate::grants::ScopeMatches;
use crate::grants::limit::{DAY_MS, window_start};
use crate::grants::slice::{primitive_column, string_column};
use crate::state::{DailyAmount, WindowCount};

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
    /// The activity of `actions` (a batch of the `actions` schema) under the grants of
    /// `view`, with `matches` the batch's scope matches against them. Nothing is
    /// flagged yet: see [`BatchActivity::flag`].
    pub(super) fn of(
        actions: &RecordBatch,
        view: &GrantView,
        matches: &ScopeMatches,
    ) -> Result<Self, ArrowError> {
        let columns = Columns::of(actions, view)?;
        // Scopes are used by a grant: each of its credentials that acted carries them,
        // so the union per grant is exact whichever instance wrote which credential.
        let mut used = matches.scope_rows().to_vec();
        used.sort_unstable();
        used.dedup();
        let index = &view.index;
        let mut activity = BatchActivity::default();
        let groups = Groups::of(columns.credentials);
        for (credential, rows) in groups.iter() {
            let grants = index.grants_of(credential);
            if grants.is_empty() {
                activity.unbound += rows.len() as u64;
                continue;
            }
            let (first_seen_ms, last_seen_ms, environments) = columns.seen(rows);
            for (i, &g) in grants.iter().enumerate() {
                // A credential listed twice by one grant still acts once under it
                // (a grant's rows are contiguous, so a repeat is the one before).
                if i > 0 && grants[i - 1] == g {
                    continue;
                }
                let Some(grant_id) = index.grant_id(g) else {
                    continue;
                };
                let mut grant = GrantActivity::new(grant_id, credential);
                grant.actions = rows.len() as u64;
                (grant.first_seen_ms, grant.last_seen_ms) = (first_seen_ms, last_seen_ms);
                // Inserted, not collected: collecting a set sorts a vector first, for
                // the one or two items nearly every set holds.
                let scope_rows = index.scope_rows(g);
                for r in scope_rows.filter(|r| used.binary_search(r).is_ok()) {
                    if let Some(action) = index.scope_pattern(r) {
                        grant.scopes_used.insert(action.to_owned());
                    }
                }
                for &environment in &environments {
                    grant.environments.insert(environment.to_owned());
                }
                if let Some(window_ms) = columns.rate_window_ms(g) {
                    grant.rate_windows = columns.windows(rows, window_ms);
                }
                if columns.limits_amount(g) {
                    grant.daily_amounts = columns.daily_amounts(rows);
                }
                activity.grants.push(grant);
            }
        }
        Ok(activity)
    }

    /// Counts the actions some rule above `info` flagged, per grant and credential.
    pub(super) fn flag(&mut self, hits: &[RuleHits]) {
        let flagged = flagged_pairs(hits);
        for grant in &mut self.grants {
            let key = (grant.grant_id.as_str(), grant.credential_id.as_str());
            grant.flagged = flagged.get(&key).map_or(0, |events| events.len() as u64);
        }
    }
}

/// The rows of a batch by credential, in order of first appearance: one vector of
/// rows for all, not one per credential (thousands per batch).
struct Groups<'a> {
    credentials: Vec<&'a str>,
    /// Where each credential's rows start in `rows`, and the end.
    starts: Vec<usize>,
    rows: Vec<u32>,
}

impl<'a> Groups<'a> {
    /// Groups `credentials` (a NULL one, which no grant binds, under the empty id).
    fn of(credentials: &'a StringArray) -> Self {
        let mut ids: FxHashMap<&str, usize> = FxHashMap::default();
        let mut names = Vec::new();
        let mut counts: Vec<usize> = Vec::new();
        let mut group_of = Vec::with_capacity(credentials.len());
        for credential in credentials.iter() {
            let credential = credential.unwrap_or_default();
            let group = *ids.entry(credential).or_insert_with(|| {
                names.push(credential);
                counts.push(0);
                names.len() - 1
            });
            counts[group] += 1;
            group_of.push(group);
        }
        let mut starts = Vec::with_capacity(counts.len() + 1);
        let mut next = 0;
        for count in counts {
            starts.push(next);
            next += count;
        }
        starts.push(next);
        let mut fill = starts.clone();
        let mut rows = vec![0; next];
        for (row, group) in group_of.into_iter().enumerate() {
            rows[fill[group]] = u32::try_from(row).unwrap_or(u32::MAX);
            fill[group] += 1;
        }
        Self {
            credentials: names,
            starts,
            rows,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&'a str, &[u32])> {
        self.credentials
            .iter()
            .zip(self.starts.windows(2))
            .map(|(&credential, range)| (credential, &self.rows[range[0]..range[1]]))
    }
}

/// The columns activity is counted from: the batch's, and the grants' limits.
struct Columns<'a> {
    credentials: &'a StringArray,
    ts: &'a PrimitiveArray<TimestampMillisecondType>,
    environments: &'a StringArray,
    amounts: &'a PrimitiveArray<Float64Type>,
    currencies: &'a StringArray,
    outcomes: &'a StringArray,
    rate_window_ms: &'a PrimitiveArray<Int64Type>,
    max_daily_amount: &'a PrimitiveArray<Float64Type>,
}

impl<'a> Columns<'a> {
    fn of(actions: &'a RecordBatch, view: &'a GrantView) -> Result<Self, ArrowError> {
        let grants = &view.tables.grants;
        Ok(Self {
            credentials: string_column(actions, "credential_id")?,
            ts: primitive_column(actions, "ts")?,
            environments: string_column(actions, "environment")?,
            amounts: primitive_column(actions, "amount")?,
            currencies: string_column(actions, "currency")?,
            outcomes: string_column(actions, "outcome")?,
            rate_window_ms: primitive_column(grants, "rate_window_ms")?,
            max_daily_amount: primitive_column(grants, "max_daily_amount")?,
        })
    }

    /// The first and last event time of `rows`, and their environments (a
    /// credential acts in one or two).
    fn seen(&self, rows: &[u32]) -> (i64, i64, Vec<&'a str>) {
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        let mut environments = Vec::new();
        for &row in rows {
            let row = row as usize;
            let ts = self.ts.value(row);
            first = first.min(ts);
            last = last.max(ts);
            if self.environments.is_valid(row) {
                let environment = self.environments.value(row);
                if !environments.contains(&environment) {
                    environments.push(environment);
                }
            }
        }
        (first, last, environments)
    }

    /// The `rate_limit` window of row `grant` of `grants`, if it sets one.
    fn rate_window_ms(&self, grant: u32) -> Option<i64> {
        let row = grant as usize;
        (row < self.rate_window_ms.len() && self.rate_window_ms.is_valid(row))
            .then(|| self.rate_window_ms.value(row))
    }

    /// Whether row `grant` of `grants` sets a `max_daily_amount`.
    fn limits_amount(&self, grant: u32) -> bool {
        let row = grant as usize;
        row < self.max_daily_amount.len() && self.max_daily_amount.is_valid(row)
    }

    /// Actions of `rows` per window of `window_ms`, by window start.
    fn windows(&self, rows: &[u32], window_ms: i64) -> Vec<WindowCount> {
        let mut starts: Vec<i64> = rows
            .iter()
            .map(|&row| window_start(self.ts.value(row as usize), window_ms))
            .collect();
        starts.sort_unstable();
        starts
            .chunk_by(|a, b| a == b)
            .map(|same| WindowCount {
                window_ms,
                start_ms: same[0],
                actions: same.len() as u64,
            })
            .collect()
    }

    /// Money moved by the successful actions of `rows` stating an amount, per UTC day
    /// and currency, by day then currency (none first).
    fn daily_amounts(&self, rows: &[u32]) -> Vec<DailyAmount> {
        let mut moved: Vec<(i64, Option<&str>, f64)> = rows
            .iter()
            .map(|&row| row as usize)
            .filter(|&row| {
                self.amounts.is_valid(row)
                    && self.outcomes.is_valid(row)
                    && self.outcomes.value(row) == "success"
            })
            .map(|row| {
                let currency = self.currencies.is_valid(row);
                (
                    window_start(self.ts.value(row), DAY_MS),
                    currency.then(|| self.currencies.value(row)),
                    self.amounts.value(row),
                )
            })
            .collect();
        // Stable, so each sum adds in event order whatever the batch.
        moved.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        moved
            .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
            .map(|same| DailyAmount {
                day_ms: same[0].0,
                currency: same[0].1.map(str::to_owned),
                amount: same.iter().map(|m| m.2).sum(),
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::native_batch;
    use crate::grants::slice::indexed;

    const GRANTS: &str = r#"
- id: limited
  partner: p
  owner: o@x
  purpose: x
  credentials: [c1, c2]
  rate_limit: 100/h
  max_daily_amount: 1000
  scopes: [{action: "GET /a/*"}, {action: "POST /pay"}, {action: "DELETE /a/*"}]
- id: plain
  partner: p
  owner: o@x
  purpose: x
  credentials: [c2]
  scopes: [{action: "GET /a/*"}]
"#;

    fn activity(events: &[String]) -> BatchActivity {
        let (tables, index) = indexed(GRANTS);
        let view = GrantView { tables, index };
        let batch = native_batch(events.iter());
        let matches = view.index.scope_matches(&batch).expect("matches");
        BatchActivity::of(&batch, &view, &matches).expect("activity")
    }

    fn event(ts: &str, credential: &str, action: &str, extra: &str) -> String {
        format!(
            r#"{{"ts":"{ts}","event_id":"e","credential_id":"{credential}","action":"{action}"{extra}}}"#
        )
    }

    #[test]
    fn each_credential_counts_under_each_grant_binding_it() {
        let events = [
            event(
                "2026-11-30T09:10:00Z",
                "c1",
                "GET /a/1",
                r#","environment":"prod""#,
            ),
            event(
                "2026-11-30T10:05:00Z",
                "c2",
                "GET /a/2",
                r#","environment":"test""#,
            ),
            event(
                "2026-11-30T09:00:00Z",
                "c1",
                "PUT /x",
                r#","environment":"sandbox""#,
            ),
            event("2026-11-30T09:30:00Z", "nobody", "GET /a/1", ""),
            event("2026-11-30T09:40:00Z", "c1", "GET /a/3", ""),
        ];
        let activity = activity(&events);
        assert_eq!(activity.unbound, 1);
        let pairs: Vec<(&str, &str, u64)> = activity
            .grants
            .iter()
            .map(|g| (g.grant_id.as_str(), g.credential_id.as_str(), g.actions))
            .collect();
        assert_eq!(
            pairs,
            [
                ("limited", "c1", 3),
                ("limited", "c2", 1),
                ("plain", "c2", 1)
            ]
        );
        let c1 = &activity.grants[0];
        assert_eq!(
            (c1.first_seen_ms, c1.last_seen_ms),
            (1_796_029_200_000, 1_796_029_200_000 + 40 * 60_000)
        );
        assert_eq!(
            c1.environments.iter().collect::<Vec<_>>(),
            ["prod", "sandbox"]
        );
        // Scopes used by the grant in the batch, whichever credential used them.
        assert_eq!(c1.scopes_used.iter().collect::<Vec<_>>(), ["GET /a/*"]);
        assert_eq!(activity.grants[1].scopes_used, c1.scopes_used);
        // Hourly windows for the rate limit; none for the grant without one.
        let windows: Vec<(i64, u64)> = c1
            .rate_windows
            .iter()
            .map(|w| (w.start_ms, w.actions))
            .collect();
        assert_eq!(windows, [(1_796_029_200_000, 3)]);
        assert!(c1.rate_windows.iter().all(|w| w.window_ms == 3_600_000));
        assert!(activity.grants[2].rate_windows.is_empty());
    }

    #[test]
    fn successful_amounts_sum_per_day_and_currency() {
        let pay = |ts: &str, money: &str| event(ts, "c1", "POST /pay", money);
        let events = [
            pay("2026-11-30T09:00:00Z", r#","amount":10.5,"currency":"EUR""#),
            pay("2026-11-30T23:59:59Z", r#","amount":4.5,"currency":"EUR""#),
            pay("2026-12-01T00:00:00Z", r#","amount":7,"currency":"EUR""#),
            pay("2026-11-30T10:00:00Z", r#","amount":1,"currency":"GBP""#),
            pay("2026-11-30T11:00:00Z", r#","amount":2"#),
            pay(
                "2026-11-30T12:00:00Z",
                r#","amount":99,"outcome":"failure""#,
            ),
            pay("2026-11-30T13:00:00Z", ""),
        ];
        let activity = activity(&events);
        let day = 1_796_083_200_000 - 86_400_000;
        let amounts: Vec<(i64, Option<&str>, f64)> = activity.grants[0]
            .daily_amounts
            .iter()
            .map(|a| (a.day_ms, a.currency.as_deref(), a.amount))
            .collect();
        assert_eq!(
            amounts,
            [
                (day, None, 2.0),
                (day, Some("EUR"), 15.0),
                (day, Some("GBP"), 1.0),
                (day + 86_400_000, Some("EUR"), 7.0),
            ]
        );
        assert_eq!(activity.grants[0].actions, 7);
    }
}
