//! Every text format: the sniffer on the input, then the input cut into records and framed and
//! parsed as each format (the sniffer's answer and every other), as ingest does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trawl::formats::documents::{Segment, Splitter, Syntax};
use trawl::formats::{self, FormatKind, Frame, Framer, ParseCtx};
use trawl::input::Records;

const KINDS: [FormatKind; 10] = [
    FormatKind::W3c,
    FormatKind::ExchangeCsv,
    FormatKind::HttpproxyHeaderless,
    FormatKind::IisHeaderless,
    FormatKind::CsvExport,
    FormatKind::Access,
    FormatKind::Jsonl,
    FormatKind::Text,
    FormatKind::JsonDocuments,
    FormatKind::EventXml,
];

/// The segments of `data` fed as `input::Records` feeds a file: each line whole, or in pieces
/// of `size` bytes (the piece holding its line end says so; a last line without one is ended
/// by an empty piece).
fn segments(syntax: Syntax, data: &[u8], size: Option<usize>) -> Vec<Segment> {
    let mut splitter = Splitter::new(syntax);
    let mut n = 0;
    for (i, line) in data.split_inclusive(|b| *b == b'\n').enumerate() {
        n = i as u64 + 1;
        let ends = line.ends_with(b"\n");
        let pieces: Vec<&[u8]> = line.chunks(size.unwrap_or(line.len()).max(1)).collect();
        for (j, piece) in pieces.iter().enumerate() {
            splitter.push(piece, n, ends && j + 1 == pieces.len());
        }
        if !ends {
            splitter.push(b"", n, true);
        }
    }
    splitter.finish(n);
    std::iter::from_fn(|| splitter.pop()).collect()
}

fuzz_target!(|data: &[u8]| {
    // A line read in pieces is cut as the whole line is.
    if let Some((&first, rest)) = data.split_first() {
        let size = usize::from(first % 16) + 1;
        for syntax in [Syntax::Json, Syntax::EventXml] {
            assert_eq!(segments(syntax, rest, None), segments(syntax, rest, Some(size)));
        }
    }
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
            let data = match framer.feed(&record) {
                Frame::Layout(l) => {
                    layout = Some(l);
                    false
                }
                Frame::DataIn(l) => {
                    layout = Some(l);
                    true
                }
                Frame::Data => true,
                Frame::Skip | Frame::Malformed(_) => false,
            };
            if data {
                if let Some(l) = &layout {
                    if let Ok(ev) = formats::parse(l, &record, &ctx) {
                        let _ = ev.into_owned();
                    }
                }
            }
        }
    }
});
