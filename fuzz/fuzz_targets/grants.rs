//! The grants parser over arbitrary text: a grant set or located errors, never a
//! panic; what validates also lints and builds its tables.
#![no_main]

use std::path::Path;
use std::time::Duration;

use grantwatch::grants::{self, GrantTables};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match grants::parse_str(text, Path::new("fuzz.yaml"), Duration::from_secs(86_400)) {
        Ok(set) => {
            GrantTables::build(&set).expect("tables of a valid set build");
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
});
