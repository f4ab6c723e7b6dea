//! Sigma rule files: YAML, conditions, modifiers, compiled into trawl's queries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = trawl::rules::sigma::parse(text, "fuzz.yml");
    }
});
