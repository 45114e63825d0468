//! Grant state that outlives a batch and a process: activity per grant and
//! credential (last seen, totals, scopes used) and the scheduled findings in force.
//!
//! Kept in memory as the [`StateStore`], exposed to rules as the [`StateTables`], and
//! encoded here as the records that `kafka`'s state topic persists (every instance of
//! the group reads it in full, so a restart or a rebalance loses nothing). It must
//! not talk to Kafka itself.

mod encoded;
mod grant_use;
mod ledger;
mod pending;
mod record;
mod relay;
mod shared;
mod store;
mod tables;

pub use encoded::{CHUNK_RECORDS, Chunk, EncodedRecords};
pub use grant_use::GrantUse;
pub use ledger::AlertLedger;
pub use pending::Round;
pub use record::{ActivityRecord, AlertRecord, FindingRecord, StateRecord, finding_key};
pub use relay::Relays;
pub use shared::SharedStore;
pub use store::StateStore;
pub use tables::{
    StateTables, credential_activity_schema, daily_amounts_schema, grant_activity_schema,
    rate_windows_schema,
};
