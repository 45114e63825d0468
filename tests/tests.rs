//! The one integration-test binary. The pipeline and metrics tests talk to a real
//! Kafka broker (started by `deploy/local/test.sh`, address in
//! `GRANTWATCH_TEST_BROKERS`, default 127.0.0.1:9092) and run the real `grantwatch`
//! binary; events are produced with kcat, independently of grantwatch's own code.
//! The deploy tests check deploy/ with promtool and parsers; the replay tests run the
//! binary over files, among them the real CloudTrail data in shared/data; the demo
//! test runs `grantwatch demo`, which needs no broker.

// These tests are synchronous processes-and-sockets tests; no async runtime to block.
// Panicking on a broken fixture or harness step is how a test fails.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::expect_used)]

mod alerting;
mod console;
mod decide;
mod demo;
mod deploy;
mod explain;
mod gateways;
mod grants;
mod history;
mod layout;
mod metrics;
mod pipeline;
mod replay;
mod security;
mod support;
mod volume;
