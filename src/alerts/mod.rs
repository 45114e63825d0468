//! Alerts: rule rows → grouped, deterministic [`Alert`]s (DESIGN §7) → sinks.
//!
//! Owns the alert shape, its id, grouping by the rule's `group_by` and delivery. It
//! must not judge actions (rules do) nor commit offsets (the pipeline does, once every
//! sink has acknowledged).

mod alert;
mod alertmanager;
mod build;
mod format;
mod sink;

pub use alert::{Alert, alert_id};
pub use alertmanager::AlertmanagerSink;
pub use build::build_alerts;
pub use format::AlertFormat;
pub use sink::{FileSink, KafkaSink, Sink, SinkError, StdoutSink};
