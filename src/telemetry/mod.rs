//! Telemetry: the metrics registry (names in one place) and internal events whose
//! `emit()` logs and counts together, so call sites stay one line.
//!
//! Owns nothing global: the [`Metrics`] handle is built once and passed in.

pub mod events;
mod health;
mod metrics;

pub use health::Health;
pub use metrics::Metrics;
