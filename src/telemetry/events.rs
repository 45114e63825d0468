//! Internal events: each logs and counts in one `emit()`.

use std::time::Duration;

use tracing::{error, info, warn};

use super::Metrics;
use super::metrics::{
    DecisionLabels, ReasonLabel, ResultLabel, RuleLabel, RuleLabels, SeverityLabel, SinkLabel,
};
use crate::alerts::Alert;
use crate::decode::DecodeError;
use crate::grants::GrantErrors;
use crate::grants::lint::{Finding, Level};

/// A message could not be decoded and went to the dead-letter topic.
pub struct EventDeadLettered<'a> {
    /// Why.
    pub error: &'a DecodeError,
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

impl EventDeadLettered<'_> {
    /// Logs and counts.
    pub fn emit(&self, metrics: &Metrics) {
        warn!(error = %self.error, topic = self.topic, partition = self.partition, offset = self.offset, "Dead-lettered an undecodable message.");
        metrics
            .dead_letters
            .get_or_create(&ReasonLabel {
                reason: self.error.fault.label(),
            })
            .inc();
        metrics
            .events
            .get_or_create(&ResultLabel {
                result: "dead_letter",
            })
            .inc();
    }
}

/// A batch went through rules and sinks and its offsets were stored.
pub struct BatchProcessed<'a> {
    /// Decoded events.
    pub events: usize,
    /// Alerts raised.
    pub alerts: &'a [Alert],
    /// Wall time.
    pub duration: Duration,
    /// When every sink had acknowledged (epoch ms).
    pub acknowledged_ms: i64,
    /// Event time of each alert's latest event (epoch ms).
    pub alert_event_ms: &'a [i64],
    /// Of the events, those outside partner scope (judged, never alerted).
    pub out_of_scope: u64,
    /// Alerts of groups another instance reports, relayed to it.
    pub relayed: usize,
}

impl BatchProcessed<'_> {
    /// Logs at debug and counts.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(
            events = self.events,
            alerts = self.alerts.len(),
            relayed = self.relayed,
            duration_ms = self.duration.as_millis() as u64,
            "Processed batch."
        );
        metrics.alerts_relayed.inc_by(self.relayed as u64);
        metrics
            .events
            .get_or_create(&ResultLabel { result: "decoded" })
            .inc_by(self.events as u64);
        metrics
            .events
            .get_or_create(&ResultLabel {
                result: "out_of_scope",
            })
            .inc_by(self.out_of_scope);
        metrics.batch_duration.observe(self.duration.as_secs_f64());
        count_alerts(self.alerts, metrics);
        for &ms in self.alert_event_ms {
            metrics
                .detection_latency
                .observe(((self.acknowledged_ms - ms).max(0) as f64) / 1000.0);
        }
    }
}

/// Alerts relayed by other instances, of groups this one reports, were admitted
/// and the new ones acknowledged by every sink.
pub struct RelaysAdmitted<'a> {
    /// The alerts new to the sinks.
    pub alerts: &'a [Alert],
}

impl RelaysAdmitted<'_> {
    /// Logs at debug and counts the alerts.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(alerts = self.alerts.len(), "Relayed alerts admitted.");
        count_alerts(self.alerts, metrics);
    }
}

/// `grantwatch decide` answered a request.
pub struct Decided<'a> {
    /// `allow` or `deny`.
    pub verdict: &'static str,
    /// The rules that denied (none when allowed).
    pub denied_by: &'a [&'a str],
    /// The credential asked about (from the request: logged as a field, never as
    /// a label).
    pub credential: &'a str,
    /// The action asked about.
    pub action: &'a str,
}

impl Decided<'_> {
    /// Logs at debug and counts by verdict and denying rule.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(
            verdict = self.verdict,
            denied_by = ?self.denied_by,
            credential = self.credential,
            action = self.action,
            "Decided."
        );
        if self.denied_by.is_empty() {
            metrics
                .decisions
                .get_or_create(&DecisionLabels {
                    verdict: self.verdict,
                    reason: "none".into(),
                })
                .inc();
        }
        for rule in self.denied_by {
            metrics
                .decisions
                .get_or_create(&DecisionLabels {
                    verdict: self.verdict,
                    reason: (*rule).to_owned(),
                })
                .inc();
        }
    }
}

/// Scheduled rules raised findings and every sink acknowledged them.
pub struct FindingsRaised<'a> {
    /// Rules that ran.
    pub rules: &'a [String],
    /// Alerts raised.
    pub alerts: &'a [Alert],
}

impl FindingsRaised<'_> {
    /// Logs at debug and counts the alerts.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(rules = ?self.rules, alerts = self.alerts.len(), "Scheduled rules ran.");
        count_alerts(self.alerts, metrics);
    }
}

fn count_alerts(alerts: &[Alert], metrics: &Metrics) {
    for alert in alerts {
        let labels = RuleLabels {
            rule: alert.rule.clone(),
            severity: alert.severity.clone(),
        };
        metrics.alerts.get_or_create(&labels).inc();
    }
}

/// An alert sink failed; the batch is retried.
pub struct SinkFailed<'a> {
    /// Sink name.
    pub sink: &'static str,
    /// The error.
    pub error: &'a dyn std::error::Error,
    /// Delay before the retry.
    pub retry_in: Duration,
}

impl SinkFailed<'_> {
    /// Logs and counts.
    pub fn emit(&self, metrics: &Metrics) {
        error!(sink = self.sink, error = %self.error, retry_in_ms = self.retry_in.as_millis() as u64, "Alert sink failed; offsets held until it recovers.");
        metrics
            .sink_errors
            .get_or_create(&SinkLabel { sink: self.sink })
            .inc();
    }
}

/// A decision of `grantwatch decide` could not be produced to its topic. The
/// answer stood; the stream does not see this decision.
pub struct DecisionNotProduced<'a> {
    /// The topic.
    pub topic: &'a str,
    /// Why.
    pub error: &'a dyn std::error::Error,
}

impl DecisionNotProduced<'_> {
    /// Logs and counts it as an error of the `decisions` sink.
    pub fn emit(&self, metrics: &Metrics) {
        error!(topic = self.topic, error = %self.error, "A decision was not produced to its topic.");
        metrics
            .sink_errors
            .get_or_create(&SinkLabel { sink: "decisions" })
            .inc();
    }
}

/// The archive put a flush's files; the offsets they cover may now be stored.
pub struct ArchiveFlushed<'a> {
    /// What was put.
    pub flushed: &'a crate::archive::Flushed,
    /// Wall time of the puts.
    pub duration: Duration,
}

impl ArchiveFlushed<'_> {
    /// Logs at debug and counts.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(
            files = self.flushed.files,
            rows = self.flushed.rows,
            bytes = self.flushed.bytes,
            duration_ms = self.duration.as_millis() as u64,
            "Archive flushed."
        );
        metrics.archive_rows.inc_by(self.flushed.rows as u64);
        metrics.archive_bytes.inc_by(self.flushed.bytes as u64);
        metrics.archive_flush.observe(self.duration.as_secs_f64());
    }
}

/// A round of grant state was acknowledged by the state topic.
pub struct StateWritten {
    /// Records and tombstones written.
    pub records: usize,
    /// From the first record sent to the last acknowledgement.
    pub duration: Duration,
}

impl StateWritten {
    /// Logs at debug and counts.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(
            records = self.records,
            duration_ms = self.duration.as_millis() as u64,
            "State written."
        );
        metrics.state_records.inc_by(self.records as u64);
        metrics.state_write.observe(self.duration.as_secs_f64());
    }
}

/// A grant set came into force.
pub struct GrantsLoaded {
    /// Number of grants.
    pub count: usize,
}

impl GrantsLoaded {
    /// Logs and sets the gauge.
    pub fn emit(&self, metrics: &Metrics) {
        info!(grants = self.count, "Grants loaded.");
        metrics.grants_loaded.set(self.count as i64);
        metrics
            .grants_reload
            .get_or_create(&ResultLabel { result: "ok" })
            .inc();
    }
}

/// A changed grant set did not load; the last good set stays in force.
pub struct GrantsReloadFailed<'a> {
    /// Every problem found.
    pub errors: &'a GrantErrors,
}

impl GrantsReloadFailed<'_> {
    /// Logs each error and counts the failure.
    pub fn emit(&self, metrics: &Metrics) {
        for e in &self.errors.0 {
            error!(error = %e, "Grant reload refused; the last good grant set stays in force.");
        }
        metrics
            .grants_reload
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
    }
}

/// A reload found no grant at all and was refused: files emptied by accident would
/// otherwise make every partner unknown. Revoking is `status: revoked`.
pub struct GrantsReloadEmpty<'a> {
    /// The grant paths read.
    pub paths: &'a [std::path::PathBuf],
}

impl GrantsReloadEmpty<'_> {
    /// Logs and counts the failure.
    pub fn emit(&self, metrics: &Metrics) {
        error!(paths = ?self.paths, "Grant reload refused: no grant at all (set `status: revoked` to withdraw one); the last good grant set stays in force.");
        metrics
            .grants_reload
            .get_or_create(&ResultLabel { result: "error" })
            .inc();
    }
}

/// The grant set in force was linted: findings never stop the service.
pub struct GrantsLinted<'a> {
    /// The findings.
    pub findings: &'a [Finding],
}

impl GrantsLinted<'_> {
    /// Logs each finding and sets the gauges.
    pub fn emit(&self, metrics: &Metrics) {
        for finding in self.findings {
            warn!(%finding, "Grant lint finding.");
        }
        for (level, severity) in [(Level::Error, "error"), (Level::Warning, "warning")] {
            let n = self.findings.iter().filter(|f| f.severity == level).count();
            metrics
                .lint_findings
                .get_or_create(&SeverityLabel { severity })
                .set(n as i64);
        }
    }
}

/// Alerts a suppression silenced: not delivered, but counted.
pub struct AlertsSuppressed<'a> {
    /// The silenced alerts.
    pub alerts: &'a [Alert],
}

impl AlertsSuppressed<'_> {
    /// Logs each at debug and counts them by rule.
    pub fn emit(&self, metrics: &Metrics) {
        for alert in self.alerts {
            tracing::debug!(rule = %alert.rule, alert_id = %alert.alert_id, "Alert suppressed.");
            metrics
                .suppressed
                .get_or_create(&RuleLabel {
                    rule: alert.rule.clone(),
                })
                .inc();
        }
    }
}

/// The group gave the consumer its partitions (at start, or after a rebalance).
pub struct Assigned {
    /// Partitions assigned now.
    pub partitions: usize,
}

impl Assigned {
    /// Counts the assignment and logs it.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.assignments.inc();
        info!(partitions = self.partitions, "Partitions assigned.");
    }
}

/// The consumer's broker connections, as of a statistics report. Without any it is
/// not ready; librdkafka keeps reconnecting and consuming resumes where it stood.
pub struct BrokersSeen {
    /// Brokers connected now.
    pub up: usize,
    /// Whether some broker was connected at the report before.
    pub was_up: bool,
}

impl BrokersSeen {
    /// Sets the gauge; logs when the consumer loses its last broker or gets one back.
    pub fn emit(&self, metrics: &Metrics) {
        metrics
            .brokers_up
            .set(i64::try_from(self.up).unwrap_or(i64::MAX));
        match (self.was_up, self.up > 0) {
            (true, false) => warn!("Lost every Kafka broker: not ready until one is back."),
            (false, true) => info!(brokers = self.up, "Connected to Kafka: ready."),
            _ => {}
        }
    }
}
