//! Every metric grantwatch exposes (DESIGN §8), registered once. Label values are
//! bounded: results, reasons, rules, severities and sinks are fixed sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::grant_metrics::GrantSeries;

// prometheus-client appends `_total` to counters itself.
const EVENTS: &str = "grantwatch_events";
const DEAD_LETTERS: &str = "grantwatch_dead_letters";
const BATCH_DURATION: &str = "grantwatch_batch_duration_seconds";
const DETECTION_LATENCY: &str = "grantwatch_detection_latency_seconds";
const ALERTS: &str = "grantwatch_alerts";
const GRANTS_LOADED: &str = "grantwatch_grants_loaded";
const GRANTS_RELOAD: &str = "grantwatch_grants_reload";
const SINK_ERRORS: &str = "grantwatch_sink_errors";
const CONSUMER_LAG: &str = "grantwatch_consumer_lag";
const COMMITTED: &str = "grantwatch_consumer_committed_offset";
const LINT_FINDINGS: &str = "grantwatch_grant_lint_findings";
const SUPPRESSED: &str = "grantwatch_alerts_suppressed";
const BROKERS_UP: &str = "grantwatch_kafka_brokers_up";
const ASSIGNMENTS: &str = "grantwatch_kafka_assignments";
const ARCHIVE_ROWS: &str = "grantwatch_archive_rows";
const ARCHIVE_BYTES: &str = "grantwatch_archive_bytes";
const ARCHIVE_FLUSH: &str = "grantwatch_archive_flush_duration_seconds";
const STATE_RECORDS: &str = "grantwatch_state_records_written";
const STATE_WRITE: &str = "grantwatch_state_write_duration_seconds";
const ALERTS_RELAYED: &str = "grantwatch_alerts_relayed";
const DECISIONS: &str = "grantwatch_decisions";

/// `result` label of events and grant loads.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `decoded` or `dead_letter` for events; `ok` or `error` for grant loads.
    pub result: &'static str,
}

/// `reason` label of dead letters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A [`DecodeFault`](crate::decode::DecodeFault) label.
    pub reason: &'static str,
}

/// `verdict`, `reason` labels of decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `allow` or `deny`.
    pub verdict: &'static str,
    /// A rule that denied (bounded by the rule set), or `none`.
    pub reason: String,
}

/// `rule`, `severity` labels of alerts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// Rule name (bounded by the rule set).
    pub rule: String,
    /// Severity.
    pub severity: String,
}

/// `rule` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// Rule name (bounded by the rule set).
    pub rule: String,
}

/// `sink` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    /// Sink name.
    pub sink: &'static str,
}

/// `topic`, `partition` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
}

/// `severity` label of lint findings.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabel {
    /// `error` or `warning`.
    pub severity: &'static str,
}

/// Handles to every metric; cheap to clone (each is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    /// Events by decode result.
    pub events: Family<ResultLabel, Counter>,
    /// Dead letters by reason.
    pub dead_letters: Family<ReasonLabel, Counter>,
    /// Wall time per batch, consume to offsets stored.
    pub batch_duration: Histogram,
    /// Event time to alert acknowledged by every sink.
    pub detection_latency: Histogram,
    /// Alerts by rule and severity.
    pub alerts: Family<RuleLabels, Counter>,
    /// Grants in force.
    pub grants_loaded: Gauge,
    /// Grant set loads (the first at start included), by result.
    pub grants_reload: Family<ResultLabel, Counter>,
    /// Failed sink deliveries (each is retried).
    pub sink_errors: Family<SinkLabel, Counter>,
    /// The per-grant series: actions by verdict, drift, last seen, expiry, idle
    /// time, scopes granted and used.
    pub grants: GrantSeries,
    /// Messages behind the partition's end, per assigned partition.
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    /// The offset committed (the next to read after a restart), per assigned
    /// partition, as of librdkafka's latest statistics.
    pub committed: Family<PartitionLabels, Gauge>,
    /// `grants check` findings in the grant set in force, by severity.
    pub lint_findings: Family<SeverityLabel, Gauge>,
    /// Alerts a suppression silenced, by rule.
    pub suppressed: Family<RuleLabel, Counter>,
    /// Brokers the consumer is connected to, as of librdkafka's latest statistics.
    pub brokers_up: Gauge,
    /// Partition assignments the group gave this consumer (one at start; more mean
    /// rebalances).
    pub assignments: Counter,
    /// Rows put in archive files (actions, alerts, grant versions).
    pub archive_rows: Counter,
    /// Bytes of Parquet put in the archive.
    pub archive_bytes: Counter,
    /// Time to put one flush's files.
    pub archive_flush: Histogram,
    /// Records (and tombstones) acknowledged by the state topic.
    pub state_records: Counter,
    /// Time from a state write's first record to its last acknowledgement.
    pub state_write: Histogram,
    /// Alerts judged here of groups another instance reports, relayed to it.
    pub alerts_relayed: Counter,
    /// Decisions of `grantwatch decide`, by verdict and denying rule.
    pub decisions: Family<DecisionLabels, Counter>,
}

impl Metrics {
    /// Creates the metrics and the registry that exposes them.
    pub fn new() -> (Self, Registry) {
        let metrics = Self {
            events: Family::default(),
            dead_letters: Family::default(),
            batch_duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            detection_latency: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            alerts: Family::default(),
            grants_loaded: Gauge::default(),
            grants_reload: Family::default(),
            sink_errors: Family::default(),
            grants: GrantSeries::default(),
            consumer_lag: Family::default(),
            committed: Family::default(),
            lint_findings: Family::default(),
            suppressed: Family::default(),
            brokers_up: Gauge::default(),
            assignments: Counter::default(),
            archive_rows: Counter::default(),
            archive_bytes: Counter::default(),
            archive_flush: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            state_records: Counter::default(),
            state_write: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            alerts_relayed: Counter::default(),
            decisions: Family::default(),
        };
        // Bounded label sets start at zero, so rate() and alerts see the first increase.
        for fault in crate::decode::DecodeFault::ALL {
            let reason = fault.label();
            metrics
                .dead_letters
                .get_or_create(&ReasonLabel { reason })
                .inc_by(0);
        }
        for result in ["decoded", "dead_letter", "out_of_scope"] {
            metrics
                .events
                .get_or_create(&ResultLabel { result })
                .inc_by(0);
        }
        for result in ["ok", "error"] {
            metrics
                .grants_reload
                .get_or_create(&ResultLabel { result })
                .inc_by(0);
        }
        let mut registry = Registry::default();
        registry.register(
            EVENTS,
            "Partner-action messages consumed, by decode result",
            metrics.events.clone(),
        );
        registry.register(
            DEAD_LETTERS,
            "Messages sent to the dead-letter topic, by reason",
            metrics.dead_letters.clone(),
        );
        registry.register(
            BATCH_DURATION,
            "Time to process one batch",
            metrics.batch_duration.clone(),
        );
        registry.register(
            DETECTION_LATENCY,
            "Time from an event's timestamp to its alert being acknowledged by every sink",
            metrics.detection_latency.clone(),
        );
        registry.register(
            ALERTS,
            "Alerts raised, by rule and severity",
            metrics.alerts.clone(),
        );
        registry.register(
            GRANTS_LOADED,
            "Grants currently in force",
            metrics.grants_loaded.clone(),
        );
        registry.register(
            GRANTS_RELOAD,
            "Grant set loads, the first at start included, by result",
            metrics.grants_reload.clone(),
        );
        registry.register(
            SINK_ERRORS,
            "Alert deliveries that failed and were retried",
            metrics.sink_errors.clone(),
        );
        registry.register_collector(Box::new(metrics.grants.clone()));
        registry.register(
            CONSUMER_LAG,
            "Messages between the committed position and the end of a partition",
            metrics.consumer_lag.clone(),
        );
        registry.register(
            COMMITTED,
            "The offset committed last (the next to read after a restart), per partition",
            metrics.committed.clone(),
        );
        registry.register(
            SUPPRESSED,
            "Alerts silenced by a suppression, by rule",
            metrics.suppressed.clone(),
        );
        registry.register(
            LINT_FINDINGS,
            "Lint findings (grants check) in the grant set in force, by severity",
            metrics.lint_findings.clone(),
        );
        registry.register(
            BROKERS_UP,
            "Kafka brokers the consumer is connected to (0: not ready)",
            metrics.brokers_up.clone(),
        );
        registry.register(
            ASSIGNMENTS,
            "Partition assignments the group gave this consumer: one at start, more mean rebalances",
            metrics.assignments.clone(),
        );
        registry.register(
            ARCHIVE_ROWS,
            "Rows put in archive files: actions, alerts and grant versions",
            metrics.archive_rows.clone(),
        );
        registry.register(
            ARCHIVE_BYTES,
            "Bytes of Parquet put in the archive",
            metrics.archive_bytes.clone(),
        );
        registry.register(
            ARCHIVE_FLUSH,
            "Time to put one archive flush's files",
            metrics.archive_flush.clone(),
        );
        registry.register(
            STATE_RECORDS,
            "Grant state records (and tombstones) acknowledged by the state topic",
            metrics.state_records.clone(),
        );
        registry.register(
            STATE_WRITE,
            "Time to write one round of grant state and have it acknowledged",
            metrics.state_write.clone(),
        );
        registry.register(
            ALERTS_RELAYED,
            "Alerts judged here whose group another instance reports, relayed to it through the state topic",
            metrics.alerts_relayed.clone(),
        );
        registry.register(
            DECISIONS,
            "Decisions of grantwatch decide, by verdict and the rule that denied (none when allowed)",
            metrics.decisions.clone(),
        );
        (metrics, registry)
    }
}
