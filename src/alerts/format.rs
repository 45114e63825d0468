//! How alerts are written to the Kafka topic and the file: grantwatch's own JSON
//! (DESIGN §7) or an OCSF 1.3 Detection Finding (class 2004), for SIEMs and data
//! lakes that ingest OCSF.

use chrono::DateTime;
use serde_json::{Value, json};

use super::alert::Alert;

/// The shape alerts are serialized in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertFormat {
    /// The alert as DESIGN §7 gives it.
    #[default]
    Grantwatch,
    /// OCSF Detection Finding.
    Ocsf,
}

impl AlertFormat {
    /// Parses `grantwatch` or `ocsf`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "grantwatch" => Some(Self::Grantwatch),
            "ocsf" => Some(Self::Ocsf),
            _ => None,
        }
    }

    /// One alert, serialized.
    pub fn encode(self, alert: &Alert) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Grantwatch => serde_json::to_vec(alert),
            Self::Ocsf => serde_json::to_vec(&detection_finding(alert)),
        }
    }
}

/// OCSF's severity_id for a rule severity.
fn severity_id(severity: &str) -> u8 {
    match severity {
        "info" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

fn epoch_ms(rfc3339: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The alert as an OCSF 1.3 Detection Finding (class_uid 2004, activity Create).
fn detection_finding(alert: &Alert) -> Value {
    let severity_id = severity_id(&alert.severity);
    let mut finding = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": alert.severity,
        "status_id": 1,
        "status": "New",
        "time": epoch_ms(&alert.detected_at),
        "message": alert.reason,
        "count": alert.count,
        "metadata": {
            "version": "1.3.0",
            "product": {"name": "grantwatch", "vendor_name": "grantwatch"},
            "uid": alert.alert_id,
        },
        "finding_info": {
            "uid": alert.alert_id,
            "title": alert.summary,
            "desc": alert.reason,
            "types": [alert.rule],
            "first_seen_time": epoch_ms(&alert.first_seen),
            "last_seen_time": epoch_ms(&alert.last_seen),
            "analytic": {"name": alert.rule, "uid": alert.rule, "type_id": 1, "type": "Rule"},
            "related_events": alert.event_ids.iter().map(|id| json!({"uid": id})).collect::<Vec<_>>(),
        },
        "actor": {"user": {"uid": alert.credential_id, "type_id": 3, "type": "System"}},
        "unmapped": {
            "owner": alert.owner,
            "partner": alert.partner,
            "purpose": alert.purpose,
            "action": alert.action,
            "sample_actions": alert.sample_actions,
            "grant_ids": alert.grant_ids,
            "frameworks": alert.frameworks,
        },
    });
    if !alert.group.is_empty() {
        finding["unmapped"]["group"] = json!(alert.group);
    }
    if let Some(grant) = &alert.grant_id {
        finding["resources"] = json!([{
            "type": "Grant",
            "uid": grant,
            "name": alert.purpose,
            "owner": {"name": alert.owner},
        }]);
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_becomes_a_detection_finding() {
        let alert = Alert {
            rule: "amount_over_limit".into(),
            reason: "50000.01 > 50000".into(),
            count: 2,
            event_ids: vec!["e1".into(), "e2".into()],
            ..Alert::example()
        };
        let bytes = AlertFormat::Ocsf.encode(&alert).expect("json");
        let f: Value = serde_json::from_slice(&bytes).expect("parse");
        assert_eq!(
            (f["class_uid"].as_u64(), f["type_uid"].as_u64()),
            (Some(2004), Some(200401))
        );
        assert_eq!(f["severity_id"], 4);
        assert_eq!(f["time"], 1_796_029_202_000_i64);
        assert_eq!(f["finding_info"]["uid"], "abc");
        assert_eq!(f["finding_info"]["analytic"]["name"], "amount_over_limit");
        assert_eq!(f["finding_info"]["related_events"][1]["uid"], "e2");
        assert_eq!(f["resources"][0]["uid"], "acme");
        assert_eq!(f["unmapped"]["owner"], "jane@bank.example");
        let native: Value =
            serde_json::from_slice(&AlertFormat::Grantwatch.encode(&alert).expect("json"))
                .expect("parse");
        assert_eq!(native["alert_id"], "abc");
    }
}
