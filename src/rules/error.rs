//! Rule errors split by fault: a rule file the user wrote wrong, or the engine failing.

use std::path::PathBuf;

/// A rule file that cannot be used: the rule author's fault.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The header or file is malformed.
    #[error("{file}:{line}: {message}")]
    Header {
        /// The rule file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The SQL does not plan against the rule tables, or lacks required columns.
    #[error("{file}: rule `{rule}`: {message}")]
    Sql {
        /// The rule file.
        file: PathBuf,
        /// The rule's name.
        rule: String,
        /// The planner's message.
        message: String,
    },
    /// A rules directory cannot be read.
    #[error("{dir}: cannot read rules directory: {source}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Evaluation failed: a bug or resource problem, not the event's fault.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// DataFusion failed while executing a rule.
    #[error("rule `{rule}` failed: {source}")]
    Execute {
        /// The rule.
        rule: String,
        /// DataFusion's error.
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// A rule's task panicked (a bug).
    #[error("a rule's task failed: {0}")]
    Panicked(String),
    /// Building the grant tables failed.
    #[error("cannot build grant tables: {0}")]
    Tables(#[from] datafusion::arrow::error::ArrowError),
}
