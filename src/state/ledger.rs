//! The alert ledger: alerts raised in their dedup window. An alert id stands for a
//! rule, a group key and a session of events each within `alerts.dedup_window` of the
//! one before; the ledger keeps each group's sessions, so a repeat in a later batch
//! (or a batch re-read after a restart) takes the same id: it
//! updates the ledger's count, first and last seen instead of raising the alert
//! again. Sinks see an alert when it is new or its severity rose, and an update
//! (same id, cumulative count) at most once per update interval while it grows.
//! The ledger is part of the state topic, so a restart never replays an alert storm.
//!
//! Alerts are kept as their JSON (~0.8 KB), decoded only when one repeats or is
//! sent again: as structs of a dozen small strings they took ~1.4 KB each, and with
//! the 35,000 alerts of a 2M-event drain the peak RSS fell ~15 MiB (BENCHMARKS.md).

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::encoded::{EncodedRecords, KeptAlert, RecordRef};
use super::pending::{FIRST_ROUND, Pending, Round};
use super::record::{AlertRecord, alert_key};
use crate::alerts::{Alert, MAX_EVENT_IDS, MAX_SAMPLE_ACTIONS};

#[derive(Debug)]
struct Entry {
    /// The alert with its cumulative count, first and last seen, as JSON.
    alert: Box<RawValue>,
    /// Its count, for deciding without decoding it.
    count: u64,
    /// The count the sinks last saw.
    sent_count: u64,
    /// When the sinks last saw it (epoch ms, wall clock).
    sent_at_ms: i64,
    /// Wall-clock ms of the last repeat, for pruning.
    touched_ms: i64,
    pending: Pending,
    /// Its group (`Alert::group`): whether this instance reports it.
    group: Box<str>,
}

impl Entry {
    /// An entry for `alert`, changed since written as `pending` says.
    fn new(
        alert: &Alert,
        (sent_count, sent_at_ms): (u64, i64),
        touched_ms: i64,
        pending: Pending,
    ) -> Option<Self> {
        Some(Self {
            alert: encode(alert)?,
            count: alert.count,
            sent_count,
            sent_at_ms,
            touched_ms,
            pending,
            group: alert.group.as_str().into(),
        })
    }

    /// Whether this instance reports it: `owns` its group, or it has none (kept
    /// before alerts had groups).
    fn reported_here(&self, owns: &impl Fn(&str) -> bool) -> bool {
        self.group.is_empty() || owns(&self.group)
    }

    fn alert(&self) -> Option<Alert> {
        serde_json::from_str(self.alert.get())
            .inspect_err(|error| tracing::error!(%error, "Could not decode a kept alert."))
            .ok()
    }
}

/// An alert as the ledger keeps it. Its fields are strings and numbers, which always
/// encode; were one not to, the alert is still sent, only not kept (a repeat would
/// raise it again).
fn encode(alert: &Alert) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(alert)
        .inspect_err(
            |error| tracing::error!(%error, alert_id = alert.alert_id, "Could not keep an alert."),
        )
        .ok()
}

/// One session of an alert group: the alert it is, and its events' time span.
#[derive(Debug, Clone)]
struct Session {
    alert_id: String,
    first_ms: i64,
    last_ms: i64,
}

/// Alerts in their dedup window, by id.
#[derive(Debug, Default)]
pub struct AlertLedger {
    entries: HashMap<String, Entry>,
    /// The sessions of each alert group (`Alert::group`) the ledger keeps, so that a
    /// batch's alert continuing one takes its id. Rebuilt from the kept alerts.
    sessions: HashMap<String, Vec<Session>>,
    forgotten: Vec<String>,
    /// The last state write begun (the store's).
    pub(super) begun: Round,
}

fn rank(severity: &str) -> u8 {
    match severity {
        "info" => 0,
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// An alert's first and last event times in epoch ms, when it belongs to a group
/// (scheduled findings do not: their id is their condition).
fn span(alert: &Alert) -> Option<(i64, i64)> {
    if alert.group.is_empty() {
        return None;
    }
    let ms = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    Some((ms(&alert.first_seen)?, ms(&alert.last_seen)?))
}

/// Folds a repeat into the alert it repeats.
fn fold(into: &mut Alert, repeat: Alert) {
    let known = into.event_ids.len();
    let new: Vec<String> = repeat
        .event_ids
        .iter()
        .filter(|id| !into.event_ids.contains(id))
        .cloned()
        .collect();
    // Events of a re-read batch are already counted; a repeat's events past its
    // capped ids cannot be recognised, and count as new.
    let known_again = (repeat.event_ids.len() - new.len()) as u64;
    into.count += repeat.count.saturating_sub(known_again);
    into.event_ids
        .extend(new.into_iter().take(MAX_EVENT_IDS.saturating_sub(known)));
    for action in repeat.sample_actions {
        if into.sample_actions.len() < MAX_SAMPLE_ACTIONS && !into.sample_actions.contains(&action)
        {
            into.sample_actions.push(action);
        }
    }
    // RFC 3339 in UTC with fixed precision orders as text.
    into.first_seen = into.first_seen.clone().min(repeat.first_seen);
    into.last_seen = into.last_seen.clone().max(repeat.last_seen);
    if rank(&repeat.severity) > rank(&into.severity) {
        into.severity = repeat.severity;
    }
}

impl AlertLedger {
    /// Records a batch's alerts and returns those the sinks must see now: the new
    /// ones, and known ones whose severity rose (with their cumulative count). An
    /// alert whose events come within `window_ms` of a kept session of its group
    /// continues that session, under its id.
    pub fn admit(&mut self, alerts: Vec<Alert>, now_ms: i64, window_ms: i64) -> Vec<Alert> {
        let mut notify = Vec::new();
        for mut alert in alerts {
            self.continue_session(&mut alert, window_ms);
            let changed = self.changed();
            let known = self.entries.get_mut(&alert.alert_id).and_then(|entry| {
                let known = entry.alert()?;
                Some((entry, known))
            });
            let Some((entry, mut known)) = known else {
                let sent = (alert.count, now_ms);
                if let Some(entry) = Entry::new(&alert, sent, now_ms, changed) {
                    self.entries.insert(alert.alert_id.clone(), entry);
                }
                notify.push(alert);
                continue;
            };
            let rose = rank(&alert.severity) > rank(&known.severity);
            fold(&mut known, alert);
            let sent = if rose {
                (known.count, now_ms)
            } else {
                (entry.sent_count, entry.sent_at_ms)
            };
            let mut pending = entry.pending;
            pending.mark(self.begun + 1);
            if let Some(updated) = Entry::new(&known, sent, now_ms, pending) {
                *entry = updated;
            }
            if rose {
                notify.push(known);
            }
        }
        notify
    }

    /// Gives `alert` the id of the kept session of its group its events are within
    /// `window_ms` of, widening that session; else makes it a session of its own.
    fn continue_session(&mut self, alert: &mut Alert, window_ms: i64) {
        let Some((first_ms, last_ms)) = span(alert) else {
            return;
        };
        let sessions = self.sessions.entry(alert.group.clone()).or_default();
        let near = sessions
            .iter_mut()
            .find(|s| first_ms - s.last_ms <= window_ms && s.first_ms - last_ms <= window_ms);
        match near {
            Some(session) => {
                alert.alert_id.clone_from(&session.alert_id);
                session.first_ms = session.first_ms.min(first_ms);
                session.last_ms = session.last_ms.max(last_ms);
            }
            None => sessions.push(Session {
                alert_id: alert.alert_id.clone(),
                first_ms,
                last_ms,
            }),
        }
    }

    /// Indexes the session of a kept alert read from the state topic.
    fn index_session(&mut self, alert: &Alert) {
        let Some((first_ms, last_ms)) = span(alert) else {
            return;
        };
        let sessions = self.sessions.entry(alert.group.clone()).or_default();
        sessions.retain(|s| s.alert_id != alert.alert_id);
        sessions.push(Session {
            alert_id: alert.alert_id.clone(),
            first_ms,
            last_ms,
        });
    }

    /// Drops the sessions of alerts no longer kept.
    fn drop_forgotten_sessions(&mut self) {
        let entries = &self.entries;
        self.sessions.retain(|_, sessions| {
            sessions.retain(|s| entries.contains_key(&s.alert_id));
            !sessions.is_empty()
        });
    }

    /// Alerts whose count grew since the sinks last saw them, at least `every_ms`
    /// ago: sent again under the same id as updates. Only those whose group `owns`
    /// says is this instance's: another instance's alerts are its to send.
    pub fn updates_due(
        &mut self,
        now_ms: i64,
        every_ms: i64,
        owns: impl Fn(&str) -> bool,
    ) -> Vec<Alert> {
        let mut updates = Vec::new();
        for entry in self.entries.values_mut() {
            if entry.count > entry.sent_count
                && now_ms - entry.sent_at_ms >= every_ms
                && entry.reported_here(&owns)
            {
                entry.sent_count = entry.count;
                entry.sent_at_ms = now_ms;
                entry.pending.mark(self.begun + 1);
                updates.extend(entry.alert());
            }
        }
        updates
    }

    /// Every alert in its window with its cumulative count, by id: what a consumer
    /// that upserts the sinks' alerts by id holds (`replay` writes it).
    pub fn alerts(&self) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self.entries.values().filter_map(Entry::alert).collect();
        alerts.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
        alerts
    }

    /// Forgets alerts not repeated for `keep_ms` whose last count was sent: their
    /// window is over. Only those `owns` says are this instance's: another's are
    /// forgotten when its tombstone arrives.
    pub fn prune(&mut self, now_ms: i64, keep_ms: i64, owns: impl Fn(&str) -> bool) {
        let forgotten = &mut self.forgotten;
        self.entries.retain(|id, entry| {
            let done = entry.count == entry.sent_count && entry.reported_here(&owns);
            let keep = !done || now_ms - entry.touched_ms < keep_ms;
            if !keep {
                forgotten.push(id.clone());
            }
            keep
        });
        self.drop_forgotten_sessions();
    }

    /// Merges a record from the state topic (the larger count wins).
    pub(super) fn merge(&mut self, record: AlertRecord, now_ms: i64) {
        let known = self.entries.get(&record.alert.alert_id);
        if known.is_some_and(|entry| entry.count >= record.alert.count) {
            return;
        }
        // It grew: the instance reporting it saw a repeat now.
        let pending = known.map_or(Pending::default(), |e| e.pending);
        let sent = (record.sent_count, record.sent_at_ms);
        if let Some(entry) = Entry::new(&record.alert, sent, now_ms, pending) {
            self.index_session(&record.alert);
            self.entries.insert(record.alert.alert_id, entry);
        }
    }

    /// A change made now: the next round to begin takes it.
    fn changed(&self) -> Pending {
        let mut pending = Pending::default();
        pending.mark(self.begun + 1);
        pending
    }

    /// Marks every alert to be written again, by any round.
    pub(super) fn mark_all_changed(&mut self) {
        for entry in self.entries.values_mut() {
            entry.pending.mark(FIRST_ROUND);
        }
    }

    /// Forgets an alert another instance (or this one, before a restart) forgot.
    pub(super) fn forget(&mut self, alert_id: &str) {
        let Some(alert) = self.entries.remove(alert_id).and_then(|e| e.alert()) else {
            return;
        };
        if let Some(sessions) = self.sessions.get_mut(&alert.group) {
            sessions.retain(|s| s.alert_id != alert_id);
            if sessions.is_empty() {
                self.sessions.remove(&alert.group);
            }
        }
    }

    /// Encodes the tombstones, then what changed before `round` began and is not yet
    /// encoded, until `out` holds `limit` records.
    pub(super) fn encode_changes(&mut self, out: &mut EncodedRecords, round: Round, limit: usize) {
        while out.len() < limit
            && let Some(id) = self.forgotten.pop()
        {
            out.push(&alert_key(&id), None);
        }
        for (id, entry) in &mut self.entries {
            if out.len() >= limit {
                return;
            }
            if !entry.pending.take(round) {
                continue;
            }
            let kept = KeptAlert {
                alert: &entry.alert,
                sent_count: entry.sent_count,
                sent_at_ms: entry.sent_at_ms,
            };
            out.push(&alert_key(id), Some(RecordRef::KeptAlert(kept)));
        }
    }

    #[cfg(test)]
    pub(super) fn take_changes(&mut self) -> Vec<(String, Option<super::StateRecord>)> {
        let mut out = EncodedRecords::default();
        self.begun += 1;
        self.encode_changes(&mut out, self.begun, usize::MAX);
        out.decoded()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateRecord;

    fn alert(id: &str, events: &[&str], last_seen: &str) -> Alert {
        Alert {
            alert_id: id.into(),
            first_seen: last_seen.into(),
            last_seen: last_seen.into(),
            count: events.len() as u64,
            event_ids: events.iter().map(|e| e.to_string()).collect(),
            ..Alert::example()
        }
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_session_continues_across_batches_and_a_pause_starts_a_new_one() {
        let mut ledger = AlertLedger::default();
        let grouped = |id: &str, event: &str, at: &str| Alert {
            group: "g".into(),
            ..alert(id, &[event], at)
        };
        let admit = |ledger: &mut AlertLedger, alert: Alert| ledger.admit(vec![alert], 0, HOUR);
        assert_eq!(
            admit(&mut ledger, grouped("s1", "e1", "2026-11-30T09:00:00.000Z")).len(),
            1
        );
        // Later batches' alerts, each given its own id by the builder, continue s1
        // while each comes within the window of the last: across the fixed hour too.
        assert!(admit(&mut ledger, grouped("s2", "e2", "2026-11-30T09:50:00.000Z")).is_empty());
        assert!(admit(&mut ledger, grouped("s3", "e3", "2026-11-30T10:45:00.000Z")).is_empty());
        // After a pause longer than the window the same misuse is a new alert.
        let again = admit(&mut ledger, grouped("s4", "e4", "2026-11-30T12:00:00.000Z"));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].alert_id, "s4");
        let s1 = ledger
            .alerts()
            .into_iter()
            .find(|a| a.alert_id == "s1")
            .unwrap();
        assert_eq!(
            (s1.count, s1.last_seen.as_str()),
            (3, "2026-11-30T10:45:00.000Z")
        );

        // A restart reads the kept alerts back from the state topic, sessions with them.
        let mut restored = AlertLedger::default();
        for (_, record) in ledger.take_changes() {
            if let Some(StateRecord::Alert(record)) = record {
                restored.merge(*record, 0);
            }
        }
        assert!(
            admit(
                &mut restored,
                grouped("s5", "e5", "2026-11-30T12:30:00.000Z")
            )
            .is_empty()
        );
        let s4 = restored
            .alerts()
            .into_iter()
            .find(|a| a.alert_id == "s4")
            .unwrap();
        assert_eq!(s4.count, 2);
        restored.forget("s4");
        assert_eq!(
            admit(
                &mut restored,
                grouped("s6", "e6", "2026-11-30T12:40:00.000Z")
            )
            .len(),
            1
        );
    }

    #[test]
    fn repeats_update_instead_of_raising_again() {
        let mut ledger = AlertLedger::default();
        let t1 = "2026-11-30T09:00:01.000Z";
        let t2 = "2026-11-30T09:00:05.000Z";
        assert_eq!(
            ledger.admit(vec![alert("a", &["e1"], t1)], 0, HOUR).len(),
            1
        );
        // A later batch repeats it, and a re-read batch repeats e1 itself.
        assert!(
            ledger
                .admit(vec![alert("a", &["e2", "e3"], t2)], 10, HOUR)
                .is_empty()
        );
        assert!(
            ledger
                .admit(vec![alert("a", &["e1"], t1)], 20, HOUR)
                .is_empty()
        );
        assert!(
            ledger.updates_due(30, 60_000, |_| true).is_empty(),
            "not yet"
        );
        let updates = ledger.updates_due(60_000, 60_000, |_| true);
        assert_eq!(updates.len(), 1);
        let a = &updates[0];
        assert_eq!(
            (a.count, a.first_seen.as_str(), a.last_seen.as_str()),
            (3, t1, t2)
        );
        assert!(
            ledger.updates_due(200_000, 60_000, |_| true).is_empty(),
            "nothing new"
        );
        // A rise in severity notifies at once.
        let mut critical = alert("a", &["e4"], t2);
        critical.severity = "critical".into();
        let again = ledger.admit(vec![critical], 200_001, HOUR);
        assert_eq!((again.len(), again[0].count), (1, 4));
    }

    #[test]
    fn kept_alerts_are_written_as_alert_records() {
        let mut ledger = AlertLedger::default();
        let raised = alert("a", &["e1"], "2026-11-30T09:00:01.000Z");
        ledger.admit(vec![raised.clone()], 7, HOUR);
        let mut out = EncodedRecords::default();
        ledger.encode_changes(&mut out, 1, usize::MAX);
        let record = StateRecord::Alert(Box::new(AlertRecord {
            alert: raised,
            sent_count: 1,
            sent_at_ms: 7,
        }));
        let expected = serde_json::to_vec(&record).expect("json");
        let written: Vec<_> = out.iter().collect();
        assert_eq!(
            written,
            [(alert_key("a").as_bytes(), Some(expected.as_slice()))]
        );
    }

    #[test]
    fn the_ledger_survives_through_its_records_and_forgets_old_alerts() {
        let mut ledger = AlertLedger::default();
        ledger.admit(
            vec![alert("a", &["e1"], "2026-11-30T09:00:01.000Z")],
            0,
            HOUR,
        );
        let changes = ledger.take_changes();
        let mut restarted = AlertLedger::default();
        for (_, record) in changes {
            if let Some(StateRecord::Alert(r)) = record {
                restarted.merge(*r, 5);
            }
        }
        assert!(
            restarted
                .admit(
                    vec![alert("a", &["e1"], "2026-11-30T09:00:01.000Z")],
                    10,
                    HOUR
                )
                .is_empty(),
            "a re-read batch after a restart raises nothing"
        );
        restarted.prune(10 + 3_600_000, 3_600_000, |_| true);
        assert_eq!(
            restarted.take_changes(),
            vec![(alert_key("a"), None)],
            "forgotten with a tombstone"
        );
    }
}
