//! The Alertmanager sink: `POST /api/v2/alerts`. Alertmanager groups, silences and
//! routes; grantwatch gives it the labels to do so by (rule, severity, grant,
//! partner, owner) and the why in annotations.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::SinkError;
use crate::alerts::Alert;
use crate::alerts::UNOWNED;

/// One alert as Alertmanager's API v2 takes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: BTreeMap<&'static str, &'a str>,
    annotations: BTreeMap<&'static str, Cow<'a, str>>,
    starts_at: String,
}

impl<'a> PostableAlert<'a> {
    /// `now` bounds `startsAt`: Alertmanager refuses an alert that starts after the
    /// end it gives it (now + resolve_timeout), and event clocks can run ahead.
    fn new(alert: &'a Alert, now: DateTime<Utc>) -> Self {
        let mut labels = BTreeMap::from([
            // Alertmanager routes and groups by alertname by convention.
            ("alertname", alert.rule.as_str()),
            ("rule", alert.rule.as_str()),
            ("severity", alert.severity.as_str()),
            ("owner", alert.owner.as_deref().unwrap_or(UNOWNED)),
            ("source", "grantwatch"),
        ]);
        if let Some(grant) = &alert.grant_id {
            labels.insert("grant", grant);
        } else if alert.grant_ids.is_empty() {
            // No grant: the credential is what the alert is about.
            labels.insert("credential", &alert.credential_id);
        }
        if let Some(partner) = &alert.partner {
            labels.insert("partner", partner);
        }
        let mut annotations = BTreeMap::from([
            ("summary", Cow::from(&alert.summary)),
            ("reason", Cow::from(&alert.reason)),
            ("alert_id", Cow::from(&alert.alert_id)),
            ("credential", Cow::from(&alert.credential_id)),
            // An update posts the alert again: Alertmanager keeps the latest count.
            ("count", Cow::from(alert.count.to_string())),
        ]);
        if let Some(purpose) = &alert.purpose {
            annotations.insert("purpose", Cow::from(purpose));
        }
        if let Some(action) = &alert.action {
            annotations.insert("action", Cow::from(action));
        }
        let starts_at = DateTime::parse_from_rfc3339(&alert.first_seen)
            .map(|t| t.with_timezone(&Utc).min(now))
            .unwrap_or(now);
        Self {
            labels,
            annotations,
            starts_at: starts_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// Alerts posted to Alertmanager.
pub struct AlertmanagerSink {
    client: reqwest::Client,
    endpoint: String,
}

impl AlertmanagerSink {
    /// A sink for the Alertmanager at `base_url` (e.g. `http://127.0.0.1:9093`).
    pub fn new(base_url: &str) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| SinkError::Alertmanager {
                url: base_url.to_owned(),
                message: source.to_string(),
            })?;
        Ok(Self {
            client,
            endpoint: format!("{}/api/v2/alerts", base_url.trim_end_matches('/')),
        })
    }

    pub(super) async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        let now = Utc::now();
        let body: Vec<PostableAlert<'_>> =
            alerts.iter().map(|a| PostableAlert::new(a, now)).collect();
        let body = serde_json::to_vec(&body)?;
        let fail = |message: String| SinkError::Alertmanager {
            url: self.endpoint.clone(),
            message,
        };
        let response = self
            .client
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(fail(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_route_and_annotations_explain() {
        let alert = Alert {
            owner: None,
            ..Alert::example()
        };
        let now = "2026-12-01T00:00:00Z".parse().expect("now");
        let json = serde_json::to_value(PostableAlert::new(&alert, now)).expect("json");
        assert_eq!(json["labels"]["alertname"], "out_of_purpose_action");
        assert_eq!(json["labels"]["grant"], "acme");
        assert_eq!(json["labels"]["owner"], "unowned");
        assert_eq!(json["annotations"]["purpose"], "Payouts");
        assert_eq!(json["startsAt"], "2026-11-30T09:00:00.000Z");
        // An event clock ahead of ours starts the alert now.
        let early = "2026-11-29T00:00:00Z".parse().expect("now");
        let json = serde_json::to_value(PostableAlert::new(&alert, early)).expect("json");
        assert_eq!(json["startsAt"], "2026-11-29T00:00:00.000Z");
    }
}
