//! Why a configuration is refused.

use std::fmt;
use std::path::{Path, PathBuf};

/// An invalid configuration file: the operator's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// Each problem, naming its key.
    pub errors: Vec<String>,
}

impl ConfigError {
    pub(super) fn single(file: &Path, message: String) -> Self {
        Self {
            file: file.to_owned(),
            errors: vec![message],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid config {}: {}",
            self.file.display(),
            self.errors.join("; ")
        )
    }
}
