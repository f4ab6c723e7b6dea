//! How evidence bytes become text: BOM and UTF-16 detection, and gzip, as ingest reads them.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut raw: &[u8] = data;
    if let Ok(mut text) = trawl::input::decoded(&mut raw) {
        let mut out = Vec::new();
        let _ = text.by_ref().take(1 << 20).read_to_end(&mut out);
    }
    let mut gz = flate2::read::MultiGzDecoder::new(data).take(1 << 20);
    let mut out = Vec::new();
    if gz.read_to_end(&mut out).is_ok() {
        let mut raw: &[u8] = &out;
        if let Ok(mut text) = trawl::input::decoded(&mut raw) {
            let _ = text.read_to_end(&mut Vec::new());
        }
    }
});
