//! The in-memory state: activity per (grant, credential) and scheduled findings in
//! force. Fed by local batches and by the state topic (other instances, or this one
//! before a restart); merging is idempotent, so a record seen twice changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::error::ArrowError;
use rustc_hash::{FxHashMap, FxHashSet};

use super::encoded::{EncodedRecords, RecordRef};
use super::grant_use::{GrantUse, grant_uses};
use super::ledger::AlertLedger;
use super::pending::{FIRST_ROUND, Pending, Round};
use super::record::{
    ActivityRecord, FindingRecord, MAX_ENVIRONMENTS, StateRecord, activity_key, is_relay_key,
    parse_alert_key, parse_finding_key,
};
use super::relay::Relays;
use super::tables::StateTables;
use crate::activity::{DailyAmount, GrantActivity, WindowCount};
use crate::grants::limit::DAY_MS;

/// One credential's activity under a grant, and whether it changed since it was
/// last taken for writing.
#[derive(Debug)]
struct Tracked {
    record: ActivityRecord,
    pending: Pending,
}

/// Where the record of `credential` is among a grant's.
fn position(credentials: &[Tracked], credential: &str) -> Option<usize> {
    credentials
        .iter()
        .position(|t| t.record.credential_id == credential)
}

/// Adds `tracked` to a grant's records, growing the list by one: most grants have one
/// credential, and a list's first push reserves four (600 B, 60 MB with 100,000
/// acting grants). Returns its position.
fn add(credentials: &mut Vec<Tracked>, tracked: Tracked) -> usize {
    credentials.reserve_exact(1);
    credentials.push(tracked);
    credentials.len() - 1
}

/// Activity (grant → its credentials' records) and findings, as in the state topic.
/// Looked up by `&str` without allocating. A grant has few credentials: a list
/// scanned by the record's own credential id costs a third of a map per grant
/// (whose smallest table took 720 B, 68 MB with 100,000 acting grants).
#[derive(Debug, Default)]
pub struct StateStore {
    /// Fx-hashed like the grant index: probed for every grant of every batch, keyed
    /// by grant ids (the operator's, not untrusted input).
    activity: FxHashMap<String, Vec<Tracked>>,
    /// The scope and environment texts the records share (see [`shared`]).
    texts: FxHashSet<Arc<str>>,
    findings: HashMap<(String, String), String>,
    /// Alerts in their dedup window.
    pub alerts: AlertLedger,
    /// Alerts judged here or elsewhere, waiting for the instance that owns them.
    pub relays: Relays,
    /// The last state write begun.
    begun: Round,
}

impl StateStore {
    /// Merges a record read from the state topic; `None` is a tombstone for `key`.
    pub fn merge(&mut self, key: &str, record: Option<StateRecord>) {
        match record {
            Some(StateRecord::Activity(mut a)) => {
                for list in [&mut a.scopes_used, &mut a.environments] {
                    for text in list.iter_mut() {
                        *text = shared(&mut self.texts, text);
                    }
                }
                let credentials = self.activity.entry(a.grant_id.clone()).or_default();
                match position(credentials, &a.credential_id) {
                    Some(i) if a.supersedes(&credentials[i].record) => credentials[i].record = a,
                    Some(_) => {}
                    None => {
                        add(
                            credentials,
                            Tracked {
                                record: a,
                                pending: Pending::default(),
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
            Some(StateRecord::Relay(a)) => self.relays.receive(key.to_owned(), *a),
            None => {
                if is_relay_key(key) {
                    self.relays.admitted_elsewhere(key);
                } else if let Some((rule, grant)) = parse_finding_key(key) {
                    self.findings.remove(&(rule.to_owned(), grant.to_owned()));
                } else if let Some(alert_id) = parse_alert_key(key) {
                    self.alerts.forget(alert_id);
                }
            }
        }
    }

    /// Adds a batch's activity; what changed is written by [`StateStore::encode_changes`].
    pub fn record_batch<'a>(&mut self, activity: impl IntoIterator<Item = GrantActivity<'a>>) {
        for a in activity {
            let credentials = match self.activity.get_mut(a.grant_id) {
                Some(credentials) => credentials,
                None => self.activity.entry(a.grant_id.to_owned()).or_default(),
            };
            let index = match position(credentials, a.credential_id) {
                Some(index) => index,
                None => add(
                    credentials,
                    Tracked {
                        record: ActivityRecord::new(a.grant_id, a.credential_id),
                        pending: Pending::default(),
                    },
                ),
            };
            let tracked = &mut credentials[index];
            let record = &mut tracked.record;
            record.last_seen_ms = record.last_seen_ms.max(a.last_seen_ms);
            record.first_seen_ms = Some(
                record
                    .first_seen_ms
                    .map_or(a.first_seen_ms, |f| f.min(a.first_seen_ms)),
            );
            record.actions_total += a.actions;
            record.out_of_purpose_total += a.flagged;
            for scope in a.scopes_used.iter() {
                insert_sorted(&mut record.scopes_used, scope, &mut self.texts);
            }
            for environment in a.environments.iter() {
                if record.environments.len() < MAX_ENVIRONMENTS {
                    insert_sorted(&mut record.environments, environment, &mut self.texts);
                }
            }
            add_windows(record, a.rate_windows, a.daily_amounts);
            tracked.pending.mark(self.begun + 1);
        }
    }

    /// Begins a state write: it takes the changes made before now (see
    /// [`StateStore::encode_changes`]).
    pub fn begin_round(&mut self) -> Round {
        self.begun += 1;
        self.alerts.begun = self.begun;
        self.relays.begun = self.begun;
        self.begun
    }

    /// Encodes the activity, alert and relay records changed before `round` began
    /// and not yet encoded, with tombstones for the alerts forgotten and the relays
    /// admitted, until `out` holds `limit` records: fewer means the round has
    /// nothing left.
    pub fn encode_changes(&mut self, out: &mut EncodedRecords, round: Round, limit: usize) {
        self.alerts.encode_changes(out, round, limit);
        self.relays.encode_changes(out, round, limit);
        for tracked in self.activity.values_mut().flatten() {
            if out.len() >= limit {
                return;
            }
            if tracked.pending.take(round) {
                let record = &tracked.record;
                out.push(
                    &activity_key(&record.grant_id, &record.credential_id),
                    Some(RecordRef::Activity(record)),
                );
            }
        }
    }

    /// [`StateStore::encode_changes`], decoded again.
    #[cfg(test)]
    pub fn take_changes(&mut self) -> Vec<(String, Option<StateRecord>)> {
        let mut out = EncodedRecords::default();
        let round = self.begin_round();
        self.encode_changes(&mut out, round, usize::MAX);
        out.decoded()
    }

    /// Marks every record to be written again, by any round: a write failed without
    /// saying which records it had taken.
    pub fn mark_all_changed(&mut self) {
        self.alerts.mark_all_changed();
        self.relays.mark_all_changed();
        for tracked in self.activity.values_mut().flatten() {
            tracked.pending.mark(FIRST_ROUND);
        }
    }

    /// Use per grant, over all its credentials.
    pub fn grant_use(&self) -> BTreeMap<&str, GrantUse<'_>> {
        grant_uses(self.records()).into_iter().collect()
    }

    /// Every (grant, credential) activity record.
    pub fn records(&self) -> impl Iterator<Item = &ActivityRecord> {
        self.activity.values().flatten().map(|t| &t.record)
    }

    /// The state tables rules see, as of now.
    pub fn tables(&self) -> Result<StateTables, ArrowError> {
        StateTables::build(&self.records().collect::<Vec<_>>())
    }

    /// The state tables of `grants` only (those a batch is judged against): built for
    /// every batch, so their cost follows the batch, not the number of grants.
    pub fn tables_for(&self, grants: &[&str]) -> Result<StateTables, ArrowError> {
        let records: Vec<&ActivityRecord> = grants
            .iter()
            .filter_map(|g| self.activity.get(*g))
            .flatten()
            .map(|t| &t.record)
            .collect();
        StateTables::build(&records)
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

/// Inserts `value` where it sorts, growing the list by one: most records use a few
/// scopes and one environment, and a list's first insert reserves four (64 B; 6 MB
/// with 100,000 acting grants).
fn insert_sorted(values: &mut Vec<Arc<str>>, value: &str, texts: &mut FxHashSet<Arc<str>>) {
    if let Err(at) = values.binary_search_by(|v| (**v).cmp(value)) {
        values.reserve_exact(1);
        values.insert(at, shared(texts, value));
    }
}

/// `text` as the one shared copy in `texts`. The texts are scope patterns and
/// environment names: few, and bounded as the lists holding them are.
fn shared(texts: &mut FxHashSet<Arc<str>>, text: &str) -> Arc<str> {
    if let Some(shared) = texts.get(text) {
        return Arc::clone(shared);
    }
    let shared: Arc<str> = Arc::from(text);
    texts.insert(Arc::clone(&shared));
    shared
}

/// Adds a batch's window counts, then forgets windows before the previous one: the
/// limits judge the current window, and one back absorbs events that arrive late.
fn add_windows(record: &mut ActivityRecord, windows: &[WindowCount], amounts: &[DailyAmount]) {
    for w in windows {
        let same = |r: &&mut WindowCount| (r.window_ms, r.start_ms) == (w.window_ms, w.start_ms);
        match record.rate_windows.iter_mut().find(same) {
            Some(r) => r.actions += w.actions,
            None => record.rate_windows.push(*w),
        }
    }
    for d in amounts {
        let same = |r: &&mut DailyAmount| (r.day_ms, &r.currency) == (d.day_ms, &d.currency);
        match record.daily_amounts.iter_mut().find(same) {
            Some(r) => r.amount += d.amount,
            None => record.daily_amounts.push(d.clone()),
        }
    }
    let newest = record.last_seen_ms;
    record
        .rate_windows
        .retain(|w| w.start_ms.saturating_add(2 * w.window_ms) > newest);
    record
        .daily_amounts
        .retain(|d| d.day_ms.saturating_add(2 * DAY_MS) > newest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::Texts;
    use crate::state::record::finding_key;
    use datafusion::arrow::array::{AsArray, StringArray};
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};

    /// Records that `credential` of grant `g` took `actions` up to `last`, one
    /// flagged, using scope `GET /x`.
    fn record(store: &mut StateStore, credential: &str, actions: u64, last: i64) {
        let scopes = StringArray::from(vec!["GET /x"]);
        store.record_batch([GrantActivity {
            actions,
            flagged: 1,
            last_seen_ms: last,
            scopes_used: Texts::new(&scopes, &[0]),
            ..GrantActivity::new("g", credential)
        }]);
    }

    #[test]
    fn activity_accumulates_and_merging_is_idempotent() {
        let mut local = StateStore::default();
        record(&mut local, "c1", 2, 100);
        record(&mut local, "c1", 3, 50);
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
                last_seen_ms: 10,
                actions_total: 1,
                ..ActivityRecord::new("g", "c1")
            })),
        );
        record(&mut remote, "c2", 1, 300);
        let uses = remote.grant_use();
        let g = &uses["g"];
        assert_eq!(
            (g.last_seen_ms, g.actions_total, g.out_of_purpose_total),
            (Some(300), 6, 3)
        );
        assert_eq!(
            remote.tables().expect("tables").grant_activity.num_rows(),
            1
        );
    }

    #[test]
    fn a_round_takes_the_changes_before_it_a_chunk_at_a_time() {
        let mut store = StateStore::default();
        for credential in ["c1", "c2", "c3"] {
            record(&mut store, credential, 1, 100);
        }
        let round = store.begin_round();
        record(&mut store, "c4", 1, 100);
        let chunk = |store: &mut StateStore, round: Round| {
            let mut out = EncodedRecords::default();
            store.encode_changes(&mut out, round, 2);
            out.len()
        };
        let chunks = [1, 2, 3].map(|_| chunk(&mut store, round));
        assert_eq!(chunks, [2, 1, 0], "c4 changed after the round began");
        assert_eq!(store.take_changes().len(), 1, "the next round takes c4");
        store.mark_all_changed();
        let all = [1, 2, 3].map(|_| chunk(&mut store, round));
        assert_eq!(all, [2, 2, 0], "after a failed write, any round takes all");
    }

    #[test]
    fn windows_add_up_across_batches_and_credentials_and_old_ones_are_forgotten() {
        const HOUR: i64 = 3_600_000;
        let environments = StringArray::from(vec!["prod"]);
        let used =
            |store: &mut StateStore, credential: &str, at: i64, actions: u64, amount: f64| {
                store.record_batch([GrantActivity {
                    actions,
                    last_seen_ms: at,
                    environments: Texts::new(&environments, &[0]),
                    rate_windows: &[WindowCount {
                        window_ms: HOUR,
                        start_ms: at - at % HOUR,
                        actions,
                    }],
                    daily_amounts: &[DailyAmount {
                        day_ms: at - at % DAY_MS,
                        currency: Some("EUR".into()),
                        amount,
                    }],
                    ..GrantActivity::new("g", credential)
                }]);
            };
        let mut store = StateStore::default();
        used(&mut store, "c1", 10 * HOUR + 1, 2, 10.0);
        used(&mut store, "c1", 10 * HOUR + 2, 3, 5.0);
        used(&mut store, "c2", 10 * HOUR + 3, 1, 1.5);
        let tables = store.tables().expect("tables");
        let windows = &tables.grant_rate_windows;
        assert_eq!(windows.num_rows(), 1);
        assert_eq!(
            windows.column(3).as_primitive::<Int64Type>().value(0),
            6,
            "summed over batches and credentials"
        );
        let amounts = tables.grant_daily_amounts.column(3);
        assert_eq!(amounts.as_primitive::<Float64Type>().value(0), 16.5);
        // Two hours later the 10:00 window is gone; the day is kept.
        used(&mut store, "c1", 12 * HOUR, 1, 1.0);
        let record = store
            .records()
            .find(|r| r.credential_id == "c1")
            .expect("c1");
        assert_eq!(
            record
                .rate_windows
                .iter()
                .map(|w| w.start_ms)
                .collect::<Vec<_>>(),
            [12 * HOUR]
        );
        assert_eq!(record.daily_amounts.len(), 1);
        assert_eq!(record.environments, [Arc::from("prod")]);
    }

    #[test]
    fn records_written_before_windows_existed_still_read() {
        let old = r#"{"kind":"activity","grant_id":"g","credential_id":"c","last_seen_ms":5,
            "actions_total":1,"out_of_purpose_total":0,"scopes_used":["GET /x"]}"#;
        let Ok(StateRecord::Activity(record)) = serde_json::from_str(old) else {
            panic!("old record unreadable");
        };
        assert!(record.environments.is_empty() && record.rate_windows.is_empty());
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
