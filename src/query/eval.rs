//! The same query language, evaluated on one event in memory: detection rules use it to confirm
//! the candidates an index query found, on the full values (the index holds normalised and, for
//! very long values, truncated terms) and on the raw record (`raw:`, which is not indexed).
//!
//! Semantics follow the index: keywords compare without case, wildcards and regexes match the
//! whole value, user agents are normalised, bare words are "these words in this order".

use std::net::IpAddr;
use std::ops::Bound;

use regex::{Regex, RegexBuilder};

use super::parse::{Expr, Tok, parse_expr};
use super::{
    ANY_RUN, Kind, QueryError, canonical_name, err, kind_of, number_bounds, parse_cidr,
    parse_ip_wildcard, time_bounds, wildcard_to_regex,
};
use crate::event::{self, names};
use crate::schema::{ip_to_v6, normalize_user_agent};
use crate::view::EventView;

/// A string test on one value.
#[derive(Debug, Clone)]
enum Test {
    /// Equal, ignoring case (the literal is lower-cased already).
    Eq(String),
    Regex(Patterns),
}

impl Test {
    fn matches(&self, value: &str) -> bool {
        match self {
            Test::Eq(lit) => value.to_lowercase() == *lit,
            Test::Regex(p) => p.is_match(value),
        }
    }
}

/// Patterns any of which must match a whole value (ignoring case), compiled when an event is
/// first checked against them: most rules are answered by the index alone and never check one,
/// and compiling every rule's patterns as rules load was four fifths of loading SigmaHQ's
/// 2,407 Windows rules (measured: 6 s). Their syntax is checked as they load.
#[derive(Debug, Clone)]
struct Patterns {
    /// Each already anchored, `^(?:…)$`.
    anchored: Vec<String>,
    compiled: std::sync::Arc<std::sync::OnceLock<Result<Vec<Regex>, String>>>,
}

/// The most memory one compiled pattern may take.
const PATTERN_SIZE_LIMIT: usize = 1 << 22;

impl Patterns {
    fn new(anchored: Vec<String>) -> Patterns {
        Patterns {
            anchored,
            compiled: std::sync::Arc::default(),
        }
    }

    fn compile(&self) -> &Result<Vec<Regex>, String> {
        self.compiled.get_or_init(|| {
            let one = |p: &str| {
                RegexBuilder::new(p)
                    .case_insensitive(true)
                    .size_limit(PATTERN_SIZE_LIMIT)
                    .build()
            };
            // Several patterns as one regex, the value read once (see `merge_patterns`);
            // apart where together they would pass the size bound.
            if self.anchored.len() > 1
                && let Ok(re) = one(&self.anchored.join("|"))
            {
                return Ok(vec![re]);
            }
            self.anchored
                .iter()
                .map(|p| {
                    one(p).map_err(|e| match e {
                        regex::Error::CompiledTooBig(limit) => format!(
                            "bad regex: the pattern is too large to check events with (over {} \
                             MiB compiled): make it more specific",
                            limit >> 20
                        ),
                        other => format!("a pattern of the query: {other}"),
                    })
                })
                .collect()
        })
    }

    fn is_match(&self, value: &str) -> bool {
        match self.compile() {
            Ok(res) => res.iter().any(|re| re.is_match(value)),
            // Said before any event is checked (`Matcher::ready`).
            Err(_) => false,
        }
    }
}

/// Which value of the event a test reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Canonical(&'static str),
    Attr(String),
    Raw,
    /// The query string whole, without Exchange's own parameters.
    QueryString,
    /// Bare words: paths, agents, users, query strings, referers and source columns.
    AnyText,
}

#[derive(Debug, Clone)]
enum Pred {
    All,
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Not(Box<Pred>),
    Text {
        field: Field,
        test: Test,
    },
    Exists(Field),
    Ip {
        field: &'static str,
        lo: u128,
        hi: u128,
    },
    /// A source column's text is an address within the bounds (see `plan::text_address`).
    TextIp {
        field: Field,
        lo: u128,
        hi: u128,
    },
    Number {
        field: &'static str,
        lo: Bound<u64>,
        hi: Bound<u64>,
    },
    Time {
        lo: Bound<i64>,
        hi: Bound<i64>,
    },
    Guid(u128),
    /// Two fields hold the same value (ignoring case).
    Same(Field, Field),
}

/// A query compiled for single events.
#[derive(Debug, Clone)]
pub struct Matcher {
    pred: Pred,
    /// The same query with what the index cannot evaluate (raw) relaxed to "anything", for
    /// finding candidates: a superset of the matches.
    pub index_text: String,
    /// True when nothing was relaxed: the index's candidates are exactly the matches.
    pub exact_in_index: bool,
}

/// A pattern matching whole values, its syntax checked now and compiled when first used.
fn anchored(pattern: &str, column: usize) -> Result<Patterns, QueryError> {
    let whole = format!("^(?:{pattern})$");
    let syntax = regex_automata::util::syntax::Config::new().case_insensitive(true);
    match regex_automata::util::syntax::parse_with(&whole, &syntax) {
        Ok(_) => Ok(Patterns::new(vec![whole])),
        Err(e) => err(column, format!("{}: {e}", super::BAD_REGEX)),
    }
}

impl Matcher {
    /// Parses query text for matching events in memory.
    pub fn new(text: &str) -> Result<Matcher, QueryError> {
        let expr = parse_expr(text)?;
        let pred = build(&expr)?;
        let relaxed = relax(&expr);
        Ok(Matcher {
            pred,
            index_text: render(&relaxed),
            exact_in_index: relaxed == expr,
        })
    }

    /// Whether an event matches (call [`Matcher::ready`] first: a pattern that cannot be
    /// compiled matches nothing).
    pub fn matches(&self, ev: &EventView) -> bool {
        eval(&self.pred, ev)
    }

    /// Compiles the patterns events are checked against; an error says which could not be
    /// (one over the size bound), so that the rule is listed as not run rather than matching
    /// nothing unsaid.
    pub fn ready(&self) -> Result<(), String> {
        fn walk(p: &Pred) -> Result<(), String> {
            match p {
                Pred::And(parts) | Pred::Or(parts) => parts.iter().try_for_each(walk),
                Pred::Not(inner) => walk(inner),
                Pred::Text {
                    test: Test::Regex(patterns),
                    ..
                } => patterns
                    .compile()
                    .as_ref()
                    .map(|_| ())
                    .map_err(Clone::clone),
                _ => Ok(()),
            }
        }
        walk(&self.pred)
    }
}

fn build(e: &Expr) -> Result<Pred, QueryError> {
    Ok(match e {
        Expr::All => Pred::All,
        Expr::And(parts) => Pred::And(parts.iter().map(build).collect::<Result<_, _>>()?),
        Expr::Or(parts) => Pred::Or(merge_patterns(
            parts.iter().map(build).collect::<Result<_, _>>()?,
        )),
        Expr::Not(inner) => Pred::Not(Box::new(build(inner)?)),
        Expr::Term {
            field,
            value,
            column,
        } => term(field.as_ref().map(|(n, _)| n.as_str()), value, *column)?,
    })
}

/// Patterns one `OR` tests on the same field become one regex: the value is read once, not once
/// per pattern. Sigma's keyword lists are `OR`s of patterns over the whole record (SigmaHQ's
/// Mimikatz rule: 20 of them, each a pass over every event's record; measured, two thirds of a
/// hunt with SigmaHQ's Windows rules). Where the joined regex would pass the size bound, the
/// patterns stay apart.
fn merge_patterns(parts: Vec<Pred>) -> Vec<Pred> {
    let mut out: Vec<Pred> = Vec::with_capacity(parts.len());
    let mut groups: Vec<(Field, Vec<String>)> = Vec::new();
    let mut stack: Vec<Pred> = parts.into_iter().rev().collect();
    while let Some(p) = stack.pop() {
        match p {
            // An `OR` inside an `OR` is the same `OR` (a Sigma keyword is `raw:… OR Message:…`).
            Pred::Or(inner) => stack.extend(inner.into_iter().rev()),
            Pred::Text {
                field,
                test: Test::Regex(p),
            } => match groups.iter_mut().find(|(f, _)| *f == field) {
                Some((_, all)) => all.extend(p.anchored),
                None => groups.push((field, p.anchored)),
            },
            other => out.push(other),
        }
    }
    out.extend(groups.into_iter().map(|(field, anchored)| Pred::Text {
        field,
        test: Test::Regex(Patterns::new(anchored)),
    }));
    out
}

fn text_test(
    value: &Tok,
    column: usize,
    normalize: fn(&str) -> String,
) -> Result<Test, QueryError> {
    Ok(match value {
        Tok::Word(w) if w.contains(['*', '?']) => {
            let norm = normalize(&w.replace('*', "\u{1}").replace('?', "\u{2}"))
                .replace('\u{1}', "*")
                .replace('\u{2}', "?");
            Test::Regex(anchored(&wildcard_to_regex(&norm), column)?)
        }
        Tok::Word(w) | Tok::Phrase(w) => Test::Eq(normalize(w)),
        Tok::Regex(re) => Test::Regex(anchored(re, column)?),
        _ => {
            return err(
                column,
                "expected a value, a \"phrase\", a wildcard or a /regex/",
            );
        }
    })
}

fn words_test(value: &Tok, column: usize) -> Result<Test, QueryError> {
    let text = match value {
        Tok::Regex(re) => {
            return Ok(Test::Regex(anchored(
                &format!("{ANY_RUN}(?:{re}){ANY_RUN}"),
                column,
            )?));
        }
        Tok::Word(w) | Tok::Phrase(w) => w,
        _ => return err(column, "expected words"),
    };
    match super::contains_words_regex(text) {
        Some(p) => Ok(Test::Regex(anchored(&p, column)?)),
        None => Ok(Test::Regex(anchored(ANY_RUN, column)?)),
    }
}

fn term(field: Option<&str>, value: &Tok, column: usize) -> Result<Pred, QueryError> {
    if let (Some(name), Tok::FieldRef(other)) = (field, value) {
        return Ok(Pred::Same(field_of(name), field_of(other)));
    }
    let Some(name) = field else {
        let words = Pred::Text {
            field: Field::AnyText,
            test: words_test(value, column)?,
        };
        // An address asked bare is the events' addresses too, as the index asks it.
        let mut addresses: Vec<Pred> = [names::IP, names::CLIENT, names::XFF]
            .iter()
            .filter_map(|f| ip_pred(f, value, column).ok())
            .collect();
        if addresses.is_empty() {
            return Ok(words);
        }
        addresses.insert(0, words);
        return Ok(Pred::Or(addresses));
    };
    let exists = matches!(value, Tok::Word(w) if w == "*");
    let own = super::source_column(name);
    let mut canonical = name.to_ascii_lowercase();
    if kind_of(&canonical).is_none()
        && let Some(alias) = crate::formats::columns::canon_for(&canonical)
    {
        canonical = canonical_name(alias).to_string();
    }
    let kind = if own.is_some() {
        None
    } else {
        kind_of(&canonical)
    };
    let Some(kind) = kind else {
        let field = Field::Attr(own.map_or_else(|| name.to_string(), |n| n.into_owned()));
        if exists {
            return Ok(Pred::Exists(field));
        }
        let text = Pred::Text {
            field: field.clone(),
            test: text_test(
                &super::number_as_regex(value, column)?,
                column,
                str::to_lowercase,
            )?,
        };
        // A CIDR: the addresses in it, or that very text (as the index reads it).
        if let Tok::Word(w) | Tok::Phrase(w) = value
            && let Some((lo, hi)) = parse_cidr(w)
        {
            return Ok(Pred::Or(vec![
                text,
                Pred::TextIp {
                    field,
                    lo: u128::from(lo),
                    hi: u128::from(hi),
                },
            ]));
        }
        return Ok(text);
    };
    let static_name = CANONICAL_STATIC
        .iter()
        .find(|n| **n == canonical)
        .copied()
        .unwrap_or(names::RAW);
    if exists {
        return Ok(Pred::Exists(Field::Canonical(static_name)));
    }
    Ok(match kind {
        // A full host name is asked by its short name, as the index asks it.
        Kind::Keyword if static_name == names::HOST => Pred::Text {
            field: Field::Canonical(names::HOST),
            test: match value {
                Tok::Word(w) if !super::has_wildcard(w) => Test::Eq(super::host_term(w)),
                Tok::Phrase(w) => Test::Eq(super::host_term(w)),
                other => text_test(other, column, str::to_lowercase)?,
            },
        },
        Kind::Keyword if static_name == names::USER => Pred::Text {
            field: Field::Canonical(names::USER),
            test: match super::account_pattern(value) {
                Some(pattern) => Test::Regex(anchored(&pattern, column)?),
                None => text_test(value, column, str::to_lowercase)?,
            },
        },
        Kind::Keyword | Kind::File | Kind::Set => Pred::Text {
            field: Field::Canonical(static_name),
            test: text_test(value, column, str::to_lowercase)?,
        },
        Kind::UserAgent => Pred::Text {
            field: Field::Canonical(names::UA),
            test: text_test(value, column, normalize_user_agent)?,
        },
        Kind::Words => Pred::Text {
            field: if static_name == names::QUERY {
                Field::Canonical(names::QUERY)
            } else {
                Field::AnyText
            },
            test: words_test(value, column)?,
        },
        Kind::Raw => Pred::Text {
            field: Field::Raw,
            test: match value {
                Tok::Regex(re) => Test::Regex(anchored(re, column)?),
                other => text_test(other, column, str::to_lowercase)?,
            },
        },
        Kind::QueryString => Pred::Text {
            field: Field::QueryString,
            test: match value {
                Tok::Regex(re) => Test::Regex(anchored(re, column)?),
                other => text_test(other, column, str::to_lowercase)?,
            },
        },
        Kind::Ip => ip_pred(static_name, value, column)?,
        Kind::Number => number_pred(static_name, value, column)?,
        Kind::Time => time_pred(value, column)?,
        Kind::Guid => match value {
            Tok::Word(w) | Tok::Phrase(w) => Pred::Guid(
                event::parse_guid(w)
                    .map_or_else(|| err(column, format!("'{w}' is not a GUID")), Ok)?,
            ),
            _ => return err(column, "expected a request GUID"),
        },
    })
}

/// Canonical names as `'static` strings (for fields built from owned text).
const CANONICAL_STATIC: [&str; 22] = [
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
    names::RAW,
    names::QUERY_STRING,
    "text",
];

fn ip_pred(field: &'static str, value: &Tok, column: usize) -> Result<Pred, QueryError> {
    let to_u128 = |ip: IpAddr| u128::from(ip_to_v6(ip));
    let parse = |s: &str| {
        event::parse_ip(s).map_or_else(|| err(column, format!("'{s}' is not an IP address")), Ok)
    };
    let (lo, hi) = match value {
        Tok::Word(w) | Tok::Phrase(w) => {
            if let Some((lo, hi)) = parse_cidr(w).or_else(|| parse_ip_wildcard(w)) {
                (u128::from(lo), u128::from(hi))
            } else {
                let ip = to_u128(parse(w)?);
                (ip, ip)
            }
        }
        Tok::Range {
            lo,
            lo_incl,
            hi,
            hi_incl,
        } => {
            let lo = match lo.as_str() {
                "*" => 0,
                s => to_u128(parse(s)?) + u128::from(!lo_incl),
            };
            let hi = match hi.as_str() {
                "*" => u128::MAX,
                s => to_u128(parse(s)?).saturating_sub(u128::from(!hi_incl)),
            };
            (lo, hi)
        }
        _ => return err(column, "expected an IP address, a CIDR range or [a TO b]"),
    };
    Ok(Pred::Ip { field, lo, hi })
}

fn number_pred(field: &'static str, value: &Tok, column: usize) -> Result<Pred, QueryError> {
    let (lo, hi) = number_bounds(field, value, column)?;
    Ok(Pred::Number { field, lo, hi })
}

fn time_pred(value: &Tok, column: usize) -> Result<Pred, QueryError> {
    let (lo, hi) = time_bounds(value, column)?;
    Ok(Pred::Time { lo, hi })
}

fn in_bounds<T: PartialOrd>(v: &T, lo: &Bound<T>, hi: &Bound<T>) -> bool {
    let above = match lo {
        Bound::Included(l) => v >= l,
        Bound::Excluded(l) => v > l,
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => v <= h,
        Bound::Excluded(h) => v < h,
        Bound::Unbounded => true,
    };
    above && below
}

fn values<'a>(ev: &'a EventView, field: &Field) -> Vec<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    match field {
        // The record as written, and where it escapes what it holds (an event's XML writes `&`
        // as `&amp;`, JSON a `\` as `\\`) each value as it reads: a Sigma keyword is the
        // text, not its escaping.
        Field::Raw => {
            let escaped = ev.raw.contains(['&', '\\']);
            std::iter::once(Cow::Borrowed(ev.raw.as_str()))
                .chain(
                    ev.fields
                        .iter()
                        .filter(|_| escaped)
                        .map(|(_, v)| Cow::Borrowed(v.as_str())),
                )
                .collect()
        }
        Field::QueryString => ev
            .query
            .as_deref()
            .map(crate::schema::strip_exchange_boilerplate)
            .into_iter()
            .collect(),
        Field::Attr(name) => ev
            .fields
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            // Without the spaces around it and as written, as the index holds it (see
            // `schema::document`).
            .flat_map(|(_, v)| {
                let trimmed = v.trim();
                let padded = (trimmed.len() != v.len()).then_some(Cow::Borrowed(v.as_str()));
                std::iter::once(Cow::Borrowed(trimmed)).chain(padded)
            })
            .collect(),
        Field::Canonical(names::FILE) => vec![Cow::Borrowed(ev.file.as_str())],
        // Asked as indexed: decoded as well (see `schema::query_words_text`).
        Field::Canonical(names::QUERY) => ev
            .query
            .as_deref()
            .map(crate::schema::query_words_text)
            .into_iter()
            .collect(),
        Field::Canonical(names::RULE) => {
            ev.rules.iter().map(|r| Cow::Borrowed(r.as_str())).collect()
        }
        Field::Canonical(name) => ev.value_of(name).map(Cow::Owned).into_iter().collect(),
        Field::AnyText => {
            let canonical = [&ev.path, &ev.ua, &ev.user, &ev.query, &ev.referer];
            canonical
                .into_iter()
                .flatten()
                .map(|v| Cow::Borrowed(v.as_str()))
                .chain(ev.fields.iter().map(|(_, v)| Cow::Borrowed(v.as_str())))
                .collect()
        }
    }
}

/// A field by name, canonical or a source column.
fn field_of(name: &str) -> Field {
    if let Some(own) = super::source_column(name) {
        return Field::Attr(own.into_owned());
    }
    let lower = name.to_ascii_lowercase();
    match CANONICAL_STATIC.iter().find(|n| **n == lower) {
        Some(n) => Field::Canonical(n),
        None => Field::Attr(name.to_string()),
    }
}

fn eval(p: &Pred, ev: &EventView) -> bool {
    match p {
        Pred::All => true,
        Pred::Same(a, b) => {
            let (a, b) = (values(ev, a), values(ev, b));
            a.iter()
                .any(|x| b.iter().any(|y| x.to_lowercase() == y.to_lowercase()))
        }
        Pred::And(parts) => parts.iter().all(|q| eval(q, ev)),
        Pred::Or(parts) => parts.iter().any(|q| eval(q, ev)),
        Pred::Not(inner) => !eval(inner, ev),
        Pred::Text { field, test } => values(ev, field).iter().any(|v| {
            if *field == Field::Canonical(names::UA)
                && let Test::Eq(_) = test
            {
                return test.matches(&normalize_user_agent(v));
            }
            test.matches(v)
        }),
        Pred::Exists(field) => !values(ev, field).is_empty(),
        Pred::TextIp { field, lo, hi } => values(ev, field).iter().any(|v| {
            super::plan::text_address(&v.to_lowercase()).is_some_and(|a| (*lo..=*hi).contains(&a))
        }),
        Pred::Ip { field, lo, hi } => {
            let ips: Vec<IpAddr> = match *field {
                names::XFF => ev.xff.iter().filter_map(|s| s.parse().ok()).collect(),
                names::CLIENT => ev.client.iter().filter_map(|s| s.parse().ok()).collect(),
                _ => ev.ip.iter().filter_map(|s| s.parse().ok()).collect(),
            };
            ips.iter().any(|ip| {
                let v = u128::from(ip_to_v6(*ip));
                v >= *lo && v <= *hi
            })
        }
        Pred::Number { field, lo, hi } => {
            let v = match *field {
                names::STATUS => ev.status,
                names::BYTES => ev.bytes,
                names::DURATION_MS => ev.duration_ms,
                _ => Some(ev.line),
            };
            v.is_some_and(|v| in_bounds(&v, lo, hi))
        }
        Pred::Time { lo, hi } => in_bounds(&ev.ts_ms, lo, hi),
        Pred::Guid(g) => ev
            .request_id
            .as_deref()
            .and_then(event::parse_guid)
            .is_some_and(|v| v == *g),
    }
}

/// Replaces what the index cannot evaluate by "anything", keeping the result a superset:
/// a `raw:` term or a comparison of two fields becomes `*`, and so does any `NOT` whose inside
/// is not fully indexable.
/// The flag that makes the rest of a regex case-sensitive (trawl's regexes ignore case).
const CASE_SENSITIVE: &str = "(?-i)";

fn relax(e: &Expr) -> Expr {
    match e {
        Expr::Term {
            field: Some((name, _)),
            ..
        } if is_unindexed(name) => Expr::All,
        Expr::Term {
            value: Tok::FieldRef(_),
            ..
        } => Expr::All,
        Expr::Not(inner) if mentions_raw(inner) => Expr::All,
        // A case-sensitive regex (a Sigma `re`): the index's terms are lower case, so it asks
        // the same regex ignoring case, and the candidates are checked in memory.
        Expr::Term {
            field,
            value: Tok::Regex(re),
            column,
        } if re.contains(CASE_SENSITIVE) => Expr::Term {
            field: field.clone(),
            value: Tok::Regex(re.replace(CASE_SENSITIVE, "")),
            column: *column,
        },
        // What the index cannot answer exactly is anything under a `NOT`: a superset negated
        // would lose matches.
        Expr::Not(inner) if relax(inner) != **inner => Expr::All,
        Expr::And(parts) => {
            let kept: Vec<Expr> = parts
                .iter()
                .map(relax)
                .filter(|p| *p != Expr::All)
                .collect();
            match kept.len() {
                0 => Expr::All,
                1 => kept.into_iter().next().unwrap_or(Expr::All),
                _ => Expr::And(kept),
            }
        }
        Expr::Or(parts) => {
            let relaxed: Vec<Expr> = parts.iter().map(relax).collect();
            if relaxed.contains(&Expr::All) {
                Expr::All
            } else {
                Expr::Or(relaxed)
            }
        }
        other => other.clone(),
    }
}

impl Matcher {
    /// `index_text` (a candidate query of this matcher's, or one relaxed by this already) with
    /// the pattern whose value starts at `column` relaxed: to "the field has a value" where it is
    /// wanted, to "anything" where it is excluded (the `NOT` around it goes). For a rule whose
    /// pattern the index cannot search (too large as an automaton, a Unicode `\b`): its
    /// candidates are then checked with the full query in memory, where neither limit applies.
    /// `None` when no pattern starts there.
    pub fn relax_pattern_at(index_text: &str, column: usize) -> Option<String> {
        let expr = parse_expr(index_text).ok()?;
        let (relaxed, found) = relax_at(&expr, column);
        found.then(|| render(&relax(&relaxed)))
    }
}

/// Whether a term's value is searched in the index as a pattern.
fn is_pattern(value: &Tok) -> bool {
    match value {
        Tok::Regex(_) => true,
        Tok::Word(w) => w.contains(['*', '?']),
        _ => false,
    }
}

fn relax_at(e: &Expr, column: usize) -> (Expr, bool) {
    match e {
        Expr::Term {
            field,
            value,
            column: c,
        } if *c == column && is_pattern(value) => {
            // A source column's "has a value" is its prefix in the index; a canonical field's
            // is not always a query (`query:*`, `text:*`), so it relaxes to anything.
            let exists = match field {
                Some(f)
                    if super::source_column(&f.0).is_some() || !super::is_canonical_name(&f.0) =>
                {
                    Expr::Term {
                        field: Some(f.clone()),
                        value: Tok::Word("*".into()),
                        column: *c,
                    }
                }
                _ => Expr::All,
            };
            (exists, true)
        }
        Expr::Not(inner) => match relax_at(inner, column) {
            // Relaxed inside a NOT, the NOT would exclude too much: it goes.
            (_, true) => (Expr::All, true),
            _ => (e.clone(), false),
        },
        Expr::And(parts) | Expr::Or(parts) => {
            let mut found = false;
            let parts = parts
                .iter()
                .map(|p| {
                    let (p, f) = relax_at(p, column);
                    found |= f;
                    p
                })
                .collect();
            let rebuilt = match e {
                Expr::And(_) => Expr::And(parts),
                _ => Expr::Or(parts),
            };
            (rebuilt, found)
        }
        other => (other.clone(), false),
    }
}

/// A field only rules can ask, checked on candidates: the index cannot.
fn is_unindexed(name: &str) -> bool {
    name.eq_ignore_ascii_case(names::RAW) || name.eq_ignore_ascii_case(names::QUERY_STRING)
}

fn mentions_raw(e: &Expr) -> bool {
    match e {
        Expr::Term {
            value: Tok::FieldRef(_),
            ..
        } => true,
        Expr::Term {
            field: Some((name, _)),
            ..
        } => is_unindexed(name),
        Expr::Term { .. } | Expr::All => false,
        Expr::Not(inner) => mentions_raw(inner),
        Expr::And(parts) | Expr::Or(parts) => parts.iter().any(mentions_raw),
    }
}

/// Writes an expression back as query text.
fn render(e: &Expr) -> String {
    match e {
        Expr::All => "*".into(),
        Expr::And(parts) => parts
            .iter()
            .map(|p| format!("({})", render(p)))
            .collect::<Vec<_>>()
            .join(" AND "),
        Expr::Or(parts) => parts
            .iter()
            .map(|p| format!("({})", render(p)))
            .collect::<Vec<_>>()
            .join(" OR "),
        Expr::Not(inner) => format!("NOT ({})", render(inner)),
        Expr::Term { field, value, .. } => {
            let v = match value {
                Tok::Word(w) => w
                    .chars()
                    .flat_map(|c| {
                        let escape = c.is_whitespace() || matches!(c, '(' | ')' | '"' | '\\');
                        escape.then_some('\\').into_iter().chain(std::iter::once(c))
                    })
                    .collect(),
                Tok::Phrase(p) => format!("\"{}\"", p.replace('\\', "\\\\").replace('"', "\\\"")),
                Tok::Regex(r) => format!("~\"{}\"", r.replace('"', "\\\"")),
                Tok::Range {
                    lo,
                    lo_incl,
                    hi,
                    hi_incl,
                } => format!(
                    "{}{lo} TO {hi}{}",
                    if *lo_incl { '[' } else { '{' },
                    if *hi_incl { ']' } else { '}' }
                ),
                Tok::Compare(op, v) => format!("{op}{v}"),
                Tok::FieldRef(other) => format!("=={other}"),
                _ => String::new(),
            };
            match field {
                // A quoted name is kept quoted, escapes and all; a bare one is escaped as read.
                Some((name, _)) if super::source_column(name).is_some() => format!("{name}:{v}"),
                Some((name, _)) => {
                    let name: String = name
                        .chars()
                        .enumerate()
                        .flat_map(|(i, c)| {
                            let escape = c.is_whitespace()
                                || matches!(c, '(' | ')' | '"' | '\\' | ':')
                                || (i == 0 && matches!(c, '-' | '+'));
                            escape.then_some('\\').into_iter().chain(std::iter::once(c))
                        })
                        .collect();
                    format!("{name}:{v}")
                }
                // A bare word that starts like an operator is escaped (`\-x` is the word `-x`).
                None if v.starts_with(['-', '+']) && matches!(value, Tok::Word(_)) => {
                    format!("\\{v}")
                }
                None => v,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> EventView {
        EventView {
            ts: "2021-03-05T17:42:19.506Z".into(),
            ts_ms: 1_614_966_139_506,
            source: "httpproxy".into(),
            ip: Some("198.51.100.144".into()),
            method: Some("POST".into()),
            path: Some("/ecp/t.js".into()),
            status: Some(241),
            ua: Some("python-requests/2.19.1".into()),
            request_id: Some("b103bde8-1dfd-46c0-9474-4b3277e3332a".into()),
            fields: vec![
                (
                    "AnchorMailbox".into(),
                    "ServerInfo~a]@MBX-A.corp.example.org:444/ecp/proxyLogon.ecp?#".into(),
                ),
                ("RoutingHint".into(), "X-BEResource-Cookie".into()),
            ],
            raw: "2021-03-05T17:42:19.506Z,b103bde8,…".into(),
            file: "x/HttpProxy_1.LOG".into(),
            line: 7,
            ..EventView::default()
        }
    }

    fn m(q: &str) -> bool {
        Matcher::new(q).expect("query").matches(&ev())
    }

    #[test]
    fn a_pattern_relaxes_to_its_field_or_takes_its_not_with_it() {
        let q = r"EventID:1 AND CommandLine:/.*\bwhoami\b.*/ AND NOT Image:*\\cmd.exe";
        let at = |needle: &str| q.find(needle).expect("needle") + 1;
        assert_eq!(
            Matcher::relax_pattern_at(q, at("/.*")).as_deref(),
            Some(r"(EventID:1) AND (CommandLine:*) AND (NOT (Image:*\\cmd.exe))")
        );
        assert_eq!(
            Matcher::relax_pattern_at(q, at("*\\\\cmd")).as_deref(),
            Some(r#"(EventID:1) AND (CommandLine:~".*\bwhoami\b.*")"#)
        );
        // A value that is not a pattern, or no term at all, is not relaxed.
        assert_eq!(Matcher::relax_pattern_at(q, at("1 AND")), None);
        assert_eq!(Matcher::relax_pattern_at(q, 2), None);
        // Wanted in one branch of an OR: that branch becomes "has the field".
        assert_eq!(
            Matcher::relax_pattern_at("a:/x{9}/ OR b:c", 3).as_deref(),
            Some("(a:*) OR (b:c)")
        );
        // A field name with escaped characters is written back escaped (found by fuzzing:
        // `}}}}}} :*` was not a query).
        let m = Matcher::new(r"}}}}}}\\\ :}}}}?}}\\").expect("parses");
        for column in 1..=m.index_text.len() {
            if let Some(relaxed) = Matcher::relax_pattern_at(&m.index_text, column) {
                assert!(crate::query::check_syntax(&relaxed).is_ok(), "{relaxed}");
            }
        }
        // A canonical field's pattern relaxes to anything (`query:*` is not a query).
        assert_eq!(
            Matcher::relax_pattern_at("query:~\"x{9}\" AND b:c", 7).as_deref(),
            Some("b:c")
        );
    }

    #[test]
    fn quoted_field_names_are_the_sources_own_columns() {
        let mut ev = ev();
        ev.fields.push(("Status".into(), "0xc000006d".into()));
        ev.fields.push(("Task Category".into(), "Logon".into()));
        ev.fields.push((r#"odd"\name"#.into(), "x".into()));
        let m = |q: &str| Matcher::new(q).expect(q).matches(&ev);
        // `status` is the HTTP status; `"Status"` the column of that name.
        assert!(m("status:241"));
        assert!(m(r#""Status":0xC000006D"#));
        assert!(!m(r#""Status":241"#));
        assert!(m(r#""Status":0xc*"#) && m(r#""Status":*"#) && !m(r#""Nope":*"#));
        assert!(m(r#""Task Category":logon"#));
        assert!(m(r#""odd\"\\name":x"#));
        // Written back as read (a rule's candidate query is its text rendered again).
        for q in [
            r"a\ b\:c\\:x",
            r"\-a:x",
            r"\+a:x",
            r"\-y",
            r#"\"a:x"#,
            r#""Status":0xc*"#,
            r#""odd\"\\name":x"#,
            r#""Task Category":logon"#,
        ] {
            let rendered = render(&parse_expr(q).expect(q));
            assert_eq!(rendered, q);
        }
    }

    #[test]
    fn an_account_is_asked_in_every_domain_as_in_the_index() {
        let matches = |user: &str, q: &str| {
            let mut ev = ev();
            ev.user = Some(user.into());
            Matcher::new(q).expect(q).matches(&ev)
        };
        for user in [
            r"CORP\Administrator",
            "administrator@corp.example",
            "ADMINISTRATOR",
        ] {
            assert!(matches(user, "user:administrator"), "{user}");
        }
        for user in [
            r"CORP\Administrators",
            r"Administrator\x",
            "xadministrator",
            "a@b@administrator",
        ] {
            assert!(!matches(user, "user:administrator"), "{user}");
        }
        assert!(!matches(r"CORP\Administrator", r#"user:"administrator""#));
        assert!(matches(r"CORP\Administrator", r"user:corp\\administrator"));
        assert!(matches("a.b+c", "user:a.b+c") && !matches("axb+c", "user:a.b+c"));
    }

    #[test]
    fn a_host_is_asked_by_its_short_name_as_in_the_index() {
        let mut ev = ev();
        ev.host = Some("MBX-A".into());
        let m = |q: &str| Matcher::new(q).expect(q).matches(&ev);
        assert!(m("host:MBX-A.corp.example.org") && m("host:\"mbx-a.corp\"") && m("host:mbx-a"));
        assert!(!m("host:MBX-B.corp.example.org") && !m("host:*.corp"));
        assert!(m("host:mbx-*"));
    }

    #[test]
    fn a_field_applies_to_a_group_of_values() {
        let mut ev = ev();
        ev.fields.push(("EventID".into(), "4625".into()));
        ev.fields
            .push(("CommandLine".into(), "cmd /c net user x /add".into()));
        let m = |q: &str| Matcher::new(q).expect(q).matches(&ev);
        // A space escaped inside a wildcard value; in quotes, `*` is itself (README).
        assert!(m(r"CommandLine:*net\ user*") && !m(r#"CommandLine:"*net user*""#));
        assert!(m("EventID:(4624 OR 4625)"));
        assert!(!m("EventID:(4624 OR 4634)"));
        assert!(m("EventID:( 4624 OR (4625 AND NOT 4634) )"));
        assert!(!m("EventID:(4625 AND -4625)"));
        assert!(m("status:(404 OR 241) AND ip:198.51.100.0/24"));
        assert!(m("\"EventID\":(4625 OR 1)"));
        // Numbers of a source column compare as numbers.
        assert!(m("EventID:[4624 TO 4634]") && m("EventID:>=4625") && m("EventID:<4626"));
        assert!(!m("EventID:{4625 TO 4634]") && !m("EventID:>4625") && !m("EventID:[5000 TO *]"));
        assert!(!m("EventID:[10 TO 5]"));
        // The group is written back as the terms it stands for.
        assert_eq!(
            render(&parse_expr("EventID:(4624 OR 4625)").expect("parses")),
            "(EventID:4624) OR (EventID:4625)"
        );
        for bad in ["EventID:(4624 OR", "EventID:()", "EventID:(4624))"] {
            assert!(Matcher::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cidr_on_a_source_column_is_the_addresses_in_it() {
        let mut ev = ev();
        ev.fields.push(("DestinationIp".into(), "10.1.2.3".into()));
        ev.fields.push(("SourceIp".into(), "FE80::1".into()));
        ev.fields.push(("Subnet".into(), "192.0.2.0/24".into()));
        let m = |q: &str| Matcher::new(q).expect(q).matches(&ev);
        assert!(m("DestinationIp:10.0.0.0/8"));
        assert!(!m("DestinationIp:172.16.0.0/12"));
        assert!(m(r#"SourceIp:"fe80::/10""#));
        assert!(!m(r#"DestinationIp:"fe80::/10""#));
        // The very text still matches.
        assert!(m("Subnet:192.0.2.0/24"));
        assert!(!m("Subnet:198.51.100.0/24"));
        assert!(m("NOT DestinationIp:192.168.0.0/16"));
    }

    #[test]
    fn only_relaxed_queries_need_checking_event_by_event() {
        // Spelling that differs from the rendered form is still exact.
        let m =
            Matcher::new("(status:404  OR status:302) AND  path:/owa/auth/*.aspx").expect("query");
        assert!(m.exact_in_index);
        let m = Matcher::new("path:/ecp/*.js AND raw:*X-BEResource*").expect("query");
        assert!(!m.exact_in_index);
        assert_eq!(m.index_text, "path:/ecp/*.js");
    }

    #[test]
    fn same_semantics_as_the_index() {
        assert!(m("ip:198.51.100.144 AND status:241"));
        assert!(m("ip:198.51.100.0/24 AND status:2xx"));
        // Numbers are read as the index reads them (`status:2*` is a class, as in search).
        assert!(m("status:2* AND status:24*"));
        assert!(!m("status:5*"));
        assert!(!m("ip:192.0.2.0/24"));
        assert!(m("path:/ECP/*.js AND method:post"));
        assert!(m(
            "AnchorMailbox:ServerInfo~*/* AND NOT AnchorMailbox:ServerInfo~*/autodiscover*"
        ));
        assert!(!m("AnchorMailbox:ServerInfo~localhost*/*"));
        assert!(m("routinghint:x-beresource-cookie"));
        assert!(m("ua:\"python-requests/2.19.1\" AND NOT ua:*Teams*"));
        assert!(m("\"python requests\""));
        // An address bare is the event's addresses as well as its words.
        assert!(m("198.51.100.144") && m("198.51.100.0/24") && m("198.51.100.*"));
        assert!(!m("198.51.100.145") && !m("192.0.2.0/24"));
        assert!(m("ts:2021-03-05T17:42 AND ts:[2021-03-05 TO 2021-03-06}"));
        assert!(m("request_id:b103bde8-1dfd-46c0-9474-4b3277e3332a"));
        assert!(m("raw:/.*b103bde8.*/"));
        assert!(m("file:*HttpProxy* AND line:7"));
        assert!(m("AuthenticatedUser:* OR path:*"));
        assert!(!m("user:*"));
    }

    #[test]
    fn patterns_of_one_or_are_one_regex_with_the_same_answers() {
        let q = "(raw:*nothing-here* OR RoutingHint:*nope*) OR (raw:*b103BDE8* OR path:/x) OR \
                 (raw:/.*zzz.*/ OR RoutingHint:*cookie)";
        let matcher = Matcher::new(q).expect("q");
        let Pred::Or(parts) = &matcher.pred else {
            panic!("{:?}", matcher.pred)
        };
        // raw's three patterns and RoutingHint's two, each one test; the path term apart.
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(matcher.matches(&ev()));
        for (q, expected) in [
            ("raw:*nothing-here* OR raw:*also-not*", false),
            ("raw:*NOTHING* OR (raw:*b103bde8* OR raw:*x*)", true),
            ("RoutingHint:*nope* OR RoutingHint:x-beresource-*", true),
            ("NOT (raw:*b103bde8* OR raw:*never*)", false),
        ] {
            assert_eq!(m(q), expected, "{q}");
        }
    }

    #[test]
    fn patterns_compile_when_first_needed_and_say_why_they_cannot() {
        // Bad syntax is an error as the query is read.
        let e = Matcher::new("raw:/(unclosed/").expect_err("syntax");
        assert!(e.message.contains("bad regex"), "{}", e.message);
        // Too large to compile: read, then refused by `ready` with why, never a silent match.
        let m = Matcher::new(r"raw:/(\w{100}){100}/").expect("syntax is fine");
        let why = m.ready().expect_err("too large");
        assert!(why.contains("too large to check events with"), "{why}");
        assert!(!m.matches(&ev()));
        let m = Matcher::new("raw:*b103bde8* OR raw:*never*").expect("q");
        assert_eq!(m.ready(), Ok(()));
        assert!(m.matches(&ev()));
    }

    #[test]
    fn wildcards_cross_line_ends() {
        let ev = EventView {
            fields: vec![(
                "ScriptBlockText".into(),
                "param()\r\n$x = 1\nInvoke-Mimikatz -DumpCreds".into(),
            )],
            raw: "line one\nline two".into(),
            ..Default::default()
        };
        for q in [
            "ScriptBlockText:*mimikatz*",
            "ScriptBlockText:param*dumpcreds",
            "ScriptBlockText:param?*",
            "raw:*two",
            "\"invoke mimikatz\"",
        ] {
            assert!(Matcher::new(q).expect("q").matches(&ev), "{q}");
        }
        // A regex keeps its own meaning: `.` stops at a line end unless it says `(?s)`.
        assert!(!Matcher::new("raw:/line.*two/").expect("q").matches(&ev));
        assert!(Matcher::new("raw:/(?s)line.*two/").expect("q").matches(&ev));
    }

    #[test]
    fn raw_is_relaxed_for_the_index() {
        let matcher = Matcher::new("source:ecp AND raw:/.*Set-.+VirtualDirectory.*/").expect("q");
        assert_eq!(matcher.index_text, "source:ecp");
        let matcher = Matcher::new("status:200 AND NOT raw:/.*x.*/ AND path:/a").expect("q");
        assert_eq!(matcher.index_text, "(status:200) AND (path:/a)");
        assert_eq!(
            Matcher::new("raw:/x/ OR path:/a").expect("q").index_text,
            "*"
        );
    }

    #[test]
    fn two_fields_compared_on_candidates() {
        let ev = |a: &str, b: &str| EventView {
            fields: vec![
                ("SubjectUserName".into(), a.into()),
                ("TargetUserName".into(), b.into()),
            ],
            ..Default::default()
        };
        let m = Matcher::new("status:* OR NOT SubjectUserName:==TargetUserName").expect("q");
        assert!(m.matches(&ev("xodih", "testuser")));
        assert!(!m.matches(&ev("Admin", "admin")));
        assert_eq!(
            m.index_text, "*",
            "the index cannot compare: every event is a candidate"
        );
        let (_, fields) = crate::schema::build();
        let e = crate::query::compile(
            "SubjectUserName:==TargetUserName",
            &fields,
            &crate::query::Vocabulary::default(),
        )
        .expect_err("searches cannot compare fields");
        assert!(e.message.contains("for rules"), "{e:?}");
    }
}
