//! The alert SOC analysts see, and its deterministic id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Event ids an alert carries; `count` stays exact beyond it.
pub const MAX_EVENT_IDS: usize = 100;

/// The owner name used for alerts whose grant names none (and for unknown credentials).
pub const UNOWNED: &str = "unowned";

/// One alert (DESIGN §7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// sha256 hex of `rule|group key|session start`: a redelivered batch yields the
    /// same id.
    pub alert_id: String,
    /// sha256 hex of `rule|group key`: the misuse this alert is one session of. A
    /// misuse that stops for longer than `alerts.dedup_window` and starts again is a
    /// new alert with the same group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Rule name.
    pub rule: String,
    /// Rule severity.
    pub severity: String,
    /// Rule summary.
    pub summary: String,
    /// Why this alert fired (from the rule's first matching row).
    pub reason: String,
    /// The grant, when the credential is bound by one.
    pub grant_id: Option<String>,
    /// The grants of a finding rolled up per owner (then `grant_id` is none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_ids: Vec<String>,
    /// The grant's partner (else the partner the event claimed).
    pub partner: Option<String>,
    /// The grant's named internal owner.
    pub owner: Option<String>,
    /// The grant's declared purpose.
    pub purpose: Option<String>,
    /// The credential used.
    pub credential_id: String,
    /// The action taken (the first event's), with identifier-like path segments
    /// written `{id}`: the route every event of the alert took.
    pub action: Option<String>,
    /// Distinct actions as the events named them, in arrival order, up to
    /// [`MAX_SAMPLE_ACTIONS`](super::MAX_SAMPLE_ACTIONS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample_actions: Vec<String>,
    /// Earliest event time in the group (RFC 3339).
    pub first_seen: String,
    /// Latest event time in the group (RFC 3339).
    pub last_seen: String,
    /// Number of events in the group.
    pub count: u64,
    /// The events' ids.
    pub event_ids: Vec<String>,
    /// Framework references.
    pub frameworks: Vec<String>,
    /// When grantwatch raised it (RFC 3339).
    pub detected_at: String,
}

#[cfg(test)]
impl Alert {
    /// An out-of-purpose alert for tests to adjust with struct update syntax.
    pub(crate) fn example() -> Self {
        Self {
            alert_id: "abc".into(),
            group: String::new(),
            rule: "out_of_purpose_action".into(),
            severity: "high".into(),
            summary: "Partner credential used outside its purpose".into(),
            reason: "POST /v1/refunds is not in purpose".into(),
            grant_id: Some("acme".into()),
            grant_ids: Vec::new(),
            partner: Some("acme-payroll".into()),
            owner: Some("jane@bank.example".into()),
            purpose: Some("Payouts".into()),
            credential_id: "cli".into(),
            action: Some("POST /v1/refunds".into()),
            sample_actions: vec!["POST /v1/refunds".into()],
            first_seen: "2026-11-30T09:00:00.000Z".into(),
            last_seen: "2026-11-30T09:00:01.000Z".into(),
            count: 1,
            event_ids: vec!["e1".into()],
            frameworks: vec!["OWASP-NHI:NHI5".into()],
            detected_at: "2026-11-30T09:00:02.000Z".into(),
        }
    }
}

/// The deterministic id: fields are joined with an ASCII unit separator so that
/// distinct keys can never collide by concatenation.
pub fn alert_id(rule: &str, key: &[String], window_start: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(rule.as_bytes());
    for part in key {
        hash.update(b"\x1f");
        hash.update(part.as_bytes());
    }
    hash.update(b"\x1e");
    hash.update(window_start.as_bytes());
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_deterministic_and_unambiguous() {
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = alert_id("r", &k(&["ab", "c"]), "2026-01-01T00:00:00Z");
        assert_eq!(a, alert_id("r", &k(&["ab", "c"]), "2026-01-01T00:00:00Z"));
        assert_ne!(a, alert_id("r", &k(&["a", "bc"]), "2026-01-01T00:00:00Z"));
        assert_eq!(a.len(), 64);
    }
}
