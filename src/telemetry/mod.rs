//! Telemetry: the metrics registry (names in one place) and internal events whose
//! `emit()` logs and counts together, so call sites stay one line.
//!
//! Owns nothing global: the [`Metrics`] handle is built once and passed in.

mod drift;
pub mod events;
mod grant_metrics;
mod health;
pub mod metrics;

pub use grant_metrics::{GrantMetrics, GrantSeries};
pub use health::Health;
pub use metrics::Metrics;
