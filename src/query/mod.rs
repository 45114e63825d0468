//! `grantwatch query`: canned reports and user SQL over the archive joined with the
//! grants in force. Owns report files, the read-only session over the archive and
//! result formatting; it must not write to the archive.

mod builtin;
mod error;
mod explain;
mod output;
mod propose;
mod report;
mod rows;
mod session;

pub use error::QueryError;
pub use explain::{Explanation, GrantCard, MAX_EVIDENCE, explain};
pub use output::{OutputFormat, write_batches};
pub use propose::propose;
pub use report::{Report, ReportParam, find_report, load_reports};
pub use rows::{literal, rows, to_rows};
pub use session::{QuerySession, TimeRange};
