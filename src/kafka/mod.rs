//! Kafka: the one place librdkafka clients are configured, and the source that turns
//! the partner-action topics into batches while dead-lettering what cannot decode.
//!
//! Owns offsets: they are stored only when the pipeline says a batch is done.

mod client;
pub mod ownership;
mod progress;
mod source;
mod state_topic;

pub use client::{
    ActionConsumer, KafkaError, LagContext, admin, consumer, producer, state_reader,
    wait_for_brokers,
};
pub use ownership::Ownership;
pub use progress::Progress;
pub use source::{Collected, Source, SourceSettings};
pub use state_topic::{StateTopic, StateWriter, WriteFailed};
