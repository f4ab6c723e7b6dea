//! The query language: its parser, its plan lowered to SQL (the ClickHouse store), and a query
//! compiled for single events (what rules run on their candidates) run on one. Compiling for
//! the index is `query_index`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trawl::query::{self, Matcher};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if query::check_syntax(text).is_err() {
        return;
    }
    // The same plan a ClickHouse case lowers to SQL (a pure function: no server).
    let mut vocab = query::Vocabulary::default();
    vocab.attrs.insert("eventid".into());
    vocab.attrs.insert("status".into());
    vocab.attrs.insert("destinationip".into());
    vocab.unknown_fields_match_nothing = true;
    if let Ok((plan, _)) = query::plan_of(text, &vocab) {
        let _ = trawl::store::clickhouse::sql::condition(&plan, &|_, _| Ok("0".into()));
    }
    if let Ok(m) = Matcher::new(text) {
        let ev = trawl::view::EventView {
            path: Some("/owa/auth/x.aspx".into()),
            ip: Some("192.0.2.7".into()),
            status: Some(200),
            raw: "GET /owa/auth/x.aspx 200".into(),
            fields: vec![
                ("EventID".into(), "1".into()),
                ("Status".into(), "0xc000006d".into()),
                ("DestinationIp".into(), "fe80::1".into()),
            ],
            ..Default::default()
        };
        let _ = m.matches(&ev);
        // A rule's candidate query with a pattern relaxed, wherever the error would point.
        for column in [1, text.len() / 2, text.len()] {
            if let Some(relaxed) = Matcher::relax_pattern_at(&m.index_text, column) {
                assert!(query::check_syntax(&relaxed).is_ok(), "{relaxed}");
            }
        }
    }
});
