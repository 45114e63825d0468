//! The archive: every decoded event, every alert and every grant set in force, as
//! Parquet under one URL (a local directory or an object store), hive-partitioned by
//! date so `grantwatch query` reads only the days a report asks for.
//!
//! ```text
//! <archive>/date=YYYY-MM-DD/part-*.parquet          actions (canonical columns)
//! <archive>/alerts/date=YYYY-MM-DD/part-*.parquet   alerts, by the date of first_seen
//! <archive>/grants/date=YYYY-MM-DD/part-*.parquet   grant versions, by load date
//! ```
//!
//! Writing happens on the archive's own thread; the pipeline stores offsets only once
//! a flush has put the batches' files. Files appear whole (object stores put
//! atomically; the local store renames a finished file), so readers never see a
//! partial one.

mod alerts;
mod compact;
mod error;
mod grant_versions;
mod location;
mod writer;

pub use alerts::{alerts_batch, alerts_schema};
pub use compact::{CompactSettings, Compacted, compact};
pub use error::ArchiveError;
pub use grant_versions::{grant_versions_batch, grant_versions_schema};
pub use location::{ArchiveLocation, Table};
pub use writer::{Archive, ArchiveSettings, Flushed};
