//! Decode: Kafka message bytes → the canonical partner-action Arrow batch.
//!
//! Owns the one schema definition ([`schema`]) and the per-format decoders. It must
//! not judge actions (that is `rules`) nor talk to Kafka (that is `kafka`): a decoder
//! sees bytes plus where they came from, and answers a row or a [`DecodeError`].

mod builder;
mod error;
mod native;
pub mod schema;

pub use builder::{ActionsBuilder, Source};
pub use error::{DecodeError, DecodeFault};
