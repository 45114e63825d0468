//! The one integration-test binary. Every test here talks to a real Kafka broker
//! (started by `deploy/local/test.sh`, address in `GRANTWATCH_TEST_BROKERS`, default
//! 127.0.0.1:9092) and runs the real `grantwatch` binary. Events are produced with
//! kcat, independently of grantwatch's own code.

// These tests are synchronous processes-and-sockets tests; no async runtime to block.
#![allow(clippy::disallowed_methods)]

mod pipeline;
mod support;
