//! Query errors, split by fault: the user's report or parameters, or the archive.

use std::path::PathBuf;

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A report file's header is malformed: the report author's fault.
    #[error("{file}:{line}: {message}")]
    Header {
        /// The report file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A report or SQL file cannot be read, or a reports directory listed.
    #[error("{}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No canned report has this name and no such file exists.
    #[error("no report named `{name}` (canned: {known}); or give a path to a .sql file")]
    UnknownReport {
        /// What was asked for.
        name: String,
        /// The reports there are.
        known: String,
    },
    /// A parameter is unknown, missing or malformed: the caller's fault.
    #[error("report `{report}`: {message}")]
    Param {
        /// The report.
        report: String,
        /// What is wrong.
        message: String,
    },
    /// The SQL does not plan or fails (a report author's fault, or the archive's).
    #[error("{}: {source}", file.display())]
    Sql {
        /// The report file.
        file: PathBuf,
        /// DataFusion's error.
        source: datafusion::error::DataFusionError,
    },
    /// No archived alert has this id: the caller's (or the archive is not the one
    /// the alert was delivered to).
    #[error("no alert `{0}` in the archive")]
    UnknownAlert(String),
    /// Reading the archive for `explain` failed.
    #[error("cannot read the archive: {0}")]
    ArchiveRead(datafusion::error::DataFusionError),
    /// The archive cannot be read.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// Setting up tables failed (a bug).
    #[error("cannot register tables: {0}")]
    Tables(#[from] datafusion::error::DataFusionError),
    /// Writing the result failed.
    #[error("cannot write the result: {0}")]
    Output(String),
}
