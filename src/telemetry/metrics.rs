//! Every metric grantwatch exposes (DESIGN §8), registered once. Label values are
//! bounded: results, reasons, rules, severities and sinks are fixed sets.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

// prometheus-client appends `_total` to counters itself.
const EVENTS: &str = "grantwatch_events";
const DEAD_LETTERS: &str = "grantwatch_dead_letters";
const BATCH_DURATION: &str = "grantwatch_batch_duration_seconds";
const DETECTION_LATENCY: &str = "grantwatch_detection_latency_seconds";
const ALERTS: &str = "grantwatch_alerts";
const GRANTS_LOADED: &str = "grantwatch_grants_loaded";
const SINK_ERRORS: &str = "grantwatch_sink_errors";

/// `result` label of events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `decoded` or `dead_letter`.
    pub result: &'static str,
}

/// `reason` label of dead letters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A [`DecodeFault`](crate::decode::DecodeFault) label.
    pub reason: &'static str,
}

/// `rule`, `severity` labels of alerts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    /// Rule name (bounded by the rule set).
    pub rule: String,
    /// Severity.
    pub severity: String,
}

/// `sink` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    /// Sink name.
    pub sink: &'static str,
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
    /// Failed sink deliveries (each is retried).
    pub sink_errors: Family<SinkLabel, Counter>,
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
            sink_errors: Family::default(),
        };
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
            SINK_ERRORS,
            "Alert deliveries that failed and were retried",
            metrics.sink_errors.clone(),
        );
        (metrics, registry)
    }
}
