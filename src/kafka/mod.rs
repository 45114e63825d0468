//! Kafka: the one place librdkafka clients are configured, and the source that turns
//! the partner-action topics into batches while dead-lettering what cannot decode.
//!
//! Owns offsets: they are stored only when the pipeline says a batch is done.

mod client;
mod progress;
mod source;

pub use client::{
    ActionConsumer, KafkaError, LagContext, admin, consumer, producer, state_reader,
    wait_for_brokers,
};
pub use progress::Progress;
pub use source::{Collected, Source, SourceSettings};
