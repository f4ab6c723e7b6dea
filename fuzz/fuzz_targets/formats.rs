//! Every text format: the sniffer on the input, then the input cut into records and framed and
//! parsed as each format (the sniffer's answer and every other), as ingest does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trawl::formats::{self, FormatKind, Frame, Framer, ParseCtx};
use trawl::input::Records;

const KINDS: [FormatKind; 9] = [
    FormatKind::W3c,
    FormatKind::ExchangeCsv,
    FormatKind::HttpproxyHeaderless,
    FormatKind::CsvExport,
    FormatKind::Access,
    FormatKind::Jsonl,
    FormatKind::Text,
    FormatKind::JsonDocuments,
    FormatKind::EventXml,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ctx = ParseCtx::default();
    let _ = formats::sniff(&text, &ctx);
    for kind in KINDS {
        let mut framer = Framer::new(kind);
        let mut layout = framer.initial_layout();
        let mut records = Records::new(data, kind.framing());
        let mut buf = Vec::new();
        while let Ok(Some((line, span))) = records.next_record(&mut buf) {
            assert!(line >= 1 && span >= 1);
            if records.cut().is_some() {
                continue;
            }
            let record = String::from_utf8_lossy(&buf);
            match framer.feed(&record) {
                Frame::Layout(l) => layout = Some(l),
                Frame::Data => {
                    if let Some(l) = &layout {
                        if let Ok(ev) = formats::parse(l, &record, &ctx) {
                            let _ = ev.into_owned();
                        }
                    }
                }
                Frame::Skip | Frame::Malformed(_) => {}
            }
        }
    }
});
