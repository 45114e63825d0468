//! The alert ledger: alerts raised in their dedup window. An alert id stands for a
//! rule, a group key and an event-time window (`alerts.dedup_window`), so a repeat
//! in a later batch (or a batch re-read after a restart) carries the same id: it
//! updates the ledger's count, first and last seen instead of raising the alert
//! again. Sinks see an alert when it is new or its severity rose, and an update
//! (same id, cumulative count) at most once per update interval while it grows.
//! The ledger is part of the state topic, so a restart never replays an alert storm.

use std::collections::HashMap;

use super::encoded::{EncodedRecords, RecordRef};
use super::record::{AlertRecord, alert_key};
use crate::alerts::Alert;

/// Event ids kept per alert; `count` stays exact beyond it.
const MAX_EVENT_IDS: usize = 100;

#[derive(Debug)]
struct Entry {
    record: AlertRecord,
    /// Wall-clock ms of the last repeat, for pruning.
    touched_ms: i64,
    dirty: bool,
}

/// Alerts in their dedup window, by id.
#[derive(Debug, Default)]
pub struct AlertLedger {
    entries: HashMap<String, Entry>,
    forgotten: Vec<String>,
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

/// Folds a repeat into the alert it repeats.
fn fold(into: &mut Alert, repeat: Alert) {
    let known = into.event_ids.len();
    let new: Vec<String> = repeat
        .event_ids
        .into_iter()
        .filter(|id| !into.event_ids.contains(id))
        .collect();
    // Events of a re-read batch are already counted.
    into.count += (new.len() as u64).min(repeat.count);
    into.event_ids
        .extend(new.into_iter().take(MAX_EVENT_IDS.saturating_sub(known)));
    // RFC 3339 in UTC with fixed precision orders as text.
    into.first_seen = into.first_seen.clone().min(repeat.first_seen);
    into.last_seen = into.last_seen.clone().max(repeat.last_seen);
    if rank(&repeat.severity) > rank(&into.severity) {
        into.severity = repeat.severity;
    }
}

impl AlertLedger {
    /// Records a batch's alerts and returns those the sinks must see now: the new
    /// ones, and known ones whose severity rose (with their cumulative count).
    pub fn admit(&mut self, alerts: Vec<Alert>, now_ms: i64) -> Vec<Alert> {
        let mut notify = Vec::new();
        for alert in alerts {
            match self.entries.get_mut(&alert.alert_id) {
                None => {
                    self.entries.insert(
                        alert.alert_id.clone(),
                        Entry {
                            record: AlertRecord {
                                sent_count: alert.count,
                                sent_at_ms: now_ms,
                                alert: alert.clone(),
                            },
                            touched_ms: now_ms,
                            dirty: true,
                        },
                    );
                    notify.push(alert);
                }
                Some(entry) => {
                    let rose = rank(&alert.severity) > rank(&entry.record.alert.severity);
                    fold(&mut entry.record.alert, alert);
                    entry.touched_ms = now_ms;
                    entry.dirty = true;
                    if rose {
                        entry.record.sent_count = entry.record.alert.count;
                        entry.record.sent_at_ms = now_ms;
                        notify.push(entry.record.alert.clone());
                    }
                }
            }
        }
        notify
    }

    /// Alerts whose count grew since the sinks last saw them, at least `every_ms`
    /// ago: sent again under the same id as updates.
    pub fn updates_due(&mut self, now_ms: i64, every_ms: i64) -> Vec<Alert> {
        let mut updates = Vec::new();
        for entry in self.entries.values_mut() {
            let r = &mut entry.record;
            if r.alert.count > r.sent_count && now_ms - r.sent_at_ms >= every_ms {
                r.sent_count = r.alert.count;
                r.sent_at_ms = now_ms;
                entry.dirty = true;
                updates.push(r.alert.clone());
            }
        }
        updates
    }

    /// Forgets alerts not repeated for `keep_ms` whose last count was sent: their
    /// window is over.
    pub fn prune(&mut self, now_ms: i64, keep_ms: i64) {
        let forgotten = &mut self.forgotten;
        self.entries.retain(|id, entry| {
            let done = entry.record.alert.count == entry.record.sent_count;
            let keep = !done || now_ms - entry.touched_ms < keep_ms;
            if !keep {
                forgotten.push(id.clone());
            }
            keep
        });
    }

    /// Merges a record from the state topic (the larger count wins).
    pub(super) fn merge(&mut self, record: AlertRecord, now_ms: i64) {
        match self.entries.get_mut(&record.alert.alert_id) {
            Some(entry) if entry.record.alert.count >= record.alert.count => {}
            Some(entry) => entry.record = record,
            None => {
                self.entries.insert(
                    record.alert.alert_id.clone(),
                    Entry {
                        record,
                        touched_ms: now_ms,
                        dirty: false,
                    },
                );
            }
        }
    }

    /// Forgets an alert another instance (or this one, before a restart) forgot.
    pub(super) fn forget(&mut self, alert_id: &str) {
        self.entries.remove(alert_id);
    }

    /// Encodes what changed since the last call: tombstones, then records.
    pub(super) fn encode_changes(&mut self, out: &mut EncodedRecords) {
        for id in self.forgotten.drain(..) {
            out.push(&alert_key(&id), None);
        }
        for entry in self.entries.values_mut().filter(|e| e.dirty) {
            entry.dirty = false;
            let record = &entry.record;
            out.push(
                &alert_key(&record.alert.alert_id),
                Some(RecordRef::Alert(record)),
            );
        }
    }

    #[cfg(test)]
    pub(super) fn take_changes(&mut self) -> Vec<(String, Option<super::StateRecord>)> {
        let mut out = EncodedRecords::default();
        self.encode_changes(&mut out);
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

    #[test]
    fn repeats_update_instead_of_raising_again() {
        let mut ledger = AlertLedger::default();
        let t1 = "2026-11-30T09:00:01.000Z";
        let t2 = "2026-11-30T09:00:05.000Z";
        assert_eq!(ledger.admit(vec![alert("a", &["e1"], t1)], 0).len(), 1);
        // A later batch repeats it, and a re-read batch repeats e1 itself.
        assert!(
            ledger
                .admit(vec![alert("a", &["e2", "e3"], t2)], 10)
                .is_empty()
        );
        assert!(ledger.admit(vec![alert("a", &["e1"], t1)], 20).is_empty());
        assert!(ledger.updates_due(30, 60_000).is_empty(), "not yet");
        let updates = ledger.updates_due(60_000, 60_000);
        assert_eq!(updates.len(), 1);
        let a = &updates[0];
        assert_eq!(
            (a.count, a.first_seen.as_str(), a.last_seen.as_str()),
            (3, t1, t2)
        );
        assert!(
            ledger.updates_due(200_000, 60_000).is_empty(),
            "nothing new"
        );
        // A rise in severity notifies at once.
        let mut critical = alert("a", &["e4"], t2);
        critical.severity = "critical".into();
        let again = ledger.admit(vec![critical], 200_001);
        assert_eq!((again.len(), again[0].count), (1, 4));
    }

    #[test]
    fn the_ledger_survives_through_its_records_and_forgets_old_alerts() {
        let mut ledger = AlertLedger::default();
        ledger.admit(vec![alert("a", &["e1"], "2026-11-30T09:00:01.000Z")], 0);
        let changes = ledger.take_changes();
        let mut restarted = AlertLedger::default();
        for (_, record) in changes {
            if let Some(StateRecord::Alert(r)) = record {
                restarted.merge(*r, 5);
            }
        }
        assert!(
            restarted
                .admit(vec![alert("a", &["e1"], "2026-11-30T09:00:01.000Z")], 10)
                .is_empty(),
            "a re-read batch after a restart raises nothing"
        );
        restarted.prune(10 + 3_600_000, 3_600_000);
        assert_eq!(
            restarted.take_changes(),
            vec![(alert_key("a"), None)],
            "forgotten with a tombstone"
        );
    }
}
