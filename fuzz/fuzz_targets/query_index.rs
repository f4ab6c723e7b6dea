//! Queries compiled for the index (tantivy term, range, regex and set queries), for inputs up
//! to 256 bytes: building regex automata takes milliseconds each, so this target runs far
//! fewer executions than the others (see FUZZING.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use trawl::query::{self, Vocabulary};
use trawl::schema::{self, Fields};

fuzz_target!(|data: &[u8]| {
    static FIELDS: OnceLock<Fields> = OnceLock::new();
    let fields = FIELDS.get_or_init(|| schema::build().1);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > 256 || query::check_syntax(text).is_err() {
        return;
    }
    let mut vocab = Vocabulary::default();
    // Source columns, for their terms, patterns and CIDRs over text.
    vocab.attrs.insert("status".into());
    vocab.attrs.insert("destinationip".into());
    let _ = query::compile(text, fields, &vocab);
});
