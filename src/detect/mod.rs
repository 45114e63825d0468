//! Detection: the one place where actions are judged. A [`Detector`] owns the rule
//! engine, the grants in force, the grant state (with its alert ledger) and the
//! suppressions; the live pipeline, `replay`, `rules test` and every later caller
//! judge through it, so they raise the same alerts from the same events.
//!
//! It must not read Kafka, deliver to sinks, archive or count metrics: callers do,
//! with what it returns.

mod build;
mod detector;
pub mod findings;
mod rollup;

pub use build::build_alerts;
pub use detector::{Detector, DetectorError, Findings, Judgement};
pub use findings::Schedules;

#[cfg(test)]
mod tests;
