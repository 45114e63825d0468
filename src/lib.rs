//! grantwatch watches what partner integrations do with the access they were granted.
//!
//! The pipeline, in five lines:
//! 1. [`kafka`] consumes partner actions and [`decode`]s them into canonical Arrow batches
//!    (undecodable messages go to the dead-letter topic);
//! 2. a [`detect::Detector`] judges each batch: [`rules`] (DataFusion SQL over the batch
//!    joined with the [`grants`] tables and the [`state`]) → grouped, deterministic
//!    [`alerts`] → suppressions → the alert ledger; it also runs the scheduled rules;
//! 3. [`alerts`] sinks deliver what it raised;
//! 4. [`pipeline`] writes the [`state`] (through [`kafka`]'s state topic), puts the
//!    [`archive`] (Parquet, by day), and only then stores offsets;
//! 5. [`telemetry`] counts all of it, served by [`http`] on `/metrics`.
//!
//! The layout, bottom to top (each module depends only on those before it):
//! [`time`] and [`columns`] (Arrow helpers), [`decode`], [`grants`], [`activity`] (a
//! batch's use of each grant), [`alerts`] (the alert and its sinks), [`suppressions`],
//! [`state`] (activity, findings and the ledger, in memory), [`rules`], [`archive`],
//! [`telemetry`], [`config`], [`kafka`], [`detect`], [`query`], [`http`], [`reload`],
//! then the drivers: [`pipeline`] (live), [`replay`] (files or the archive),
//! [`fixtures`] (`rules test`), [`service`] (start-up of `run` and `demo`) and
//! [`demo`]. The `grantwatch` binary (`src/bin/grantwatch/`) parses flags and prints
//! each command's report. `docs/architecture.md` has the data flow and the
//! invariants.
//!
//! [`query`] runs canned SQL reports and least-privilege proposals over the archive;
//! [`console`] serves them, and each alert and grant, as web pages. [`untrusted`]
//! keeps text from logs inert wherever it is shown. [`decide`] answers API gateways
//! before they forward a request, by the detector's own rules.
//! [`config`] validates the TOML once.

pub mod activity;
pub mod alerts;
pub mod archive;
pub mod columns;
pub mod config;
pub mod console;
pub mod decide;
pub mod decode;
pub mod demo;
pub mod detect;
pub mod fixtures;
pub mod grants;
pub mod http;
pub mod kafka;
pub mod pipeline;
pub mod query;
pub mod reload;
pub mod replay;
pub mod rules;
pub mod service;
pub mod state;
pub mod suppressions;
pub mod telemetry;
pub mod time;
pub mod untrusted;
