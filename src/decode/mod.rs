//! Decode: Kafka message bytes → the canonical partner-action Arrow batch.
//!
//! Owns the one schema definition ([`schema`]) and the per-format decoders. It must
//! not judge actions (that is `rules`) nor talk to Kafka (that is `kafka`): a decoder
//! sees bytes plus where they came from, and answers a row or a [`DecodeError`].

mod action;
mod builder;
mod error;
mod flat;
mod formats;
mod mapped;
mod native;
pub mod schema;
mod scope;
mod ts;

pub use action::Action;
#[cfg(test)]
pub(crate) use builder::native_batch;
pub use builder::{ActionsBuilder, Rejected, Source, TopicFormat};
pub use error::{DecodeError, DecodeFault};
pub use formats::Format;
pub use mapped::{Mapping, MappingError, PRESETS, is_preset, preset_names};
pub use scope::{PartnerScope, glob};
pub use ts::TsUnit;
