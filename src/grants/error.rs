//! Grant file errors: always the grant owner's fault, always located.

use std::fmt;
use std::path::PathBuf;

/// What kind of problem: whether the file could be read as grants at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantErrorKind {
    /// A path could not be read or listed.
    Unreadable,
    /// The file is not YAML (or not a list).
    Syntax,
    /// A grant breaks the schema: unknown key, missing field, bad value.
    Schema,
    /// A grant id is used twice.
    Duplicate,
}

/// One problem in a grants file, located by file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantError {
    /// What kind of problem.
    pub kind: GrantErrorKind,
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The grant's id, when known.
    pub grant_id: Option<String>,
    /// The field at fault, when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(id) = &self.grant_id {
            write!(f, ": grant `{id}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading a grant set, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct GrantErrors(pub Vec<GrantError>);

impl fmt::Display for GrantErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} invalid grant{}", if n == 1 { "" } else { "s" })?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}
