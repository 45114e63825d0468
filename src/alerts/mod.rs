//! Alerts: the deterministic [`Alert`] (DESIGN §7), its id, its formats, and the
//! sinks that deliver it.
//!
//! Owns the alert shape and delivery. It must not judge actions or group rule rows
//! (`detect` does) nor commit offsets (the pipeline does, once every sink has
//! acknowledged).

mod alert;
mod alertmanager;
mod format;
mod sink;

pub use alert::{Alert, MAX_EVENT_IDS, alert_id};
pub use alertmanager::AlertmanagerSink;
pub use format::AlertFormat;
pub use sink::{FileSink, KafkaSink, Sink, SinkError, StdoutSink};
