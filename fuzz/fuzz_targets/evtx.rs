//! Windows event logs: a whole EVTX file through the `evtx` crate and each record it renders
//! through trawl's reading of it; and the bytes as a record's XML directly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        let _ = trawl::formats::evtx::parse(xml);
    }
    if data.starts_with(trawl::formats::evtx::MAGIC) {
        let settings = evtx::ParserSettings::new().num_threads(1);
        if let Ok(parser) = evtx::EvtxParser::from_buffer(data.to_vec()) {
            let mut parser = parser.with_configuration(settings);
            for record in parser.records().take(64).flatten() {
                let _ = trawl::formats::evtx::parse(&record.data);
            }
        }
    }
});
