//! Rules: DataFusion SQL files with a metadata header (DESIGN §6), and the engine
//! that runs them over each batch joined with the grant tables.
//!
//! Owns rule loading, the SQL session (tables and UDFs) and evaluation. It must not
//! build alerts or talk to sinks: it answers rows that `alerts` turns into alerts.

mod builtin;
mod engine;
mod error;
mod prepare;
mod rule;
mod swap;
mod udf;

pub use builtin::BUILTIN_FIXTURES;
pub use engine::{Evaluation, RuleEngine, RuleHits};
pub use error::{EngineError, RuleError};
pub use prepare::{Prepared, Preparer};
pub use rule::{Rule, Schedule, Severity, load_rules};
pub use udf::{Clock, register as register_functions};
