//! The tantivy schema: one document per event, built for pivots and a time-ordered timeline.
//!
//! Design choices, each measured against the benchmark corpus:
//! * the index is sorted by `ts`, so every segment is in time order and the timeline can merge
//!   segments instead of sorting hits;
//! * only the raw record is stored; fields shown in the detail pane are parsed again from it with
//!   the layout recorded at ingest, which keeps the store at the size of the compressed log;
//! * keyword fields (`path`, `ua`, `user`…) are one lower-cased term each, for exact and wildcard
//!   matching without case surprises (IIS paths are case-insensitive);
//! * query strings are not indexed whole (Exchange puts a unique GUID in almost every one);
//!   their words are, minus Exchange's own suffix and long hex and digit runs;
//! * words of paths, user agents and users are not tokenised per event: a bare word is matched
//!   against the distinct values of those keyword fields, which repeat heavily;
//! * the request GUID is kept as a 128-bit fast value, not as a term, for the same reason.

use std::net::{IpAddr, Ipv6Addr};

use tantivy::schema::{
    BytesOptions, DateOptions, DateTimePrecision, Field, IndexRecordOption, IpAddrOptions,
    NumericOptions, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, RawTokenizer, TextAnalyzer, Token, TokenStream, Tokenizer};
use tantivy::{DateTime, Index, TantivyDocument};

use crate::event::{Event, names};

/// Tokenizer names registered on every index open.
pub const KEYWORD: &str = "trawl_keyword";
pub const USER_AGENT: &str = "trawl_ua";
pub const WORDS: &str = "trawl_words";

/// Bumped whenever the schema or tokenizers change meaning; stored in the case.
pub const SCHEMA_VERSION: u32 = 3;

/// Handles of every field.
#[derive(Debug, Clone)]
pub struct Fields {
    pub ts: Field,
    pub host: Field,
    pub source: Field,
    pub ip: Field,
    pub xff: Field,
    pub method: Field,
    pub path: Field,
    pub query: Field,
    pub status: Field,
    pub ua: Field,
    pub user: Field,
    pub referer: Field,
    pub bytes: Field,
    pub duration_ms: Field,
    pub request_id: Field,
    /// `name=value` terms of source-specific columns.
    pub attr: Field,
    /// Words of free-text values (messages, cmdlets, long columns) for bare-word search.
    pub text: Field,
    pub file_id: Field,
    pub line: Field,
    pub layout: Field,
    pub raw: Field,
    pub raw_bytes: Field,
}

fn keyword(tokenizer: &str, fast: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let options = TextOptions::default().set_indexing_options(indexing);
    if fast {
        options.set_fast(tokenizer)
    } else {
        options
    }
}

/// A keyword searched without case whose column keeps the value as written: for values that
/// trawl normalises itself at ingest (host names, methods).
fn keyword_raw_fast() -> TextOptions {
    keyword(KEYWORD, false).set_fast("raw")
}

fn words(positions: bool) -> TextOptions {
    let record = if positions {
        IndexRecordOption::WithFreqsAndPositions
    } else {
        IndexRecordOption::Basic
    };
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(record)
            .set_fieldnorms(false),
    )
}

/// Builds the schema.
pub fn build() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fast_u64 = || NumericOptions::default().set_fast();
    let indexed_u64 = || NumericOptions::default().set_fast().set_indexed();
    let ip_indexed = || IpAddrOptions::default().set_fast().set_indexed();
    let fields = Fields {
        // Time is only ever a range or a sort key: a fast column, no terms.
        ts: b.add_date_field(
            names::TS,
            DateOptions::default()
                .set_fast()
                .set_precision(DateTimePrecision::Milliseconds),
        ),
        host: b.add_text_field(names::HOST, keyword_raw_fast()),
        source: b.add_text_field(names::SOURCE, keyword(KEYWORD, true)),
        ip: b.add_ip_addr_field(names::IP, ip_indexed()),
        xff: b.add_ip_addr_field(names::XFF, ip_indexed()),
        method: b.add_text_field(names::METHOD, keyword_raw_fast()),
        path: b.add_text_field(names::PATH, keyword(KEYWORD, true)),
        query: b.add_text_field(names::QUERY, words(false)),
        status: b.add_u64_field(names::STATUS, indexed_u64()),
        ua: b.add_text_field(names::UA, keyword(USER_AGENT, true)),
        user: b.add_text_field(names::USER, keyword(KEYWORD, true)),
        referer: b.add_text_field(names::REFERER, keyword(KEYWORD, false)),
        bytes: b.add_u64_field(names::BYTES, fast_u64()),
        duration_ms: b.add_u64_field(names::DURATION_MS, fast_u64()),
        request_id: b.add_ip_addr_field(names::REQUEST_ID, IpAddrOptions::default().set_fast()),
        attr: b.add_text_field("attr", keyword(KEYWORD, false)),
        text: b.add_text_field("text", words(true)),
        // Files are selected and deleted by range on the column: no per-document term.
        file_id: b.add_u64_field("file_id", fast_u64()),
        line: b.add_u64_field(names::LINE, fast_u64()),
        layout: b.add_u64_field("layout", fast_u64()),
        raw: b.add_text_field(names::RAW, STORED),
        raw_bytes: b.add_bytes_field("raw_bytes", BytesOptions::from(STORED)),
    };
    (b.build(), fields)
}

/// Looks up the field handles of an opened index's schema.
pub fn fields_of(schema: &Schema) -> tantivy::Result<Fields> {
    let f = |name: &str| schema.get_field(name);
    Ok(Fields {
        ts: f(names::TS)?,
        host: f(names::HOST)?,
        source: f(names::SOURCE)?,
        ip: f(names::IP)?,
        xff: f(names::XFF)?,
        method: f(names::METHOD)?,
        path: f(names::PATH)?,
        query: f(names::QUERY)?,
        status: f(names::STATUS)?,
        ua: f(names::UA)?,
        user: f(names::USER)?,
        referer: f(names::REFERER)?,
        bytes: f(names::BYTES)?,
        duration_ms: f(names::DURATION_MS)?,
        request_id: f(names::REQUEST_ID)?,
        attr: f("attr")?,
        text: f("text")?,
        file_id: f("file_id")?,
        line: f(names::LINE)?,
        layout: f("layout")?,
        raw: f(names::RAW)?,
        raw_bytes: f("raw_bytes")?,
    })
}

/// Registers trawl's tokenizers; tantivy does not persist custom tokenizers, so this runs on
/// every open, before any writer or query.
pub fn register_tokenizers(index: &Index) {
    let keyword = || {
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .build()
    };
    let ua = || TextAnalyzer::from(UserAgentNormalizer::default());
    index.tokenizers().register(KEYWORD, keyword());
    index.tokenizers().register(USER_AGENT, ua());
    index
        .tokenizers()
        .register(WORDS, TextAnalyzer::from(WordTokenizer::default()));
    index.fast_field_tokenizer().register(KEYWORD, keyword());
    index.fast_field_tokenizer().register(USER_AGENT, ua());
}

/// One name per server: Windows host names are case-insensitive and logs write them short
/// (`MBX-A`) or fully qualified (`mbx-a.corp.example.org`); both become `MBX-A`.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    if host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    host.split('.').next().unwrap_or(host).to_uppercase()
}

/// Normalises a value the way a keyword field indexes it.
pub fn normalize_keyword(value: &str) -> String {
    value.to_lowercase()
}

/// Normalises a user agent so that IIS (`+` written for spaces, so a literal `+` is lost) and
/// HttpProxy (commas replaced by spaces) spellings of the same agent are one term.
pub fn normalize_user_agent(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value
        .split(|c: char| c.is_whitespace() || c == ',' || c == '+')
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}

/// Splits text into searchable words: alphanumeric runs, lower-cased, minus tokens that are
/// almost always unique (hex runs of 8+ with a digit, digit runs of 5+) and would only bloat
/// the dictionary, and minus tokens longer than 64 bytes.
pub fn words_of(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        loop {
            // Skip separators.
            let (start, _) = loop {
                let (i, c) = chars.next()?;
                if c.is_alphanumeric() {
                    break (i, c);
                }
            };
            let mut end = text.len();
            while let Some(&(i, c)) = chars.peek() {
                if !c.is_alphanumeric() {
                    end = i;
                    break;
                }
                chars.next();
            }
            let word = &text[start..end];
            if !is_noise(word) {
                return Some((start, end));
            }
        }
    })
}

fn is_noise(word: &str) -> bool {
    let len = word.len();
    if len > 64 {
        return true;
    }
    let all_digits = word.bytes().all(|b| b.is_ascii_digit());
    if all_digits {
        return len >= 5;
    }
    len >= 8
        && word.bytes().all(|b| b.is_ascii_hexdigit())
        && word.bytes().any(|b| b.is_ascii_digit())
}

/// Removes what Exchange appends to every query string (`CorrelationID=<empty>;`,
/// `cafeReqId=<guid>;`, `encoding=;`): it says nothing about the request, and indexing its words
/// for every line of a front end would double the cost of ingest. The request GUID is indexed
/// on its own as `request_id`.
pub fn strip_exchange_boilerplate(query: &str) -> std::borrow::Cow<'_, str> {
    if !query.contains("CorrelationID=") && !query.contains("cafeReqId=") {
        return std::borrow::Cow::Borrowed(query);
    }
    let kept: Vec<&str> = query
        .split(['&', ';'])
        .filter(|part| {
            !part.is_empty()
                && !part.starts_with("CorrelationID=")
                && !part.starts_with("cafeReqId=")
                && *part != "encoding="
        })
        .collect();
    std::borrow::Cow::Owned(kept.join("&"))
}

/// Tokenizer for [`WORDS`]; keeps its token buffer between calls.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    tokens: Vec<Token>,
}

/// Stream over a [`WordTokenizer`]'s buffer.
pub struct BufferedStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for BufferedStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = BufferedStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BufferedStream<'a> {
        self.tokens.clear();
        for (position, (from, to)) in words_of(text).enumerate() {
            self.tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: text[from..to].to_lowercase(),
                position_length: 1,
            });
        }
        BufferedStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// Tokenizer for [`USER_AGENT`]: one token, normalised by [`normalize_user_agent`].
#[derive(Clone, Default)]
pub struct UserAgentNormalizer {
    tokens: Vec<Token>,
}

impl Tokenizer for UserAgentNormalizer {
    type TokenStream<'a> = BufferedStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BufferedStream<'a> {
        self.tokens.clear();
        self.tokens.push(Token {
            offset_from: 0,
            offset_to: text.len(),
            position: 0,
            text: normalize_user_agent(text),
            position_length: 1,
        });
        BufferedStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// Maps an address into tantivy's IPv6 space (IPv4 as mapped addresses).
pub fn ip_to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Reverses [`ip_to_v6`].
pub fn v6_to_ip(v6: Ipv6Addr) -> IpAddr {
    IpAddr::V6(v6).to_canonical()
}

/// Where an event came from, for its document.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    pub file_id: u64,
    pub line: u64,
    pub layout: u64,
    /// Host to use when the record names none.
    pub host: Option<&'a str>,
    pub source: &'a str,
}

/// Values longer than this are not indexed as exact attribute terms (their words still are).
const ATTR_TERM_MAX: usize = 256;

/// Builds the document of one event.
pub fn document(
    f: &Fields,
    ev: &Event<'_>,
    from: Provenance<'_>,
    raw: &str,
    raw_bytes: Option<&[u8]>,
) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_date(f.ts, DateTime::from_timestamp_millis(ev.ts_ms));
    if let Some(host) = ev.host.as_deref().or(from.host) {
        doc.add_text(f.host, normalize_host(host));
    }
    doc.add_text(f.source, from.source);
    if let Some(ip) = ev.ip {
        doc.add_ip_addr(f.ip, ip_to_v6(ip));
    }
    for ip in &ev.xff {
        doc.add_ip_addr(f.xff, ip_to_v6(*ip));
    }
    if let Some(method) = &ev.method {
        doc.add_text(f.method, method.to_ascii_uppercase());
    }
    let keyword_fields = [
        (f.path, &ev.path),
        (f.user, &ev.user),
        (f.referer, &ev.referer),
    ];
    for (field, value) in keyword_fields {
        if let Some(v) = value {
            doc.add_text(field, v);
        }
    }
    // Words of paths, agents and users are searched over the distinct values of their keyword
    // fields (see `query`), not tokenised again for every event.
    if let Some(ua) = &ev.ua {
        doc.add_text(f.ua, ua);
    }
    if let Some(q) = &ev.query {
        let meaningful = strip_exchange_boilerplate(q);
        if !meaningful.is_empty() {
            doc.add_text(f.query, meaningful.as_ref());
        }
    }
    if let Some(s) = ev.status {
        doc.add_u64(f.status, s);
    }
    if let Some(b) = ev.bytes {
        doc.add_u64(f.bytes, b);
    }
    if let Some(d) = ev.duration_ms {
        doc.add_u64(f.duration_ms, d);
    }
    if let Some(id) = ev.request_id {
        doc.add_ip_addr(f.request_id, Ipv6Addr::from(id));
    }
    let mut term = String::new();
    for (name, value) in &ev.attrs {
        if value.len() <= ATTR_TERM_MAX {
            term.clear();
            term.push_str(name);
            term.push('=');
            term.push_str(value);
            doc.add_text(f.attr, &term);
        }
        if value.len() > 32 || value.contains(' ') {
            doc.add_text(f.text, value);
        }
    }
    doc.add_u64(f.file_id, from.file_id);
    doc.add_u64(f.line, from.line);
    doc.add_u64(f.layout, from.layout);
    doc.add_text(f.raw, raw);
    if let Some(bytes) = raw_bytes {
        doc.add_bytes(f.raw_bytes, bytes);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        words_of(text).map(|(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn words_drop_guid_and_number_noise() {
        let q =
            "&CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224;&encoding=;";
        assert_eq!(
            words(q),
            vec![
                "CorrelationID",
                "empty",
                "cafeReqId",
                "61f6",
                "401a",
                "ab5d",
                "encoding"
            ]
        );
        assert_eq!(
            words("python-requests/2.25.1"),
            vec!["python", "requests", "2", "25", "1"]
        );
        assert_eq!(
            words("port 50123 status 200"),
            vec!["port", "status", "200"]
        );
        assert_eq!(words("__VIEWSTATE=abc"), vec!["VIEWSTATE", "abc"]);
    }

    #[test]
    fn user_agents_from_iis_and_httpproxy_normalise_alike() {
        let iis =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)";
        let proxy =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML  like Gecko)";
        assert_eq!(normalize_user_agent(iis), normalize_user_agent(proxy));
    }

    #[test]
    fn exchange_query_boilerplate_is_not_indexed() {
        let q =
            "&CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224;&encoding=;";
        assert_eq!(strip_exchange_boilerplate(q), "");
        let q = "Cmd=Ping&User=j.smith&DeviceId=X1&CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224;";
        assert_eq!(
            strip_exchange_boilerplate(q),
            "Cmd=Ping&User=j.smith&DeviceId=X1"
        );
        assert_eq!(strip_exchange_boilerplate("a=1&b=2"), "a=1&b=2");
    }

    #[test]
    fn host_names_fold_to_the_short_name() {
        assert_eq!(normalize_host("mbx-a.corp.example.org"), "MBX-A");
        assert_eq!(normalize_host("MBX-A"), "MBX-A");
        assert_eq!(normalize_host("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn schema_round_trips_field_handles() {
        let (schema, fields) = build();
        let again = fields_of(&schema).expect("all fields present");
        assert_eq!(fields.raw, again.raw);
        assert_eq!(fields.ts, again.ts);
    }
}
