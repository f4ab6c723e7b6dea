//! Every line format: the sniffer on the input, then the input framed and parsed as each
//! format (the sniffer's answer and every other), as ingest does line by line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trawl::formats::{self, FormatKind, Frame, Framer, ParseCtx};

const KINDS: [FormatKind; 7] = [
    FormatKind::W3c,
    FormatKind::ExchangeCsv,
    FormatKind::HttpproxyHeaderless,
    FormatKind::CsvExport,
    FormatKind::Access,
    FormatKind::Jsonl,
    FormatKind::Text,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ctx = ParseCtx::default();
    let _ = formats::sniff(&text, &ctx);
    for kind in KINDS {
        let mut framer = Framer::new(kind);
        let mut layout = framer.initial_layout();
        for line in text.lines() {
            match framer.feed(line) {
                Frame::Layout(l) => layout = Some(l),
                Frame::Data => {
                    if let Some(l) = &layout {
                        if let Ok(ev) = formats::parse(l, line, &ctx) {
                            let _ = ev.into_owned();
                        }
                    }
                }
                Frame::Skip | Frame::Malformed(_) => {}
            }
        }
    }
});
