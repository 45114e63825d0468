//! The mapped format over arbitrary mappings and records: a mapping compiles or is
//! refused with reasons, a record decodes or is rejected with one, never a panic, and
//! a batch always builds.
#![no_main]

use grantwatch::decode::{ActionsBuilder, Mapping, PRESETS, Source, TopicFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `MAPPING\0RECORD` fuzzes both; without a NUL the first byte picks a preset.
    let (mapping, record) = match data.iter().position(|&b| b == 0) {
        Some(at) => match std::str::from_utf8(&data[..at]) {
            Ok(text) => (Mapping::from_toml(text), &data[at + 1..]),
            Err(_) => return,
        },
        None => {
            let Some((&selector, record)) = data.split_first() else {
                return;
            };
            let (name, ..) = PRESETS[usize::from(selector) % PRESETS.len()];
            (Mapping::preset(name), record)
        }
    };
    let mapping = match mapping {
        Ok(mapping) => mapping,
        Err(refused) => {
            // Reasons render (they reach the operator at start).
            let _ = refused.to_string();
            return;
        }
    };
    let mut builder = ActionsBuilder::new(1 << 16);
    let source = Source {
        topic: "fuzz",
        partition: 0,
        offset: 0,
    };
    for r in builder.push(&TopicFormat::mapped(mapping), record, source) {
        let _ = r.error.to_string();
    }
    builder.finish().expect("a batch of what decoded always builds");
});
