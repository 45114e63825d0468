//! Grants as code: the YAML contract (DESIGN §5), loaded into validated [`Grant`]s
//! and exposed to rules as Arrow tables.
//!
//! Owns parsing, schema validation and the action-pattern language. It must not
//! decide whether an action is in purpose: that is the rules' SQL.

mod error;
pub mod limit;
pub mod lint;
mod load;
pub(crate) mod location;
pub mod matches;
mod model;
pub mod pattern;
pub mod slice;
mod spec;
pub mod tables;
pub mod texts;
pub mod verdict;

pub use error::{GrantError, GrantErrorKind, GrantErrors};
pub use limit::RateLimit;
pub(crate) use load::serde_field;
pub use load::{FileStamp, GrantSet, Loaded, fingerprint, load_all, load_paths, parse_str, stamp};
pub use location::GrantLocation;
pub use matches::{ScopeMatches, action_scopes_schema};
pub use model::{Emergency, Grant, Scope, Status};
pub use slice::{GrantColumns, GrantIndex};
pub use tables::GrantTables;
