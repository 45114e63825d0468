//! Alerts: the deterministic [`Alert`] (DESIGN §7), its id, its formats, and the
//! sinks that deliver it.
//!
//! Owns the alert shape and delivery. It must not judge actions or group rule rows
//! (`detect` does) nor commit offsets (the pipeline does, once every sink has
//! acknowledged).

mod alert;
mod format;
mod grouping;
mod route;
mod sinks;

pub use alert::{Alert, MAX_EVENT_IDS, UNOWNED, alert_id};
pub use format::AlertFormat;
pub use grouping::Grouping;
pub use route::{MAX_SAMPLE_ACTIONS, Routes};
pub use sinks::{AlertmanagerSink, FileSink, KafkaSink, Sink, SinkError, SinkSettings, StdoutSink};
