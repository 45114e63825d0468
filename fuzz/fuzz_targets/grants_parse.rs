//! Any text as a grants file: parsing answers grants or located errors, never panics.
#![no_main]

use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(errors) = grantwatch::grants::parse_str(text, Path::new("fuzz.yaml"), Duration::from_secs(86_400)) {
            assert!(!errors.0.is_empty(), "an error report lists its errors");
        }
    }
});
