//! Grant state that outlives a batch and a process: activity per grant and
//! credential (last seen, totals, scopes used) and the scheduled findings in force.
//!
//! Kept in memory, persisted to a compacted Kafka topic that every instance of the
//! group reads in full (so a restart or a rebalance loses nothing, and each instance
//! knows what the others saw), and exposed to rules as the [`StateTables`].
//! [`ownership`] decides which instance reports which grant.

mod encoded;
mod ledger;
pub mod ownership;
mod pending;
mod record;
mod store;
mod tables;
mod topic;

pub use encoded::EncodedRecords;
pub use ledger::AlertLedger;
pub use ownership::Ownership;
pub use pending::Round;
pub use record::{
    ActivityRecord, AlertRecord, DailyAmount, FindingRecord, StateRecord, WindowCount, finding_key,
};
pub use store::{GrantUse, StateStore};
pub use tables::{
    StateTables, credential_activity_schema, daily_amounts_schema, grant_activity_schema,
    rate_windows_schema,
};
pub use topic::{StateTopic, StateWriter, WriteFailed};
