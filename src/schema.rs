//! The tantivy schema: one document per event, built for pivots and a time-ordered timeline.
//!
//! Design choices, each measured against the benchmark corpus:
//! * every segment is in time order (ingest sorts each run of events before adding it), so the
//!   timeline can merge segments instead of sorting hits;
//! * only the raw record is stored; fields shown in the detail pane are parsed again from it with
//!   the layout recorded at ingest, which keeps the store at the size of the compressed log;
//! * keyword fields (`path`, `ua`, `user`…) are one lower-cased term each, for exact and wildcard
//!   matching without case surprises (IIS paths are case-insensitive);
//! * query strings are not indexed whole (Exchange puts a unique GUID in almost every one);
//!   their words are, minus Exchange's own suffix and long hex and digit runs;
//! * words of paths, user agents and users are not tokenised per event: a bare word is matched
//!   against the distinct values of those keyword fields, which repeat heavily;
//! * request GUIDs are nearly unique, so as terms or as a column they would cost as much as the
//!   rest of the event: only a 16-bit bucket of each is indexed, and a query for one GUID
//!   compares the parsed GUIDs of its bucket's few events (see [`request_id_bucket`]).

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
pub const WORDS: &str = "trawl_words";

/// Names of the index fields that are not canonical event fields (those are in
/// [`crate::event::names`]).
pub mod fields {
    /// `name=value` terms of source-specific columns.
    pub const ATTR: &str = "attr";
    /// Words of free-text values.
    pub const TEXT: &str = "text";
    /// The ingested file, as its id in the manifest.
    pub const FILE_ID: &str = "file_id";
    /// The record layout, as its index in the manifest.
    pub const LAYOUT: &str = "layout";
    /// A record's bytes when they are not valid UTF-8.
    pub const RAW_BYTES: &str = "raw_bytes";
    /// A Windows event's identity (`formats::evtx::record_identity`), a column only: read back
    /// when a later ingest brings the same events again.
    pub const WINREC: &str = "winrec";
}

/// Bumped whenever the schema or tokenizers change meaning; stored in the case.
pub const SCHEMA_VERSION: u32 = 9;

/// Handles of every field.
#[derive(Debug, Clone)]
pub struct Fields {
    pub ts: Field,
    pub host: Field,
    pub source: Field,
    pub ip: Field,
    pub client: Field,
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
    pub winrec: Field,
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
        client: b.add_ip_addr_field(names::CLIENT, ip_indexed()),
        xff: b.add_ip_addr_field(names::XFF, ip_indexed()),
        method: b.add_text_field(names::METHOD, keyword_raw_fast()),
        // Normalised once by `document` for both the terms and the column.
        path: b.add_text_field(names::PATH, keyword("raw", true)),
        query: b.add_text_field(names::QUERY, words(false)),
        status: b.add_u64_field(names::STATUS, indexed_u64()),
        ua: b.add_text_field(names::UA, keyword("raw", true)),
        user: b.add_text_field(names::USER, keyword("raw", true)),
        referer: b.add_text_field(names::REFERER, keyword(KEYWORD, false)),
        bytes: b.add_u64_field(names::BYTES, fast_u64()),
        duration_ms: b.add_u64_field(names::DURATION_MS, fast_u64()),
        request_id: b.add_u64_field(names::REQUEST_ID, NumericOptions::default().set_indexed()),
        attr: b.add_text_field(fields::ATTR, keyword(KEYWORD, false)),
        text: b.add_text_field(fields::TEXT, words(true)),
        // Files are selected and deleted by range on the column: no per-document term.
        file_id: b.add_u64_field(fields::FILE_ID, fast_u64()),
        line: b.add_u64_field(names::LINE, fast_u64()),
        layout: b.add_u64_field(fields::LAYOUT, fast_u64()),
        raw: b.add_text_field(names::RAW, STORED),
        raw_bytes: b.add_bytes_field(fields::RAW_BYTES, BytesOptions::from(STORED)),
        winrec: b.add_u64_field(fields::WINREC, fast_u64()),
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
        client: f(names::CLIENT)?,
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
        attr: f(fields::ATTR)?,
        text: f(fields::TEXT)?,
        file_id: f(fields::FILE_ID)?,
        line: f(names::LINE)?,
        layout: f(fields::LAYOUT)?,
        raw: f(names::RAW)?,
        raw_bytes: f(fields::RAW_BYTES)?,
        winrec: f(fields::WINREC)?,
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
    index.tokenizers().register(KEYWORD, keyword());
    index
        .tokenizers()
        .register(WORDS, TextAnalyzer::from(WordTokenizer::default()));
    index.fast_field_tokenizer().register(KEYWORD, keyword());
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

/// The host an event belongs to: the one its record names, else its file's (from the
/// collection's folders or `--host`), else, when nothing names the server (an IIS log copied
/// out of its folders), the server's own address (`s-ip`), which keeps two servers' logs apart.
pub fn host_of(ev: &Event<'_>, file_host: Option<&str>) -> Option<String> {
    if let Some(host) = &ev.host {
        return Some(normalize_host(host));
    }
    if let Some(host) = file_host {
        return Some(normalize_host(host));
    }
    ev.attr("s-ip")
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|ip| ip.to_string())
}

/// Normalises a value the way a keyword field indexes it.
pub fn normalize_keyword(value: &str) -> String {
    value.to_lowercase()
}

/// Normalises a user agent so that IIS (`+` written for spaces, so a literal `+` is lost) and
/// HttpProxy (commas replaced by spaces) spellings of the same agent are one term.
pub fn normalize_user_agent(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    normalize_user_agent_into(value, &mut out);
    out
}

/// [`normalize_user_agent`] into a buffer the caller reuses.
fn normalize_user_agent_into(value: &str, out: &mut String) {
    out.clear();
    for word in value
        .split(|c: char| c.is_whitespace() || c == ',' || c == '+')
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        push_lowercase(word, out);
    }
}

/// Appends `text` lower-cased, without allocating for ASCII.
fn push_lowercase(text: &str, out: &mut String) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        // Whole-string lower-casing, as queries are lower-cased (a final Σ becomes ς).
        out.push_str(&text.to_lowercase());
    }
}

/// Splits text into searchable words: alphanumeric runs, lower-cased, minus tokens that are
/// almost always unique (hex runs of 8+ with a digit, digit runs of 5+) and would only bloat
/// the dictionary, and minus tokens longer than 64 bytes. A hex run of a hash's length (MD5,
/// SHA-1, SHA-256: 32, 40, 64) is kept: it is the indicator a responder pastes (Sysmon's
/// `Hashes`), and GUIDs, the usual unique hex, are written in shorter runs.
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
        && !matches!(len, 32 | 40 | 64)
        && word.bytes().all(|b| b.is_ascii_hexdigit())
        && word.bytes().any(|b| b.is_ascii_digit())
}

/// A query string as its words are indexed and asked: without Exchange's own parameters
/// ([`strip_exchange_boilerplate`]) and, when it is percent-encoded, followed by its decoded
/// text, so that `FooProtocol=%50owershell` (a bypass of Microsoft's URL Rewrite mitigation for
/// ProxyNotShell) is found by the word `powershell`. Decoded up to three times (`%2550`).
pub fn query_words_text(query: &str) -> std::borrow::Cow<'_, str> {
    let stripped = strip_exchange_boilerplate(query);
    // Most query strings have no escape: borrowed as they are, nothing copied.
    let Some(mut decoded) = percent_decoded(&stripped) else {
        return stripped;
    };
    for _ in 1..3 {
        match percent_decoded(&decoded) {
            Some(next) => decoded = next,
            None => break,
        }
    }
    std::borrow::Cow::Owned(format!("{stripped} {decoded}"))
}

/// The text with its `%XX` escapes decoded (invalid UTF-8 replaced), or `None` when it has none.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    memchr::memchr(b'%', bytes)?;
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            changed = true;
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    changed.then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Removes what Exchange appends to every query string (`CorrelationID=<empty>;`,
/// `cafeReqId=<guid>;`, `encoding=;`): it says nothing about the request, and indexing its words
/// for every line of a front end would double the cost of ingest. The request GUID is indexed
/// on its own as `request_id`.
pub fn strip_exchange_boilerplate(query: &str) -> std::borrow::Cow<'_, str> {
    // Exactly Exchange's forms: anything else written there is the client's, and may be the
    // attack (`CorrelationID=@x/powershell/…` hid a ProxyShell request from its rules).
    let is_boilerplate = |part: &str| {
        let guid = |v: &str| crate::event::parse_guid(v).is_some() && !v.contains(['{', ' ']);
        part.is_empty()
            || part == "encoding="
            || part == "CorrelationID=<empty>"
            || part.strip_prefix("CorrelationID=").is_some_and(guid)
            || part.strip_prefix("cafeReqId=").is_some_and(guid)
    };
    static MARKERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 2]> =
        std::sync::LazyLock::new(|| {
            [
                memchr::memmem::Finder::new("CorrelationID="),
                memchr::memmem::Finder::new("cafeReqId="),
            ]
        });
    let Some(start) = MARKERS
        .iter()
        .filter_map(|marker| marker.find(query.as_bytes()))
        .min()
    else {
        return std::borrow::Cow::Borrowed(query);
    };
    // Exchange appends it: when all of it is at the end, the rest is borrowed as it is.
    let (prefix, suffix) = query.split_at(start);
    let starts_a_part = prefix.is_empty() || prefix.ends_with(['&', ';']);
    let prefix_is_clean = !prefix
        .split(['&', ';'])
        .any(|part| !part.is_empty() && is_boilerplate(part));
    if starts_a_part && prefix_is_clean && suffix.split(['&', ';']).all(is_boilerplate) {
        return std::borrow::Cow::Borrowed(prefix.trim_end_matches(['&', ';']));
    }
    let kept: Vec<&str> = query
        .split(['&', ';'])
        .filter(|part| !is_boilerplate(part))
        .collect();
    std::borrow::Cow::Owned(kept.join("&"))
}

/// Tokenizer for [`WORDS`]; keeps its tokens, and their text buffers, between calls.
#[derive(Clone, Default)]
pub struct WordTokenizer {
    tokens: Vec<Token>,
}

/// Stream over a [`WordTokenizer`]'s buffer.
pub struct BufferedStream<'a> {
    tokens: &'a mut [Token],
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

/// The `index`th token of `tokens`, reusing its text buffer when there is one.
fn reuse_token(tokens: &mut Vec<Token>, index: usize) -> &mut Token {
    if index == tokens.len() {
        tokens.push(Token::default());
    }
    let token = &mut tokens[index];
    token.text.clear();
    token
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = BufferedStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> BufferedStream<'a> {
        let mut used = 0;
        for (position, (from, to)) in words_of(text).enumerate() {
            let token = reuse_token(&mut self.tokens, used);
            token.offset_from = from;
            token.offset_to = to;
            token.position = position;
            token.position_length = 1;
            push_lowercase(&text[from..to], &mut token.text);
            used += 1;
        }
        BufferedStream {
            tokens: &mut self.tokens[..used],
            next: 0,
        }
    }
}

/// The indexed part of a request GUID: its top 16 bits. 65,536 buckets keep the term dictionary
/// small while a bucket holds few events (about 150 in ten million).
pub fn request_id_bucket(id: u128) -> u64 {
    (id >> 112) as u64
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
    /// Host to use when the record names none, already normalised by [`normalize_host`].
    pub host: Option<&'a str>,
    pub source: &'a str,
    /// The Windows event it is (`formats::evtx::record_identity`), kept as a column.
    pub windows_record: Option<u64>,
}

/// `name=value` terms are at most this long (longer values are held in pieces, see
/// [`term_pieces`]): tantivy holds terms of up to 65,530 bytes, and lower-casing can lengthen
/// one. It was 4 KiB, and field queries and Sigma rules missed the long encoded command lines,
/// script blocks and AD attribute values attackers write (a PowerShell script block is cut at
/// 32,768 characters, up to 98,304 bytes of UTF-8).
const ATTR_TERM_MAX: usize = 60_000;

/// How far the pieces of a value too long for one term overlap: a pattern up to this long is
/// found wherever it is in the value.
const TERM_OVERLAP: usize = 8 << 10;

/// Marks where a piece of a long value is not the value's start or end (see [`term_pieces`]).
const PIECE_MARK: char = '\u{1}';

/// A value as the terms that hold it: itself, or, longer than a term may be (a script block
/// padded past 60,000 bytes to hide its end from field rules), overlapping pieces of it, the
/// first at its start and the last at its end, so `contains`, `startswith` and `endswith`
/// still find what is in it. A piece's cut ends carry [`PIECE_MARK`]: a middle piece is not
/// the value's start, nor the first piece its end.
fn term_pieces<'v>(name: &str, value: &'v str) -> Vec<std::borrow::Cow<'v, str>> {
    use std::borrow::Cow;
    let room = term_room(name, value);
    if value.len() <= room {
        return vec![Cow::Borrowed(value)];
    }
    if room <= TERM_OVERLAP * 2 {
        return Vec::new();
    }
    let floor = |mut i: usize| {
        while !value.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let piece = |from: usize, to: usize| {
        let mut p = String::with_capacity(to - from + 2);
        if from > 0 {
            p.push(PIECE_MARK);
        }
        p.push_str(&value[from..to]);
        if to < value.len() {
            p.push(PIECE_MARK);
        }
        Cow::Owned(p)
    };
    let mut pieces = Vec::new();
    let mut start = 0;
    loop {
        let end = floor((start + room).min(value.len()));
        if end == value.len() {
            // The last piece ends where the value does.
            pieces.push(piece(floor(value.len().saturating_sub(room)), value.len()));
            break;
        }
        pieces.push(piece(start, end));
        start = floor(end - TERM_OVERLAP);
    }
    pieces
}

/// How long `value` may be to be one `name=value` term (a piece's marks included). Lower-casing
/// can lengthen text by half (`İ` is two bytes, `i̇` three), and tantivy drops a term past its
/// limit: a value of other than ASCII is measured as if it did (looked at only when long enough
/// for it to matter).
fn term_room(name: &str, value: &str) -> usize {
    let room = ATTR_TERM_MAX.saturating_sub(name.len() + 1 + 2 * PIECE_MARK.len_utf8());
    if value.len() <= room * 2 / 3 || value.is_ascii() {
        room
    } else {
        room * 2 / 3
    }
}

/// Adds the term `name=value` to the document's attributes, `term` being the buffer.
fn add_attr(doc: &mut TantivyDocument, field: Field, term: &mut String, name: &str, value: &str) {
    term.clear();
    term.push_str(name);
    term.push('=');
    term.push_str(value);
    doc.add_text(field, &*term);
}

/// Builds the document of one event.
pub fn document(
    f: &Fields,
    ev: &Event<'_>,
    from: Provenance<'_>,
    raw: &str,
    raw_bytes: Option<&[u8]>,
) -> TantivyDocument {
    // Documents wait in memory to be sorted by time before indexing (see `ingest`): sized to
    // their content rather than tantivy's default kilobyte.
    let mut doc = TantivyDocument::with_capacity(2 * raw.len() + 256);
    doc.add_date(f.ts, DateTime::from_timestamp_millis(ev.ts_ms));
    if let Some(host) = host_of(ev, from.host) {
        doc.add_text(f.host, host);
    }
    doc.add_text(f.source, from.source);
    if let Some(ip) = ev.ip {
        doc.add_ip_addr(f.ip, ip_to_v6(ip));
    }
    if let Some(client) = ev.client {
        doc.add_ip_addr(f.client, ip_to_v6(client));
    }
    for ip in &ev.xff {
        doc.add_ip_addr(f.xff, ip_to_v6(*ip));
    }
    if let Some(method) = &ev.method {
        if method.bytes().any(|b| b.is_ascii_lowercase()) {
            doc.add_text(f.method, method.to_ascii_uppercase());
        } else {
            doc.add_text(f.method, method);
        }
    }
    // Paths, users and agents are indexed and kept as columns normalised: done once here rather
    // than by a tokenizer for each. Their words are searched over the distinct values (see
    // `query`), not tokenised again for every event.
    let mut normalised = String::new();
    for (field, value) in [(f.path, &ev.path), (f.user, &ev.user)] {
        if let Some(v) = value {
            normalised.clear();
            push_lowercase(v, &mut normalised);
            doc.add_text(field, &normalised);
        }
    }
    if let Some(ua) = &ev.ua {
        normalize_user_agent_into(ua, &mut normalised);
        doc.add_text(f.ua, &normalised);
    }
    if let Some(referer) = &ev.referer {
        doc.add_text(f.referer, referer);
    }
    if let Some(q) = &ev.query {
        let meaningful = query_words_text(q);
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
        doc.add_u64(f.request_id, request_id_bucket(id));
    }
    // An event log record's items are short values a responder greps for (an image path, a
    // hash, an NTSTATUS code, a workstation), and its `UserID` a SID: their words are searched
    // bare like a message's. Its other System values are its host, channel and numbers.
    // A web log's columns are codes, timings and GUIDs: only its long or spaced values are.
    let every_item = ev.source.is_some() || from.source == crate::formats::csvlog::EVENTLOG;
    let mut term = String::new();
    for (name, value) in &ev.attrs {
        // Asked without the spaces around it: Windows pads some values (`LogonProcessName` is
        // `NtLmSsp `), which Sigma's rules (`LogonProcessName: 'NtLmSsp'`) and responders ask
        // bare; and as written, for a rule that asks for the padding (SigmaHQ's `net use`
        // password rule: `CommandLine|endswith: ' '`). The event keeps its value as written.
        let padded = value;
        let value = value.trim();
        let forms: &[&str] = if padded.len() == value.len() {
            &[value]
        } else {
            &[value, padded]
        };
        for form in forms {
            // Nearly every value is one term: no pieces built on the ingest's path.
            if form.len() <= term_room(name, form) {
                add_attr(&mut doc, f.attr, &mut term, name, form);
            } else {
                for piece in term_pieces(name, form) {
                    add_attr(&mut doc, f.attr, &mut term, name, &piece);
                }
            }
        }
        if value.len() > 32
            || value.contains(' ')
            || (every_item && (!crate::formats::evtx::is_system_name(name) || name == "UserID"))
        {
            doc.add_text(f.text, value);
        }
    }
    doc.add_u64(f.file_id, from.file_id);
    doc.add_u64(f.line, from.line);
    doc.add_u64(f.layout, from.layout);
    if let Some(id) = from.windows_record {
        doc.add_u64(f.winrec, id);
    }
    doc.add_text(f.raw, raw);
    if let Some(bytes) = raw_bytes {
        doc.add_bytes(f.raw_bytes, bytes);
    }
    doc.shrink_to_fit();
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        words_of(text).map(|(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn values_too_long_for_a_term_are_held_in_overlapping_pieces() {
        assert_eq!(term_pieces("CommandLine", "whoami"), ["whoami"]);
        // Padding that lower-casing lengthens by half (`İ`), hiding the command at the end:
        // every piece stays a term tantivy keeps.
        let padded = format!("{}Invoke-Mimikatz -DumpCreds", "\u{130}".repeat(40_000));
        let pieces = term_pieces("ScriptBlockText", &padded);
        assert!(pieces.len() >= 2);
        for p in &pieces {
            assert!("ScriptBlockText".len() + 1 + p.to_lowercase().len() <= 65_530);
        }
        assert!(pieces.last().unwrap().ends_with("-DumpCreds"));
        // Text that says where it is: each piece found once.
        let value: String = (0..20_000).map(|i| format!("{i:05} ")).collect();
        let pieces = term_pieces("CommandLine", &value);
        assert!(pieces.len() >= 2);
        // The first piece is the value's start and not its end; the last its end and not its
        // start; a middle one neither (a startswith or endswith rule cannot hit inside).
        let last = pieces.len() - 1;
        let mut covered = 0;
        for (i, p) in pieces.iter().enumerate() {
            assert_eq!(p.starts_with(PIECE_MARK), i > 0, "{i}");
            assert_eq!(p.ends_with(PIECE_MARK), i < last, "{i}");
            let text = p.trim_matches(PIECE_MARK);
            let at = value.find(text).expect("a piece of the value");
            // Each starts at least the overlap before the previous one ends: a run up to that
            // long is whole in one of them.
            assert!(at == 0 || at + TERM_OVERLAP <= covered, "{at} {covered}");
            covered = at + text.len();
        }
        assert_eq!(covered, value.len());
    }

    #[test]
    fn percent_encoded_queries_are_searched_by_their_decoded_words() {
        let q = "a..foo.var/owa/&Email=autodiscover/autodiscover.json?a..foo.var&Protocol=XYZ&FooProtocol=%50owershell";
        assert!(words(&query_words_text(q)).contains(&"Powershell"));
        assert!(words(&query_words_text("x=%2550owershell")).contains(&"Powershell"));
        assert_eq!(query_words_text("a=1&b=2"), "a=1&b=2");
        // Broken escapes are left as they are, and bytes that are not UTF-8 do not panic.
        assert_eq!(query_words_text("a=%zz%4"), "a=%zz%4");
        assert!(query_words_text("a=%ff%fe").ends_with('\u{fffd}'));
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
        // Hashes are kept: MD5, SHA-1, SHA-256; other hex runs, and digit runs (an IMPHASH of
        // zeros), are not.
        let md5 = "24A7F31424AED247023A3B6CCECF7DA1";
        let sha1 = "A51B89E4A52F95D371B09F7B4A4087FC5A62B190";
        let sha256 = "EDDBB3524F3776A7E81376B5918FB80E6C1025DC6CAC32C088F7B9E7A1CCDBCB";
        let hashes = format!(
            "SHA1={sha1},MD5={md5},SHA256={sha256},IMPHASH={}",
            "0".repeat(32)
        );
        assert_eq!(
            words(&hashes),
            vec!["SHA1", sha1, "MD5", md5, "SHA256", sha256, "IMPHASH"]
        );
        assert_eq!(words(&format!("x {} y", &md5[..31])), vec!["x", "y"]);
        assert_eq!(words(&format!("{md5}0")), Vec::<&str>::new());
    }

    fn tokens(tokenizer: &mut impl Tokenizer, text: &str) -> Vec<String> {
        let mut stream = tokenizer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn word_tokenizer_reuses_buffers_without_leaking_old_tokens() {
        let mut words = WordTokenizer::default();
        assert_eq!(
            tokens(&mut words, "Cmd=Ping&User=J.Smith"),
            ["cmd", "ping", "user", "j", "smith"]
        );
        assert_eq!(tokens(&mut words, "ÉCHEC x"), ["échec", "x"]);
        assert_eq!(
            tokens(&mut words, "\u{39f}\u{394}\u{39f}\u{3a3}"),
            ["\u{3bf}\u{3b4}\u{3bf}\u{3c2}"]
        );
        assert_eq!(tokens(&mut words, ""), Vec::<String>::new());
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
        // Not at the end: the other parts are kept, in order.
        let q = "a=1&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224;&b=2";
        assert_eq!(strip_exchange_boilerplate(q), "a=1&b=2");
        assert!(matches!(
            strip_exchange_boilerplate("a=1&CorrelationID=<empty>;"),
            std::borrow::Cow::Borrowed("a=1")
        ));
        // A marker inside another parameter is not Exchange's suffix.
        assert_eq!(
            strip_exchange_boilerplate("a=1&xcafeReqId=5"),
            "a=1&xcafeReqId=5"
        );
        assert_eq!(
            strip_exchange_boilerplate("a=1&encoding=;&cafeReqId=x;"),
            "a=1&cafeReqId=x"
        );
        // What a client writes under Exchange's names is its own, and indexed.
        let q = "CorrelationID=@x/powershell/?X-Rps-CAT=V&Email=a&CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224;";
        assert_eq!(
            strip_exchange_boilerplate(q),
            "CorrelationID=@x/powershell/?X-Rps-CAT=V&Email=a"
        );
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
