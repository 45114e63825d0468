//! grantwatch watches what partner integrations do with the access they were granted.
//!
//! The pipeline, in five lines:
//! 1. [`kafka`] consumes partner actions and [`decode`]s them into canonical Arrow batches
//!    (undecodable messages go to the dead-letter topic);
//! 2. [`rules`] runs DataFusion SQL over each batch joined with the [`grants`] tables;
//! 3. [`alerts`] groups rule rows into deterministic alerts and delivers them to sinks;
//! 4. [`pipeline`] stores offsets only after every sink, the dead-letter topic and the
//!    [`archive`] (Parquet, by day) acknowledged;
//! 5. [`telemetry`] counts all of it, served by [`http`] on `/metrics`.
//!
//! [`query`] runs canned SQL reports and least-privilege proposals over the archive.
//!
//! [`config`] validates the TOML once; [`demo`] runs the same pipeline on an embedded
//! mock Kafka with generated traffic.

pub mod alerts;
pub mod archive;
pub mod config;
pub mod decode;
pub mod demo;
pub mod findings;
pub mod fixtures;
pub mod grants;
pub mod http;
pub mod kafka;
pub mod pipeline;
pub mod query;
pub mod reload;
pub mod replay;
pub mod rules;
pub mod state;
pub mod suppressions;
pub mod telemetry;
