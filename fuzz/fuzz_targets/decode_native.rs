//! Any bytes as a `native` message: decoding must answer rows or rejections, never panic,
//! and account for the message (at least one row or one rejection).
#![no_main]

use grantwatch::decode::{ActionsBuilder, Format, Source, TopicFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut builder = ActionsBuilder::new(1 << 20);
    let format = TopicFormat { format: Format::Native, environment: Some("fuzz".into()) };
    let rejected = builder.push(&format, data, Source { topic: "fuzz", partition: 0, offset: 0 });
    assert!(builder.len() + rejected.len() >= 1, "a message vanished");
    builder.finish().expect("a batch of decoded rows always builds");
});
