//! What the state topic holds: one record per (grant, credential) activity and one
//! per scheduled finding in force, keyed so that compaction keeps only the latest.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::activity::{DailyAmount, WindowCount};
use crate::alerts::Alert;

/// Cumulative activity of one credential under one grant. Only the instance owning
/// the credential's partition writes it, so totals only grow. Fields added after the
/// first release default when an older record is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRecord {
    /// The grant.
    pub grant_id: String,
    /// The credential.
    pub credential_id: String,
    /// Latest event time (epoch ms).
    pub last_seen_ms: i64,
    /// Earliest event time (epoch ms): where the baseline starts.
    #[serde(default)]
    pub first_seen_ms: Option<i64>,
    /// Actions taken.
    pub actions_total: u64,
    /// Of those, flagged by a rule above info.
    pub out_of_purpose_total: u64,
    /// Action patterns of the scopes used, sorted. Shared: every credential of a
    /// grant set names the same few patterns (a copy per record was 18 MB with
    /// 100,000 grants).
    #[serde(with = "shared_strings")]
    pub scopes_used: Vec<Arc<str>>,
    /// Environments it acted in, sorted (at most `MAX_ENVIRONMENTS`), shared.
    #[serde(default, with = "shared_strings")]
    pub environments: Vec<Arc<str>>,
    /// Actions per rate window, for grants with a `rate_limit`: recent windows only.
    #[serde(default)]
    pub rate_windows: Vec<WindowCount>,
    /// Money moved per UTC day and currency, for grants with a `max_daily_amount`:
    /// recent days only.
    #[serde(default)]
    pub daily_amounts: Vec<DailyAmount>,
}

/// Lists of shared strings as lists of strings (serde's `Arc` support is a crate
/// feature that would rebuild the dependency tree).
mod shared_strings {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[Arc<str>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(values.iter().map(|v| &**v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Arc<str>>, D::Error> {
        let values = Vec::<String>::deserialize(d)?;
        Ok(values.into_iter().map(Arc::from).collect())
    }
}

/// Environments remembered per credential: a credential in more than a handful is
/// already the finding; the bound keeps a misbehaving one from growing the state.
pub const MAX_ENVIRONMENTS: usize = 32;

impl ActivityRecord {
    /// A credential's record before its first action.
    pub fn new(grant_id: &str, credential_id: &str) -> Self {
        Self {
            grant_id: grant_id.to_owned(),
            credential_id: credential_id.to_owned(),
            last_seen_ms: i64::MIN,
            first_seen_ms: None,
            actions_total: 0,
            out_of_purpose_total: 0,
            scopes_used: Vec::new(),
            environments: Vec::new(),
            rate_windows: Vec::new(),
            daily_amounts: Vec::new(),
        }
    }

    /// Whether `self` has seen at least what `other` has (the later of two writes).
    pub fn supersedes(&self, other: &Self) -> bool {
        (self.actions_total, self.last_seen_ms) >= (other.actions_total, other.last_seen_ms)
    }
}

/// A scheduled finding that fired and is still in force for a grant: it fires again
/// only when its condition changes (or after it cleared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// The rule.
    pub rule: String,
    /// The grant.
    pub grant_id: String,
    /// The rule's group key values, joined: what "the same condition" means.
    pub condition: String,
}

/// An alert already raised in its dedup window: repeats update it instead of
/// raising it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The alert with its cumulative count, first and last seen.
    pub alert: Alert,
    /// The count the sinks last saw.
    pub sent_count: u64,
    /// When the sinks last saw it (epoch ms, wall clock).
    pub sent_at_ms: i64,
}

/// One entry of the state topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StateRecord {
    /// Grant activity.
    Activity(ActivityRecord),
    /// A finding in force.
    Finding(FindingRecord),
    /// An alert in its dedup window (boxed: far larger than the others).
    Alert(Box<AlertRecord>),
    /// A batch's alert judged by an instance that does not own its group, waiting
    /// for the one that does (`state::Relays`).
    Relay(Box<Alert>),
}

/// Separates key parts; cannot occur in YAML-typed ids by accident.
const SEP: char = '\u{1f}';

impl StateRecord {
    /// The compaction key.
    pub fn key(&self) -> String {
        match self {
            Self::Activity(a) => activity_key(&a.grant_id, &a.credential_id),
            Self::Finding(f) => finding_key(&f.rule, &f.grant_id),
            Self::Alert(a) => alert_key(&a.alert.alert_id),
            Self::Relay(a) => relay_key(
                &a.alert_id,
                a.event_ids.first().map_or("", String::as_str),
                a.count,
            ),
        }
    }
}

/// Key of a (grant, credential) activity record.
pub fn activity_key(grant_id: &str, credential_id: &str) -> String {
    format!("activity{SEP}{grant_id}{SEP}{credential_id}")
}

/// Key of a (rule, grant) finding record; a tombstone under it clears the finding.
pub fn finding_key(rule: &str, grant_id: &str) -> String {
    format!("finding{SEP}{rule}{SEP}{grant_id}")
}

/// Key of an alert in its dedup window; a tombstone under it forgets the alert.
pub fn alert_key(alert_id: &str) -> String {
    format!("alert{SEP}{alert_id}")
}

/// Key of a relayed alert: the relaying batch's alert id, its first event and count.
pub fn relay_key(alert_id: &str, first_event_id: &str, count: u64) -> String {
    format!("relay{SEP}{alert_id}{SEP}{first_event_id}{SEP}{count}")
}

/// Whether `key` is a relay's, for tombstones.
pub fn is_relay_key(key: &str) -> bool {
    key.strip_prefix("relay")
        .is_some_and(|rest| rest.starts_with(SEP))
}

/// The alert id an alert key names, for tombstones.
pub fn parse_alert_key(key: &str) -> Option<&str> {
    key.strip_prefix("alert")?.strip_prefix(SEP)
}

/// The (rule, grant) a finding key names, for tombstones (which carry no value).
pub fn parse_finding_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("finding")?.strip_prefix(SEP)?;
    rest.split_once(SEP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keys_parse() {
        let record = StateRecord::Finding(FindingRecord {
            rule: "idle_grant".into(),
            grant_id: "g".into(),
            condition: "g\u{1f}2026-01-01".into(),
        });
        let json = serde_json::to_string(&record).expect("json");
        assert!(json.starts_with(r#"{"kind":"finding""#), "{json}");
        assert_eq!(
            serde_json::from_str::<StateRecord>(&json).expect("back"),
            record
        );
        assert_eq!(parse_finding_key(&record.key()), Some(("idle_grant", "g")));
    }
}
