//! The config parser over arbitrary text: a config or every error, never a panic.
#![no_main]

use std::path::Path;

use grantwatch::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_toml(text, Path::new("fuzz.toml"), std::iter::empty()) {
        let _ = e.to_string();
    }
});
