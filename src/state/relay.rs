//! Relayed alerts: one instance's share of a misuse, on its way to the instance that
//! reports it. The events of one misuse can reach several instances of a group (a
//! grant's credentials land on different partitions); were each to deliver what it
//! saw, one alert would reach the sinks under two ids or with two partial counts.
//! So only the instance owning an alert group's partition keeps it in its ledger and
//! delivers it. Any other instance writes its batch's alerts of that group to the
//! state topic as relays; the owner admits them into its ledger as it would its own
//! batch's, delivers, and writes a tombstone for each, which every instance then
//! drops. A relay waits in the topic until some owner admits it, so a rebalance or a
//! crash loses none: an instance that comes to own a group admits what waits for it.
//!
//! A relay's key is made from what it holds (the relaying batch's alert id, its
//! first event and its count), so a batch re-read after a crash writes the same keys
//! again, and the ledger recognises events it has counted.

use std::collections::HashMap;

use super::encoded::{EncodedRecords, RecordRef};
use super::pending::{FIRST_ROUND, Pending, Round};
use super::record::relay_key;
use crate::alerts::Alert;

#[derive(Debug)]
struct Waiting {
    alert: Alert,
    /// Whether this process wrote it.
    own: bool,
    /// Whether this process still has to write it.
    pending: Pending,
}

/// Relays waiting for their owner: this process's and those read from the topic.
#[derive(Debug, Default)]
pub struct Relays {
    waiting: HashMap<String, Waiting>,
    /// Keys admitted here whose tombstones are still to be written.
    admitted: Vec<String>,
    /// The last state write begun (the store's).
    pub(super) begun: Round,
}

impl Relays {
    /// Relays `alerts`, judged here but owned elsewhere: written by the next round.
    pub fn send(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            let key = relay_key(
                &alert.alert_id,
                alert.event_ids.first().map_or("", String::as_str),
                alert.count,
            );
            let mut pending = Pending::default();
            pending.mark(self.begun + 1);
            self.waiting.insert(
                key,
                Waiting {
                    alert,
                    own: true,
                    pending,
                },
            );
        }
    }

    /// Takes the waiting relays whose group `owns` says is this instance's, to admit
    /// into the ledger; their tombstones go with the next round.
    pub fn take_owned(&mut self, owns: impl Fn(&str) -> bool) -> Vec<Alert> {
        let keys: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| owns(&w.alert.group))
            .map(|(key, _)| key.clone())
            .collect();
        let mut taken = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(waiting) = self.waiting.remove(&key) {
                taken.push(waiting.alert);
                self.admitted.push(key);
            }
        }
        taken
    }

    /// How many relays wait for an owner.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no relay waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// A relay another instance wrote.
    pub(super) fn receive(&mut self, key: String, alert: Alert) {
        self.waiting.entry(key).or_insert(Waiting {
            alert,
            own: false,
            pending: Pending::default(),
        });
    }

    /// A relay some owner admitted (its tombstone).
    pub(super) fn admitted_elsewhere(&mut self, key: &str) {
        self.waiting.remove(key);
    }

    /// Marks this process's relays to be written again, by any round.
    pub(super) fn mark_all_changed(&mut self) {
        for waiting in self.waiting.values_mut().filter(|w| w.own) {
            waiting.pending.mark(FIRST_ROUND);
        }
    }

    /// Encodes the tombstones of admitted relays, then this process's relays made
    /// before `round` began, until `out` holds `limit` records.
    pub(super) fn encode_changes(&mut self, out: &mut EncodedRecords, round: Round, limit: usize) {
        while out.len() < limit
            && let Some(key) = self.admitted.pop()
        {
            out.push(&key, None);
        }
        for (key, waiting) in &mut self.waiting {
            if out.len() >= limit {
                return;
            }
            if waiting.pending.take(round) {
                out.push(key, Some(RecordRef::Relay(&waiting.alert)));
            }
        }
    }
}
