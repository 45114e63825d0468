//! Every decoder over arbitrary bytes: a message is decoded or rejected with a
//! reason, never a panic, and a batch always builds.
#![no_main]

use grantwatch::decode::{ActionsBuilder, Format, Source, TopicFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format and whether a default environment is set.
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let format = Format::ALL[usize::from(selector & 0x7f) % Format::ALL.len()];
    let topic = TopicFormat {
        environment: (selector & 0x80 != 0).then(|| "fuzz-cluster".to_owned()),
        ..TopicFormat::of(format)
    };
    let mut builder = ActionsBuilder::new(1 << 16);
    let source = Source {
        topic: "fuzz",
        partition: 0,
        offset: 0,
    };
    let rejected = builder.push(&topic, payload, source);
    for r in &rejected {
        // Reasons render (they become the dead-letter header).
        let _ = r.error.to_string();
    }
    builder.finish().expect("a batch of what decoded always builds");
});
