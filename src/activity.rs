//! Per-batch grant activity, per grant and credential: how many actions, when last,
//! in which environments, which scopes they used, and the counts the grants' windowed
//! limits need. It feeds the drift metrics and the persistent activity state.
//!
//! Counted in one pass over the batch grouped by credential, with the grant index
//! the batch's scope matches were made with, and keyed by rows rather than by
//! (grant, credential) strings; which actions were flagged comes from the rule hits.
//!
//! Its texts (ids, scope patterns, environments) are rows of the batch and of the
//! grant tables, not copies: a batch acts under thousands of (grant, credential)
//! pairs, and owned strings for each would cost a measurable share of a drain
//! (BENCHMARKS.md, "Where the CPU goes").
//!
//! It sits below the rules and the state, which both read it, and must not depend on
//! either.

use std::ops::Range;

use rustc_hash::{FxHashMap, FxHashSet};

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, PrimitiveArray, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use datafusion::arrow::error::ArrowError;

use serde::{Deserialize, Serialize};

use crate::columns::{primitive_column, string_column};
use crate::grants::limit::{DAY_MS, window_start};
use crate::grants::{GrantIndex, GrantTables, ScopeMatches};

/// Actions in one fixed window of a grant's rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCount {
    /// The window length (a grant's limit may change between reloads).
    pub window_ms: i64,
    /// Window start (epoch ms, aligned to the epoch).
    pub start_ms: i64,
    /// Actions in it.
    pub actions: u64,
}

/// Money moved in one UTC day, in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyAmount {
    /// Day start (epoch ms, midnight UTC).
    pub day_ms: i64,
    /// The currency (`None` when events state none).
    pub currency: Option<String>,
    /// Sum of the successful actions' amounts.
    pub amount: f64,
}

/// Events flagged by rules above `info`, per (grant, credential): distinct event ids.
pub type Flagged<'a> = FxHashMap<(&'a str, &'a str), FxHashSet<&'a str>>;

/// Texts of one credential's activity (the scope patterns or the environments it
/// used): rows of a column the batch or the grant tables hold, distinct.
#[derive(Debug, Clone, Copy, Default)]
pub struct Texts<'a> {
    column: Option<&'a StringArray>,
    rows: &'a [u32],
}

impl<'a> Texts<'a> {
    /// The values of `column` at `rows` (NULLs and rows past its end left out).
    pub fn new(column: &'a StringArray, rows: &'a [u32]) -> Self {
        Self {
            column: Some(column),
            rows,
        }
    }

    /// The texts, in the order of their rows.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let (column, rows) = (self.column, self.rows);
        column
            .into_iter()
            .flat_map(move |column| rows.iter().filter_map(|&row| text_at(column, row)))
    }
}

/// The value of `column` at `row`, unless NULL or past its end.
fn text_at(column: &StringArray, row: u32) -> Option<&str> {
    let row = row as usize;
    (row < column.len() && column.is_valid(row)).then(|| column.value(row))
}

/// Appends `row` to `rows` unless its text in `column` is NULL or already named by
/// `rows[start..]` (the one or two a credential's list holds: a scan, not a set).
fn push_distinct(rows: &mut Vec<u32>, start: usize, column: &StringArray, row: u32) {
    let Some(text) = text_at(column, row) else {
        return;
    };
    if !rows[start..]
        .iter()
        .any(|&seen| text_at(column, seen) == Some(text))
    {
        rows.push(row);
    }
}

/// One credential's activity under one grant in a batch.
#[derive(Debug, Clone, Copy)]
pub struct GrantActivity<'a> {
    /// The grant.
    pub grant_id: &'a str,
    /// The credential that acted.
    pub credential_id: &'a str,
    /// Actions it took.
    pub actions: u64,
    /// Of those, actions some rule above `info` flagged against this grant.
    pub flagged: u64,
    /// Latest event time (epoch ms).
    pub last_seen_ms: i64,
    /// Earliest event time (epoch ms).
    pub first_seen_ms: i64,
    /// Action patterns of the scopes used (stable across reloads, unlike indexes).
    pub scopes_used: Texts<'a>,
    /// Environments it acted in.
    pub environments: Texts<'a>,
    /// Actions per window of the grant's `rate_limit`.
    pub rate_windows: &'a [WindowCount],
    /// Money moved per day and currency, for a grant with a `max_daily_amount`.
    pub daily_amounts: &'a [DailyAmount],
}

impl<'a> GrantActivity<'a> {
    /// No activity yet.
    pub fn new(grant_id: &'a str, credential_id: &'a str) -> Self {
        Self {
            grant_id,
            credential_id,
            actions: 0,
            flagged: 0,
            last_seen_ms: i64::MIN,
            first_seen_ms: i64::MAX,
            scopes_used: Texts::default(),
            environments: Texts::default(),
            rate_windows: &[],
            daily_amounts: &[],
        }
    }
}

/// One credential's activity under one grant, by rows: see [`BatchActivity::iter`].
#[derive(Debug)]
struct Acted {
    /// Its row of `grants`.
    grant: u32,
    /// A row of the batch naming the credential.
    credential: u32,
    actions: u64,
    flagged: u64,
    last_seen_ms: i64,
    first_seen_ms: i64,
    /// Its range of [`BatchActivity::scope_rows`].
    scopes: Range<usize>,
    /// Its range of [`BatchActivity::environment_rows`].
    environments: Range<usize>,
    rate_windows: Vec<WindowCount>,
    daily_amounts: Vec<DailyAmount>,
}

/// The columns a batch's activity reads its texts from (shared, not copied).
#[derive(Debug)]
struct TextColumns {
    /// `grants.grant_id`.
    grant_ids: StringArray,
    /// `grant_scopes.action`.
    scope_actions: StringArray,
    /// The batch's `credential_id`.
    credentials: StringArray,
    /// The batch's `environment`.
    environments: StringArray,
}

impl TextColumns {
    /// The grant and credential ids of `a`.
    fn ids(&self, a: &Acted) -> (&str, &str) {
        // Never NULL: grants are indexed by id, and a NULL credential binds none.
        (
            text_at(&self.grant_ids, a.grant).unwrap_or_default(),
            text_at(&self.credentials, a.credential).unwrap_or_default(),
        )
    }
}

impl Default for TextColumns {
    fn default() -> Self {
        let empty = || StringArray::from(Vec::<&str>::new());
        Self {
            grant_ids: empty(),
            scope_actions: empty(),
            credentials: empty(),
            environments: empty(),
        }
    }
}

/// Grant activity of one batch.
#[derive(Debug, Default)]
pub struct BatchActivity {
    /// Per grant and credential, for grants whose credentials acted.
    acted: Vec<Acted>,
    /// Rows of `grant_scopes` used, in ranges per (grant, credential).
    scope_rows: Vec<u32>,
    /// Rows of the batch naming each environment, in ranges per credential.
    environment_rows: Vec<u32>,
    texts: TextColumns,
    /// Actions by credentials no grant binds.
    pub unbound: u64,
    /// Of those, actions by identities outside partner scope: never alerted.
    pub out_of_scope: u64,
}

impl BatchActivity {
    /// The activity of `actions` (a batch of the `actions` schema) under the grants of
    /// `tables` (indexed by `index`), with `matches` the batch's scope matches against
    /// them. Nothing is flagged yet: see [`BatchActivity::flag`].
    pub fn of(
        actions: &RecordBatch,
        tables: &GrantTables,
        index: &GrantIndex,
        matches: &ScopeMatches,
    ) -> Result<Self, ArrowError> {
        let columns = Columns::of(actions, tables)?;
        // Scopes are used by a grant: each of its credentials that acted carries them,
        // so the union per grant is exact whichever instance wrote which credential.
        let mut used = matches.scope_rows().to_vec();
        used.sort_unstable();
        used.dedup();
        let mut activity = BatchActivity {
            texts: TextColumns {
                grant_ids: string_column(&tables.grants, "grant_id")?.clone(),
                scope_actions: string_column(&tables.grant_scopes, "action")?.clone(),
                credentials: columns.credentials.clone(),
                environments: columns.environments.clone(),
            },
            ..Default::default()
        };
        let groups = Groups::of(columns.credentials);
        for (credential, rows) in groups.iter() {
            let grants = index.grants_of(credential);
            if grants.is_empty() {
                activity.unbound += rows.len() as u64;
                activity.out_of_scope += columns.out_of_scope(rows);
                continue;
            }
            let (first_seen_ms, last_seen_ms) = columns.seen(rows);
            let environments = activity.environment_rows.len();
            columns.environments_of(rows, &mut activity.environment_rows);
            let environments = environments..activity.environment_rows.len();
            for (i, &g) in grants.iter().enumerate() {
                // A credential listed twice by one grant still acts once under it
                // (a grant's rows are contiguous, so a repeat is the one before).
                if i > 0 && grants[i - 1] == g {
                    continue;
                }
                let scopes = activity.scope_rows.len();
                for r in index.scope_rows(g) {
                    if used.binary_search(&r).is_ok() {
                        let actions = &activity.texts.scope_actions;
                        push_distinct(&mut activity.scope_rows, scopes, actions, r);
                    }
                }
                activity.acted.push(Acted {
                    grant: g,
                    credential: rows[0],
                    actions: rows.len() as u64,
                    flagged: 0,
                    last_seen_ms,
                    first_seen_ms,
                    scopes: scopes..activity.scope_rows.len(),
                    environments: environments.clone(),
                    rate_windows: columns
                        .rate_window_ms(g)
                        .map(|window_ms| columns.windows(rows, window_ms))
                        .unwrap_or_default(),
                    daily_amounts: if columns.limits_amount(g) {
                        columns.daily_amounts(rows)
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        Ok(activity)
    }

    /// Per grant and credential, for grants whose credentials acted.
    pub fn iter(&self) -> impl Iterator<Item = GrantActivity<'_>> {
        self.acted.iter().map(|a| self.view(a))
    }

    /// How many (grant, credential) pairs acted.
    pub fn len(&self) -> usize {
        self.acted.len()
    }

    /// Whether no credential any grant binds acted.
    pub fn is_empty(&self) -> bool {
        self.acted.is_empty()
    }

    fn view<'a>(&'a self, a: &'a Acted) -> GrantActivity<'a> {
        let texts = &self.texts;
        let (grant_id, credential_id) = texts.ids(a);
        GrantActivity {
            grant_id,
            credential_id,
            actions: a.actions,
            flagged: a.flagged,
            last_seen_ms: a.last_seen_ms,
            first_seen_ms: a.first_seen_ms,
            scopes_used: Texts::new(&texts.scope_actions, &self.scope_rows[a.scopes.clone()]),
            environments: Texts::new(
                &texts.environments,
                &self.environment_rows[a.environments.clone()],
            ),
            rate_windows: &a.rate_windows,
            daily_amounts: &a.daily_amounts,
        }
    }

    /// Counts the actions some rule flagged, per grant and credential.
    pub fn flag(&mut self, flagged: &Flagged<'_>) {
        for a in &mut self.acted {
            let key = self.texts.ids(a);
            a.flagged = flagged.get(&key).map_or(0, |events| events.len() as u64);
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
    /// Absent from batches of archives older than partner scope: all in scope.
    in_scope: Option<&'a BooleanArray>,
    rate_window_ms: &'a PrimitiveArray<Int64Type>,
    max_daily_amount: &'a PrimitiveArray<Float64Type>,
}

impl<'a> Columns<'a> {
    fn of(actions: &'a RecordBatch, tables: &'a GrantTables) -> Result<Self, ArrowError> {
        let grants = &tables.grants;
        Ok(Self {
            credentials: string_column(actions, "credential_id")?,
            ts: primitive_column(actions, "ts")?,
            environments: string_column(actions, "environment")?,
            amounts: primitive_column(actions, "amount")?,
            currencies: string_column(actions, "currency")?,
            outcomes: string_column(actions, "outcome")?,
            in_scope: actions
                .column_by_name("in_scope")
                .and_then(|c| c.as_boolean_opt()),
            rate_window_ms: primitive_column(grants, "rate_window_ms")?,
            max_daily_amount: primitive_column(grants, "max_daily_amount")?,
        })
    }

    /// How many of `rows` are marked out of partner scope.
    fn out_of_scope(&self, rows: &[u32]) -> u64 {
        self.in_scope.map_or(0, |marks| {
            rows.iter()
                .filter(|&&row| marks.is_valid(row as usize) && !marks.value(row as usize))
                .count() as u64
        })
    }

    /// The first and last event time of `rows`.
    fn seen(&self, rows: &[u32]) -> (i64, i64) {
        rows.iter()
            .map(|&row| self.ts.value(row as usize))
            .fold((i64::MAX, i64::MIN), |(first, last), ts| {
                (first.min(ts), last.max(ts))
            })
    }

    /// Appends to `out` a row of `rows` for each environment they name (a credential
    /// acts in one or two).
    fn environments_of(&self, rows: &[u32], out: &mut Vec<u32>) {
        let start = out.len();
        for &row in rows {
            push_distinct(out, start, self.environments, row);
        }
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
  scopes: [{action: "GET /a/*"}, {action: "GET /a/*", max_amount: 5}]
"#;

    fn activity(events: &[String]) -> BatchActivity {
        let (tables, index) = indexed(GRANTS);
        let batch = native_batch(events.iter());
        let matches = index.scope_matches(&batch).expect("matches");
        BatchActivity::of(&batch, &tables, &index, &matches).expect("activity")
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
        let acted: Vec<GrantActivity> = activity.iter().collect();
        let pairs: Vec<(&str, &str, u64)> = acted
            .iter()
            .map(|g| (g.grant_id, g.credential_id, g.actions))
            .collect();
        assert_eq!(
            pairs,
            [
                ("limited", "c1", 3),
                ("limited", "c2", 1),
                ("plain", "c2", 1)
            ]
        );
        let c1 = &acted[0];
        assert_eq!(
            (c1.first_seen_ms, c1.last_seen_ms),
            (1_796_029_200_000, 1_796_029_200_000 + 40 * 60_000)
        );
        assert_eq!(
            c1.environments.iter().collect::<Vec<_>>(),
            ["prod", "sandbox"]
        );
        // Scopes used by the grant in the batch, whichever credential used them.
        let scopes =
            |a: &GrantActivity| a.scopes_used.iter().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(scopes(c1), ["GET /a/*"]);
        assert_eq!(scopes(&acted[1]), scopes(c1));
        // Two scopes of one pattern are one pattern used.
        assert_eq!(scopes(&acted[2]), ["GET /a/*"]);
        // Hourly windows for the rate limit; none for the grant without one.
        let windows: Vec<(i64, u64)> = c1
            .rate_windows
            .iter()
            .map(|w| (w.start_ms, w.actions))
            .collect();
        assert_eq!(windows, [(1_796_029_200_000, 3)]);
        assert!(c1.rate_windows.iter().all(|w| w.window_ms == 3_600_000));
        assert!(acted[2].rate_windows.is_empty());
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
        let limited = activity.iter().next().expect("limited");
        let amounts: Vec<(i64, Option<&str>, f64)> = limited
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
        assert_eq!(limited.actions, 7);
    }
}
