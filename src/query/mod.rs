//! The query language: tantivy-style syntax over trawl's canonical field names.
//!
//! ```text
//! ip:192.0.2.7 AND path:"/ecp/y.js"        exact values (keywords ignore case)
//! ip:198.51.100.0/24   ip:[192.0.2.1 TO 192.0.2.9]
//! status:[500 TO 599]  status:5xx  status:>=400  bytes:>1000000
//! ts:[2021-03-02T00:00:00Z TO 2021-03-03T00:00:00Z}   ts:2021-03-05   ts:>=2021-03-05T17:42
//! path:/owa/auth/*.aspx   ua:*python*      wildcards: * any run, ? one character
//! ua:/python-requests\/2\.(19|25)\.1/   path:~"/ecp/[a-z]\.js"   regex (paths use ~"…")
//! AnchorMailbox:ServerInfo~*    any source column by its own name
//! python requests    "python requests"    bare words search the words of paths, agents,
//!                                         users, query strings and messages
//! NOT ua:*HealthMailbox*   -status:200   (a OR b) AND c
//! ```
//!
//! The parser is hand-written so that every error says what is wrong and at which column, and so
//! each field's type decides what a value means (an IP range, a day, a wildcard).

mod automaton;
mod compile;
mod eval;
mod parse;
pub mod plan;

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::ops::Bound;
use std::sync::Arc;

pub use compile::{check_syntax, compile, event_set_query, lower, plan_of, record_has_guid};
pub use eval::Matcher;

use crate::event::names;
use crate::formats::time;
use crate::selection::Compiled;
use crate::sets::EventSet;

pub use crate::error::QueryError;

/// A field name written in quotes (`"Status":0xc000006d`) names the source's own column, never
/// the canonical field a name like it means (`status`, the HTTP status): a Windows event's
/// `Status`, `Path` or `Query` item. The parsed query keeps the name as written, quotes and
/// escapes included ([`quoted_column`]), so that it reads back the same.
pub fn source_column(name: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = name.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    Some(std::borrow::Cow::Owned(out))
}

/// Whether a field name, unquoted, means a canonical field (`status`, `path`, `Computer`…)
/// rather than a source's column of that name.
pub fn is_canonical_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    kind_of(&lower).is_some() || crate::formats::columns::canon_for(&lower).is_some()
}

/// Whether a name, unquoted, means a canonical field compared as text (a path, a user, a host,
/// words), not as a number, an address or a time.
pub fn is_canonical_text(name: &str) -> bool {
    let mut lower = name.to_ascii_lowercase();
    if kind_of(&lower).is_none()
        && let Some(alias) = crate::formats::columns::canon_for(&lower)
    {
        lower = canonical_name(alias).to_string();
    }
    matches!(
        kind_of(&lower),
        Some(Kind::Keyword | Kind::UserAgent | Kind::Words)
    )
}

/// A host value as indexed: an exact name by its short name (`normalize_host`), a wildcard as
/// written. The index and the matcher both ask a host so.
fn host_term(value: &str) -> String {
    if has_wildcard(value) {
        crate::schema::normalize_keyword(value)
    } else {
        crate::schema::normalize_keyword(&crate::schema::normalize_host(value))
    }
}

/// An account asked by its bare name (`user:administrator`) is that account however a log
/// writes it: bare (a Security event's `TargetUserName`), after its domain (`CORP\administrator`:
/// IIS, Sysmon) or before it (`administrator@corp.example`: a UPN). The whole-value pattern
/// (lower case) for such a value; None for a wildcard, a name with its domain, or a quoted
/// value (`user:"administrator"` is that value alone). The index and the matcher both ask so.
fn account_pattern(value: &parse::Tok) -> Option<String> {
    let parse::Tok::Word(name) = value else {
        return None;
    };
    if name.is_empty() || has_wildcard(name) || name.contains(['\\', '@']) {
        return None;
    }
    let name = regex_escape(&name.to_lowercase());
    Some(format!("(?:{name}|[^\\\\]*\\\\{name}|{name}@[^@]*)"))
}

/// The label of events no log names a server for (`stats`, verdicts, coverage).
pub const NO_HOST: &str = "(no host)";

/// The query for the events of one host, or of none ([`NO_HOST`]).
pub fn host_query(host: &str) -> String {
    if host == NO_HOST {
        "NOT host:*".into()
    } else {
        format!("host:{}", quote_value(host))
    }
}

/// A column's name as a quoted field name (see [`source_column`]), escaped for query text.
pub fn quoted_column(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// How an error about a pattern begins: the index could not build it (too large as an
/// automaton, a feature its automata lack) or it is not a regex at all.
pub const BAD_REGEX: &str = "bad regex";

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        message: message.into(),
        column,
    })
}

/// What the compiler needs to know about the case.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Source-specific column names seen in the case (lower-cased).
    pub attrs: BTreeSet<String>,
    /// Ingested files: (id, path).
    pub files: Vec<(u64, String)>,
    /// The case's record layouts, to parse stored records again (`request_id:` compares the
    /// parsed GUIDs of the events in its indexed bucket).
    pub layouts: Arc<Vec<crate::formats::Layout>>,
    /// Named sets of events (`rule:<id>`, and the case's tags and marks), by event key.
    pub sets: Vec<(String, Arc<EventSet>)>,
    /// Rules name source columns a case may not have: there such a term matches nothing
    /// instead of being an error.
    pub unknown_fields_match_nothing: bool,
}

impl Vocabulary {
    /// Everything a query may name in a case: its source columns, files and layouts.
    pub fn of(manifest: &crate::case::Manifest) -> Vocabulary {
        let mut attrs = manifest.dynamic_attrs.clone();
        for layout in &manifest.layouts {
            for name in layout.attr_names() {
                attrs.insert(name.to_ascii_lowercase());
            }
        }
        Vocabulary {
            attrs,
            files: manifest
                .files
                .iter()
                .map(|f| (f.id, f.path.clone()))
                .collect(),
            layouts: Arc::new(manifest.layouts.clone()),
            sets: Vec::new(),
            unknown_fields_match_nothing: false,
        }
    }
}

/// The canonical fields a query can name, with what their values mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keyword,
    UserAgent,
    Words,
    Ip,
    Number,
    Time,
    Guid,
    File,
    Raw,
    /// The query string whole ([`names::QUERY_STRING`]): rules only, like `raw`.
    QueryString,
    /// A named set of events kept beside the index (`rule:`).
    Set,
}

/// Canonical names and their kinds, also used for completion and suggestions.
pub const CANONICAL: [&str; 24] = [
    names::TS,
    names::HOST,
    names::SOURCE,
    names::IP,
    names::CLIENT,
    names::XFF,
    names::METHOD,
    names::PATH,
    names::QUERY,
    names::STATUS,
    names::UA,
    names::USER,
    names::REFERER,
    names::BYTES,
    names::DURATION_MS,
    names::REQUEST_ID,
    names::FILE,
    names::LINE,
    names::RULE,
    "text",
    "tag",
    "marked",
    "bookmarked",
    "noted",
];

fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        names::HOST
        | names::SOURCE
        | names::METHOD
        | names::PATH
        | names::USER
        | names::REFERER => Kind::Keyword,
        names::RULE | "tag" | "marked" | "bookmarked" | "noted" => Kind::Set,
        names::UA => Kind::UserAgent,
        names::QUERY | "text" => Kind::Words,
        names::IP | names::CLIENT | names::XFF => Kind::Ip,
        names::STATUS | names::BYTES | names::DURATION_MS | names::LINE => Kind::Number,
        names::TS => Kind::Time,
        names::REQUEST_ID => Kind::Guid,
        names::FILE => Kind::File,
        names::RAW => Kind::Raw,
        names::QUERY_STRING => Kind::QueryString,
        _ => return None,
    })
}

fn canonical_name(c: crate::formats::columns::Canon) -> &'static str {
    use crate::formats::columns::Canon;
    match c {
        Canon::Date | Canon::Time | Canon::DateTime => names::TS,
        Canon::Host => names::HOST,
        Canon::Source => names::SOURCE,
        Canon::Client => names::CLIENT,
        Canon::Ip => names::IP,
        Canon::Xff => names::XFF,
        Canon::Method => names::METHOD,
        Canon::Path | Canon::Uri => names::PATH,
        Canon::Query => names::QUERY,
        Canon::Status => names::STATUS,
        Canon::Ua => names::UA,
        Canon::User => names::USER,
        Canon::Referer => names::REFERER,
        Canon::Bytes => names::BYTES,
        Canon::DurationMs => names::DURATION_MS,
        Canon::RequestId => names::REQUEST_ID,
    }
}

/// A regex matching values that contain the words of `text` in order, separated by anything
/// that is not a letter or digit (`python requests` matches `python-requests/2.25.1`). Wildcards
/// in `text` keep their meaning.
/// The runs of letters and digits of a query's bare words that the index holds no word for
/// (runs of 5+ digits, hex runs of 8+ but a hash's: see `schema::words_of`): asked bare they
/// can only be found as an address, a request GUID or part of a path, agent or user, so a
/// command says so rather than answer a silent 0.
pub fn unindexed_words(text: &str) -> Vec<String> {
    fn walk(expr: &parse::Expr, out: &mut Vec<String>) {
        match expr {
            parse::Expr::And(v) | parse::Expr::Or(v) => v.iter().for_each(|e| walk(e, out)),
            parse::Expr::Not(e) => walk(e, out),
            parse::Expr::Term {
                field: None,
                value: parse::Tok::Word(w) | parse::Tok::Phrase(w),
                ..
            } if !has_wildcard(w) && crate::event::parse_guid(w).is_none() => {
                for run in w.split(|c: char| !c.is_alphanumeric()) {
                    if !run.is_empty() && crate::schema::words_of(run).next().is_none() {
                        out.push(run.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(expr) = parse::parse_expr(text) {
        walk(&expr, &mut out);
    }
    out.dedup();
    out
}

fn contains_words_regex(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '*' && c != '?')
        .filter(|w| !w.is_empty())
        .map(|w| wildcard_to_regex(&w.to_lowercase()))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!("{ANY_RUN}{}{ANY_RUN}", words.join("[^a-z0-9]+")))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Any run of characters, line ends included: a wildcard crosses the lines of a value (a
/// PowerShell script block, a multi-line command). Plain `.*` stops at a line end, so `*Invoke*`
/// missed every script block that had one before the word.
pub const ANY_RUN: &str = "(?s:.*)";
/// Any one character, a line end included.
pub const ANY_CHAR: &str = "(?s:.)";

/// `*` is any run, `?` one character (line ends included); everything else literal.
pub fn wildcard_to_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        match c {
            '*' => out.push_str(ANY_RUN),
            '?' => out.push_str(ANY_CHAR),
            c => out.push_str(&regex_escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

/// Escapes regex metacharacters only: escaping anything else can change meaning (`\<` is a
/// word boundary).
fn regex_escape(s: &str) -> String {
    regex::escape(s)
}

fn parse_cidr(s: &str) -> Option<(Ipv6Addr, Ipv6Addr)> {
    if !s.contains('/') {
        return None;
    }
    crate::attribution::Cidr::parse(s).map(|c| c.bounds())
}

/// `192.0.2.*` and `10.*` as ranges.
fn parse_ip_wildcard(s: &str) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let prefix = s.strip_suffix(".*")?;
    let octets: Vec<&str> = prefix.split('.').collect();
    if octets.is_empty() || octets.len() > 3 {
        return None;
    }
    let mut addr = String::new();
    for o in &octets {
        o.parse::<u8>().ok()?;
        addr.push_str(o);
        addr.push('.');
    }
    for _ in octets.len()..4 {
        addr.push_str("0.");
    }
    addr.pop();
    parse_cidr(&format!("{addr}/{}", octets.len() * 8))
}

/// The bounds of a number field's value: a number, `[a TO b]`, a comparison, and for `status`
/// the classes `5xx`, `40?`, `5*`. Shared by the index query and the matcher so both read
/// numbers alike.
fn number_bounds(
    field: &str,
    value: &parse::Tok,
    column: usize,
) -> Result<(Bound<u64>, Bound<u64>), QueryError> {
    use parse::Tok;
    let num = |s: &str| {
        s.parse::<u64>()
            .map_or_else(|_| err(column, format!("'{s}' is not a whole number")), Ok)
    };
    Ok(match value {
        Tok::Word(w) | Tok::Phrase(w) => {
            let lower = w.to_ascii_lowercase();
            let is_status = field == names::STATUS;
            if is_status && lower.len() == 3 && lower.contains(['x', '*', '?']) {
                // status:5xx / status:40?
                let lo = num(&lower.replace(['x', '*', '?'], "0"))?;
                let hi = num(&lower.replace(['x', '*', '?'], "9"))?;
                (Bound::Included(lo), Bound::Included(hi))
            } else if let Some(prefix) = lower
                .strip_suffix('*')
                .filter(|p| !p.is_empty() && is_status)
            {
                // status:5* / status:40*
                let pad = 10u64.pow(3usize.saturating_sub(prefix.len()) as u32);
                let lo = num(prefix)? * pad;
                (Bound::Included(lo), Bound::Excluded(lo + pad))
            } else {
                let v = num(w)?;
                (Bound::Included(v), Bound::Included(v))
            }
        }
        Tok::Range {
            lo,
            lo_incl,
            hi,
            hi_incl,
        } => {
            let b = |s: &str, incl: bool| -> Result<Bound<u64>, QueryError> {
                Ok(match (s, incl) {
                    ("*", _) => Bound::Unbounded,
                    (s, true) => Bound::Included(num(s)?),
                    (s, false) => Bound::Excluded(num(s)?),
                })
            };
            (b(lo, *lo_incl)?, b(hi, *hi_incl)?)
        }
        Tok::Compare(op, v) => {
            let v = num(v)?;
            match *op {
                ">=" => (Bound::Included(v), Bound::Unbounded),
                ">" => (Bound::Excluded(v), Bound::Unbounded),
                "<=" => (Bound::Unbounded, Bound::Included(v)),
                _ => (Bound::Unbounded, Bound::Excluded(v)),
            }
        }
        _ => {
            return err(
                column,
                "expected a number, a range [a TO b] or a comparison",
            );
        }
    })
}

/// A range or comparison on a source column (`EventID:[4624 TO 4634]`, `LogonType:>=3`) as the
/// regex of the whole numbers it covers (leading zeros allowed), so that the index, the matcher
/// and ClickHouse read it as they read any regex. Other values are left as they are.
fn number_as_regex(value: &parse::Tok, column: usize) -> Result<parse::Tok, QueryError> {
    use parse::Tok;
    if !matches!(value, Tok::Range { .. } | Tok::Compare(..)) {
        return Ok(value.clone());
    }
    let (lo, hi) = number_bounds("", value, column)?;
    let lo = match lo {
        Bound::Included(v) => Some(v),
        Bound::Excluded(v) => v.checked_add(1),
        Bound::Unbounded => Some(0),
    };
    let hi = match hi {
        Bound::Included(v) => Some(Some(v)),
        Bound::Excluded(v) => v.checked_sub(1).map(Some),
        Bound::Unbounded => Some(None),
    };
    // An empty range matches nothing: a pattern no number has.
    let re = match (lo, hi) {
        (Some(lo), Some(hi)) => range_regex(lo, hi),
        _ => None,
    };
    Ok(Tok::Regex(re.unwrap_or_else(|| "[^\\s\\S]".into())))
}

/// The regex of the whole numbers in `lo..=hi` (`hi` None: no upper bound); None when empty.
fn range_regex(lo: u64, hi: Option<u64>) -> Option<String> {
    let digits = |n: u64| n.to_string().len() as u32;
    let mut alternatives = Vec::new();
    let top = match hi {
        Some(h) if h < lo => return None,
        Some(h) => u128::from(h),
        None => {
            // Every number with more digits than `lo` is above it (20 digits at most: u128).
            let d = digits(lo);
            alternatives.push(format!("[1-9][0-9]{{{d},}}"));
            10u128.pow(d) - 1
        }
    };
    let mut start = u128::from(lo);
    for stop in range_stops(u128::from(lo), top) {
        alternatives.push(range_pattern(start, stop));
        start = stop + 1;
    }
    Some(format!("0*(?:{})", alternatives.join("|")))
}

/// Where `min..=max` splits into ranges that each differ in trailing digits only (5..=123:
/// 9, 99, 119, 123).
fn range_stops(min: u128, max: u128) -> Vec<u128> {
    let mut stops = std::collections::BTreeSet::from([max]);
    for k in 1..=20 {
        let p = 10u128.pow(k);
        let stop = min - min % p + (p - 1);
        if stop < min || stop >= max {
            break;
        }
        stops.insert(stop);
    }
    for k in 1..=20 {
        let p = 10u128.pow(k);
        let Some(stop) = ((max + 1) - (max + 1) % p).checked_sub(1) else {
            break;
        };
        if stop <= min || stop > max {
            break;
        }
        stops.insert(stop);
    }
    stops.into_iter().collect()
}

/// The pattern of `start..=stop`, two numbers of as many digits that differ in a run of
/// trailing digits (120..=123: `12[0-3]`; 10..=99: `[1-9][0-9]`).
fn range_pattern(start: u128, stop: u128) -> String {
    let (a, b) = (start.to_string(), stop.to_string());
    let mut out = String::new();
    let mut any = 0;
    for (s, t) in a.chars().zip(b.chars()) {
        if s == t {
            out.push(s);
        } else if s != '0' || t != '9' {
            out.push_str(&format!("[{s}-{t}]"));
        } else {
            any += 1;
        }
    }
    match any {
        0 => {}
        1 => out.push_str("[0-9]"),
        n => out.push_str(&format!("[0-9]{{{n}}}")),
    }
    out
}

/// The bounds in epoch milliseconds of a `ts:` value: a time (its whole span), a range or a
/// comparison. Shared by the index query and the matcher so both read times alike.
fn time_bounds(value: &parse::Tok, column: usize) -> Result<(Bound<i64>, Bound<i64>), QueryError> {
    use parse::Tok;
    let spec = |s: &str| -> Result<(i64, i64), QueryError> {
        let span = parse_time_spec(s).ok_or_else(|| QueryError {
            message: format!(
                "'{s}' is not a time: use 2021-03-05, 2021-03-05T17:42, 2021-03-05T17:42:19Z…"
            ),
            column,
        })?;
        // Said, not silently matching nothing: the index holds no time outside these years.
        let held = crate::formats::MIN_TS_MS..=crate::formats::MAX_TS_MS;
        if !held.contains(&span.0) {
            return Err(QueryError {
                message: format!(
                    "'{s}' is outside the times trawl holds (1677-09-21 to 2262-04-11)"
                ),
                column,
            });
        }
        Ok(span)
    };
    Ok(match value {
        Tok::Word(w) | Tok::Phrase(w) => {
            let (lo, hi) = spec(w)?;
            (Bound::Included(lo), Bound::Excluded(hi))
        }
        Tok::Range {
            lo,
            lo_incl,
            hi,
            hi_incl,
        } => {
            // A bound written at a coarse precision covers its whole span: [2021-03-02 TO
            // 2021-03-03] includes all of the 3rd.
            let lo_b = match lo.as_str() {
                "*" => Bound::Unbounded,
                s if *lo_incl => Bound::Included(spec(s)?.0),
                s => Bound::Included(spec(s)?.1),
            };
            let hi_b = match hi.as_str() {
                "*" => Bound::Unbounded,
                s if *hi_incl => Bound::Excluded(spec(s)?.1),
                s => Bound::Excluded(spec(s)?.0),
            };
            (lo_b, hi_b)
        }
        Tok::Compare(op, v) => {
            let (lo, hi) = spec(v)?;
            match *op {
                ">=" => (Bound::Included(lo), Bound::Unbounded),
                ">" => (Bound::Included(hi), Bound::Unbounded),
                "<=" => (Bound::Unbounded, Bound::Excluded(hi)),
                _ => (Bound::Unbounded, Bound::Excluded(lo)),
            }
        }
        _ => return err(column, "expected a time, a range [a TO b] or a comparison"),
    })
}

/// A time at the precision written, as `[start, end)` in epoch milliseconds:
/// `2021-03-05` is the day, `2021-03-05T17` the hour, `…T17:42` the minute, `…T17:42:19` the
/// second, with a fraction the millisecond. Times without a zone are UTC.
pub fn parse_time_spec(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    if let Some(days) = time::parse_date(s) {
        let start = days * 86_400_000;
        return Some((start, start + 86_400_000));
    }
    let (date, rest) = (s.get(..10)?, s.get(11..)?);
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let days = time::parse_date(date)?;
    // Separate a zone suffix.
    let zone_at = rest
        .char_indices()
        .skip(2)
        .find(|(_, c)| matches!(c, 'Z' | 'z' | '+' | '-'))
        .map(|(i, _)| i);
    let (clock, zone) = zone_at.map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let offset_ms = if zone.is_empty() {
        0
    } else {
        i64::from(time::parse_offset(zone)?) * 1000
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |p: &str| p.parse::<i64>().ok();
    let (start_local, width) = match parts.as_slice() {
        [h] if h.len() == 2 => (num(h)? * 3_600_000, 3_600_000),
        [h, m] => (num(h)? * 3_600_000 + num(m)? * 60_000, 60_000),
        [_, _, sec] => {
            let ms = time::parse_time_of_day(clock)?;
            let width = if sec.contains('.') { 1 } else { 1000 };
            (ms, width)
        }
        _ => return None,
    };
    let start = days * 86_400_000 + start_local - offset_ms;
    Some((start, start + width))
}

fn unknown_field_message(name: &str, vocab: &Vocabulary) -> String {
    let candidates = CANONICAL
        .iter()
        .map(|s| (*s).to_string())
        .chain(vocab.attrs.iter().cloned());
    let best = candidates
        .map(|c| (edit_distance(&name.to_ascii_lowercase(), &c), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= 2 => format!("unknown field '{name}' (did you mean {c}?)"),
        _ => format!(
            "unknown field '{name}': fields are {} and the columns of the ingested logs",
            CANONICAL.join(", ")
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Renders a value so it can be pasted into a query as `field:value`.
pub fn quote_value(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.chars().any(|c| {
            c.is_whitespace() || matches!(c, '"' | '(' | ')' | '*' | '?' | '\\' | '[' | '{' | '/')
        })
        && !matches!(value.chars().next(), Some('>' | '<' | '-' | '+'));
    if plain {
        return value.to_string();
    }
    quoted_value(value)
}

/// A value quoted, so that it means that value alone (`user:"name"` is not the account in
/// every domain that a bare `user:name` is).
pub fn quoted_value(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::parse::{Expr, Tok, parse_expr};
    use super::*;
    use crate::schema;

    fn expr(s: &str) -> Expr {
        parse_expr(s).expect("parses")
    }

    #[test]
    fn precedence_and_implicit_and() {
        assert!(matches!(expr("a b OR c"), Expr::Or(ref v) if v.len() == 2));
        assert!(matches!(expr("a AND (b OR c)"), Expr::And(ref v) if v.len() == 2));
        assert!(matches!(expr("NOT a"), Expr::Not(_)));
        assert!(matches!(expr("-status:200"), Expr::Not(_)));
        assert_eq!(expr(""), Expr::All);
        assert_eq!(expr("*"), Expr::All);
        // In any case, as Kibana's KQL reads them; quoted, a word.
        assert_eq!(expr("host:a or host:b"), expr("host:a OR host:b"));
        assert_eq!(expr("a and not b"), expr("a AND NOT b"));
        assert!(matches!(expr("a \"or\" b"), Expr::And(ref v) if v.len() == 3));
        assert!(matches!(expr("path:or"), Expr::Term { .. }));
    }

    #[test]
    fn values_keep_colons_and_slashes() {
        let Expr::Term { value, .. } = expr("ts:2021-03-05T17:42:19Z") else {
            panic!("term")
        };
        assert_eq!(value, Tok::Word("2021-03-05T17:42:19Z".into()));
        let Expr::Term { value, .. } = expr("ip:2001:db8::1") else {
            panic!("term")
        };
        assert_eq!(value, Tok::Word("2001:db8::1".into()));
        let Expr::Term { value, .. } = expr("path:/owa/auth/*.aspx") else {
            panic!("term")
        };
        assert_eq!(value, Tok::Word("/owa/auth/*.aspx".into()));
        let Expr::Term { value, .. } = expr(r#"path:~"^/ecp/[a-z]\.js$""#) else {
            panic!("term")
        };
        assert_eq!(value, Tok::Regex(r"^/ecp/[a-z]\.js$".into()));
        let Expr::Term { value, .. } = expr(r"ua:/python.*/") else {
            panic!("term")
        };
        assert_eq!(value, Tok::Regex("python.*".into()));
    }

    #[test]
    fn unindexed_runs_of_bare_words_are_named() {
        assert_eq!(unindexed_words("23392"), ["23392"]);
        assert_eq!(
            unindexed_words("cmd.exe 12345 OR ProcessId:23392 OR \"pid 987654\""),
            ["12345", "987654"]
        );
        // Words, hashes, addresses' parts and wildcards are asked as they are.
        let sha256 = "EDDBB3524F3776A7E81376B5918FB80E6C1025DC6CAC32C088F7B9E7A1CCDBCB";
        for q in ["cmd.exe", sha256, "203.0.113.7", "*23392*", "status:12345"] {
            assert!(unindexed_words(q).is_empty(), "{q}");
        }
        assert_eq!(unindexed_words("68eff119-c34a"), ["68eff119"]);
        // A whole GUID is searched, as the request it names.
        assert!(unindexed_words("68eff119-c34a-40fd-a8fd-97ae5174fe10").is_empty());
    }

    /// What a responder pastes from an indicator list is a value, not `field:value`.
    #[test]
    fn pasted_addresses_urls_and_braced_guids_are_values() {
        for pasted in [
            "2001:db8:4d2:11::e0",
            "::1",
            "2001:db8::/32",
            "https://mail.example.org/owa/auth/x.js",
        ] {
            assert_eq!(
                expr(pasted),
                Expr::Term {
                    field: None,
                    value: Tok::Word(pasted.into()),
                    column: 1
                },
                "{pasted}"
            );
        }
        let guid = "{e7005515-1a2b-4c3d-8e9f-0a1b2c3d4e5f}";
        let Expr::Term { field, value, .. } = expr(&format!("ActivityID:{guid}")) else {
            panic!("term")
        };
        assert_eq!(field.map(|(f, _)| f).as_deref(), Some("ActivityID"));
        assert_eq!(value, Tok::Word(guid.into()));
        // A field is still a field, and `{` still opens a range when no GUID follows.
        assert!(matches!(expr("ip:::1"), Expr::Term { field: Some(_), .. }));
        assert!(matches!(
            expr("status:{400 TO 500}"),
            Expr::Term {
                value: Tok::Range { .. },
                ..
            }
        ));
    }

    #[test]
    fn errors_say_where() {
        let e = parse_expr("ip:192.0.2.7 AND").expect_err("dangling AND");
        assert_eq!(e.column, 17);
        let e = parse_expr("path:\"/ecp").expect_err("unterminated");
        assert_eq!(e.column, 6);
        let e = parse_expr("(a OR b").expect_err("unclosed");
        assert_eq!(e.column, 1);
        let e = parse_expr("status:[1 TO]").expect_err("bad range");
        assert!(e.message.contains("[low TO high]"));
        let e = parse_expr("ip: 1.2.3.4").expect_err("space");
        assert_eq!(e.column, 4);
    }

    #[test]
    fn numeric_ranges_as_regexes_cover_exactly_their_numbers() {
        for (lo, hi) in [
            (0, Some(0)),
            (5, Some(123)),
            (4624, Some(4634)),
            (1, Some(1000)),
            (99, Some(101)),
            (4001, None),
            (0, None),
            (7, Some(7)),
            (u64::MAX - 3, None),
        ] {
            let re = regex::Regex::new(&format!("^(?:{})$", range_regex(lo, hi).unwrap()))
                .expect("valid regex");
            let upper = hi.unwrap_or(u64::MAX);
            let probes = (0..2000u64)
                .chain([4623, 4624, 4634, 4635, 9999, 10000, 123456])
                .chain([u64::MAX - 4, u64::MAX - 3, u64::MAX]);
            for n in probes {
                let want = n >= lo && n <= upper;
                assert_eq!(re.is_match(&n.to_string()), want, "{lo}..{hi:?}: {n}");
            }
            assert!(
                re.is_match(&format!("00{lo}")),
                "{lo}..{hi:?}: leading zeros"
            );
            assert!(!re.is_match("0x1a") && !re.is_match("-1") && !re.is_match(""));
        }
        // Numbers past u64 (text is text: a 20-digit value above the bound is above it).
        let re = regex::Regex::new(&format!(
            "^(?:{})$",
            range_regex(10_000_000_000_000_000_000, None).unwrap()
        ))
        .expect("valid regex");
        assert!(re.is_match("19999999999999999999") && re.is_match("123456789012345678901"));
        assert!(!re.is_match("9999999999999999999"));
        assert_eq!(range_regex(5, Some(4)), None);
    }

    #[test]
    fn hostile_queries_are_refused_not_run() {
        // Nesting that would overflow the stack.
        for q in [
            format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000)),
            "NOT ".repeat(20_000) + "a",
            "-".repeat(20_000) + "a",
        ] {
            let e = parse_expr(&q).expect_err("too deep");
            assert!(e.message.contains("nested more than"), "{}", e.message);
        }
        // Just under the limit is fine.
        let q = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_expr(&q).is_ok());
        // Size and word counts.
        let e = parse_expr(&"ab ".repeat(300_000)).expect_err("too big");
        assert!(e.message.contains("KiB"), "{}", e.message);
        let e = parse_expr(&"word ".repeat(10_000)).expect_err("too many words");
        assert!(e.message.contains("bare words"), "{}", e.message);
        let q = vec!["ip:1.2.3.4"; 10_001].join(" OR ");
        let e = parse_expr(&q).expect_err("too many terms");
        assert!(e.message.contains("at most"), "{}", e.message);
        // Times the index cannot hold are said, not silently empty.
        let (_, fields) = crate::schema::build();
        for q in [
            "ts:1500-01-01",
            "ts:[1600-01-01 TO 2021-01-01]",
            "ts:>=9999-01-01",
        ] {
            let e = compile(q, &fields, &Vocabulary::default()).expect_err(q);
            assert!(
                e.message.contains("outside the times"),
                "{q}: {}",
                e.message
            );
        }
    }

    #[test]
    fn time_specs() {
        let (lo, hi) = parse_time_spec("2021-03-05").expect("day");
        assert_eq!(time::format_ms(lo), "2021-03-05T00:00:00.000Z");
        assert_eq!(hi - lo, 86_400_000);
        let (lo, hi) = parse_time_spec("2021-03-05T17:42").expect("minute");
        assert_eq!(time::format_ms(lo), "2021-03-05T17:42:00.000Z");
        assert_eq!(hi - lo, 60_000);
        let (lo, _) = parse_time_spec("2021-03-05T18:42:19+01:00").expect("offset");
        assert_eq!(time::format_ms(lo), "2021-03-05T17:42:19.000Z");
        assert!(parse_time_spec("yesterday").is_none());
    }

    #[test]
    fn cidr_and_wildcard_ranges() {
        let (lo, hi) = parse_cidr("198.51.100.0/24").expect("cidr");
        assert_eq!(schema::v6_to_ip(lo).to_string(), "198.51.100.0");
        assert_eq!(schema::v6_to_ip(hi).to_string(), "198.51.100.255");
        let (lo, hi) = parse_ip_wildcard("10.*").expect("wildcard");
        assert_eq!(schema::v6_to_ip(lo).to_string(), "10.0.0.0");
        assert_eq!(schema::v6_to_ip(hi).to_string(), "10.255.255.255");
        assert!(parse_cidr("1.2.3.4/33").is_none());
    }

    #[test]
    fn wildcards_become_anchored_regexes() {
        assert_eq!(
            wildcard_to_regex("/owa/auth/*.aspx"),
            r"/owa/auth/(?s:.*)\.aspx"
        );
        // `<` must not become `\<`, a word boundary.
        assert_eq!(wildcard_to_regex("*<script?"), "(?s:.*)<script(?s:.)");
        let re = regex::Regex::new(&format!("^{}$", wildcard_to_regex("*python*"))).expect("valid");
        assert!(re.is_match("python-requests/2.25.1"));
    }

    #[test]
    fn bare_words_match_inside_keyword_values() {
        let re = regex::Regex::new(&format!(
            "^{}$",
            contains_words_regex("python requests").expect("words")
        ))
        .expect("valid");
        assert!(re.is_match("python-requests/2.25.1"));
        assert!(!re.is_match("requests python"));
        assert_eq!(contains_words_regex("--"), None);
    }

    #[test]
    fn suggestions_for_typos() {
        let m = unknown_field_message("pth", &Vocabulary::default());
        assert!(m.contains("did you mean path"), "{m}");
    }

    #[test]
    fn quoting_for_pivots() {
        assert_eq!(quote_value("192.0.2.7"), "192.0.2.7");
        assert_eq!(quote_value("/ecp/y.js"), "\"/ecp/y.js\"");
        assert_eq!(quote_value("a \"b\""), "\"a \\\"b\\\"\"");
    }
}
