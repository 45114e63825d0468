//! Archive errors, split by fault: a URL the user wrote wrong, or the store failing.

/// Why the archive cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The configured URL or path is not usable: the user's fault.
    #[error("archive `{url}`: {message}")]
    Location {
        /// What was configured.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The store refused a read or write: an external system's fault, retried.
    #[error("archive store: {0}")]
    Store(#[from] object_store::Error),
    /// Encoding Parquet failed (a bug).
    #[error("cannot encode Parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// Building a batch failed (a bug).
    #[error("cannot build archive batch: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// A batch could not be encoded earlier (a bug); nothing is flushed after it.
    #[error("an archive batch could not be encoded: {0}")]
    Encode(String),
    /// A file cannot be merged without losing a column: a file written by a newer
    /// version, or a damaged one.
    #[error("cannot merge `{file}`: {message}")]
    Compact {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The archive thread is gone (it panicked or was never started).
    #[error("the archive writer stopped")]
    Stopped,
}
