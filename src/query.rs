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

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Bound;
use std::sync::Arc;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query, RangeQuery,
    RegexQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, Term};

use crate::event::{self, names};
use crate::formats::time;
use crate::schema::{self, Fields};

/// A query that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {column})")]
pub struct QueryError {
    pub message: String,
    /// 1-based character column in the query text.
    pub column: usize,
}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        message: message.into(),
        column,
    })
}

/// A query ready to run.
pub struct Compiled {
    pub query: Box<dyn Query>,
    /// True when the query matches every event (the timeline can skip collecting hits).
    pub matches_all: bool,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("matches_all", &self.matches_all)
            .finish()
    }
}

/// What the compiler needs to know about the case.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Source-specific column names seen in the case (lower-cased).
    pub attrs: BTreeSet<String>,
    /// Ingested files: (id, path).
    pub files: Vec<(u64, String)>,
    /// Events with marks and tags, resolved by the case (issue 5 plugs in here).
    pub tags: Vec<(String, Arc<Vec<u64>>)>,
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
}

/// Canonical names and their kinds, also used for completion and suggestions.
pub const CANONICAL: [&str; 19] = [
    names::TS,
    names::HOST,
    names::SOURCE,
    names::IP,
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
];

fn kind_of(name: &str) -> Option<Kind> {
    Some(match name {
        names::HOST
        | names::SOURCE
        | names::METHOD
        | names::PATH
        | names::USER
        | names::REFERER
        | names::RULE => Kind::Keyword,
        names::UA => Kind::UserAgent,
        names::QUERY | "text" => Kind::Words,
        names::IP | names::XFF => Kind::Ip,
        names::STATUS | names::BYTES | names::DURATION_MS | names::LINE => Kind::Number,
        names::TS => Kind::Time,
        names::REQUEST_ID => Kind::Guid,
        names::FILE => Kind::File,
        names::RAW => Kind::Raw,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Plus,
    Minus,
    /// `name:` followed by its value.
    Field(String),
    Word(String),
    Phrase(String),
    Regex(String),
    /// `[a TO b]`, `{a TO b}` and mixes; bounds as written (`*` for open).
    Range {
        lo: String,
        lo_incl: bool,
        hi: String,
        hi_incl: bool,
    },
    /// `>=x`, `>x`, `<x`, `<=x`.
    Compare(&'static str, String),
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer {
            chars: src.chars().collect(),
            pos: 0,
            _src: src,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn tokens(mut self) -> Result<Vec<(Tok, usize)>, QueryError> {
        let mut out = Vec::new();
        // After a `field:` the next token is a value even if it looks like an operator.
        let mut expect_value = false;
        // Paths begin with '/', so for them `/…/` is a path, not a regex (use `~"…"`).
        let mut slash_is_literal = false;
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                if expect_value {
                    return err(self.pos + 1, "a value must follow ':' without a space");
                }
                self.pos += 1;
                continue;
            }
            let column = self.pos + 1;
            let tok = match c {
                '(' if !expect_value => {
                    self.pos += 1;
                    Tok::LParen
                }
                ')' if !expect_value => {
                    self.pos += 1;
                    Tok::RParen
                }
                '"' => Tok::Phrase(self.quoted()?),
                '~' if expect_value && self.chars.get(self.pos + 1) == Some(&'"') => {
                    self.pos += 1;
                    Tok::Regex(self.quoted_regex()?)
                }
                '/' if expect_value && !slash_is_literal => Tok::Regex(self.regex()?),
                '[' | '{' if expect_value => self.range()?,
                '>' | '<' if expect_value => self.compare()?,
                '+' if !expect_value && self.next_is_term() => {
                    self.pos += 1;
                    Tok::Plus
                }
                '-' if !expect_value && self.next_is_term() => {
                    self.pos += 1;
                    Tok::Minus
                }
                _ => {
                    let word = self.word(expect_value);
                    if word.is_empty() {
                        return err(column, format!("unexpected '{c}'"));
                    }
                    if !expect_value && self.peek() == Some(':') {
                        self.pos += 1;
                        if self.peek().is_none() || self.peek().is_some_and(char::is_whitespace) {
                            return err(self.pos + 1, format!("missing value after '{word}:'"));
                        }
                        slash_is_literal = matches!(
                            word.to_ascii_lowercase().as_str(),
                            "path" | "referer" | "file"
                        );
                        out.push((Tok::Field(word), column));
                        expect_value = true;
                        continue;
                    }
                    match word.as_str() {
                        "AND" | "&&" if !expect_value => Tok::And,
                        "OR" | "||" if !expect_value => Tok::Or,
                        "NOT" if !expect_value => Tok::Not,
                        _ => Tok::Word(word),
                    }
                }
            };
            expect_value = false;
            out.push((tok, column));
        }
        if expect_value {
            return err(self.pos + 1, "missing value after ':'");
        }
        Ok(out)
    }

    fn next_is_term(&self) -> bool {
        self.chars
            .get(self.pos + 1)
            .is_some_and(|c| !c.is_whitespace())
    }

    /// A bare run of characters. Outside values `:` ends a word (it introduces a value); inside
    /// values it does not (IPv6 addresses, times).
    fn word(&mut self, in_value: bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            let stop = c.is_whitespace()
                || c == '(' && !in_value
                || c == ')'
                || c == '"'
                || (c == ':' && !in_value);
            if stop {
                break;
            }
            if c == '\\'
                && let Some(next) = self.chars.get(self.pos + 1)
            {
                s.push(*next);
                self.pos += 2;
                continue;
            }
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.pos + 1;
        self.pos += 1;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' => {
                    if let Some(next) = self.peek() {
                        s.push(next);
                        self.pos += 1;
                    }
                }
                '"' => return Ok(s),
                _ => s.push(c),
            }
        }
        err(start, "unterminated quote")
    }

    /// `~"…"`: backslashes are the regex's own, except `\"` for a quote.
    fn quoted_regex(&mut self) -> Result<String, QueryError> {
        let start = self.pos + 1;
        self.pos += 1;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' if self.peek() == Some('"') => {
                    s.push('"');
                    self.pos += 1;
                }
                '\\' => {
                    s.push('\\');
                    if let Some(next) = self.peek() {
                        s.push(next);
                        self.pos += 1;
                    }
                }
                '"' => return Ok(s),
                _ => s.push(c),
            }
        }
        err(start, "unterminated ~\"regex\"")
    }

    fn regex(&mut self) -> Result<String, QueryError> {
        let start = self.pos + 1;
        self.pos += 1;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' if self.peek() == Some('/') => {
                    s.push('/');
                    self.pos += 1;
                }
                '\\' => {
                    s.push('\\');
                    if let Some(next) = self.peek() {
                        s.push(next);
                        self.pos += 1;
                    }
                }
                '/' => return Ok(s),
                _ => s.push(c),
            }
        }
        err(start, "unterminated /regex/")
    }

    fn range(&mut self) -> Result<Tok, QueryError> {
        let start = self.pos + 1;
        let lo_incl = self.peek() == Some('[');
        self.pos += 1;
        let mut body = String::new();
        let hi_incl = loop {
            match self.peek() {
                None => return err(start, "unterminated range: expected ']' or '}'"),
                Some(']') => break true,
                Some('}') => break false,
                Some(c) => {
                    body.push(c);
                    self.pos += 1;
                }
            }
        };
        self.pos += 1;
        let parts: Vec<&str> = body.split_whitespace().collect();
        match parts.as_slice() {
            [lo, to, hi] if to.eq_ignore_ascii_case("TO") => Ok(Tok::Range {
                lo: lo.trim_matches('"').to_string(),
                lo_incl,
                hi: hi.trim_matches('"').to_string(),
                hi_incl,
            }),
            _ => err(
                start,
                "a range is written [low TO high] (use * for an open end)",
            ),
        }
    }

    fn compare(&mut self) -> Result<Tok, QueryError> {
        let start = self.pos + 1;
        let op = match (self.peek(), self.chars.get(self.pos + 1)) {
            (Some('>'), Some('=')) => ">=",
            (Some('<'), Some('=')) => "<=",
            (Some('>'), _) => ">",
            _ => "<",
        };
        self.pos += op.len();
        let value = self.word(true);
        if value.is_empty() {
            return err(start, format!("missing value after '{op}'"));
        }
        Ok(Tok::Compare(op, value))
    }
}

// ---------------------------------------------------------------------------------------------
// Parser: tokens to an expression tree.

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    All,
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Term {
        field: Option<(String, usize)>,
        value: Tok,
        column: usize,
    },
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_column, |(_, c)| *c)
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            if self.peek().is_none() || self.peek() == Some(&Tok::RParen) {
                return err(self.column(), "missing term after OR");
            }
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut parts = vec![self.unary()?];
        loop {
            match self.peek() {
                None | Some(Tok::Or) | Some(Tok::RParen) => break,
                Some(Tok::And) => {
                    self.pos += 1;
                    if matches!(self.peek(), None | Some(Tok::RParen) | Some(Tok::Or)) {
                        return err(self.column(), "missing term after AND");
                    }
                }
                _ => {}
            }
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        match self.peek() {
            Some(Tok::Not) | Some(Tok::Minus) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let column = self.column();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return err(column, "missing term");
        };
        self.pos += 1;
        match tok {
            Tok::LParen => {
                let inner = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return err(column, "unclosed '('");
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::RParen => err(column, "unexpected ')'"),
            Tok::And | Tok::Or => err(column, "AND/OR needs a term before it"),
            Tok::Field(name) => {
                let Some((value, vcol)) = self.toks.get(self.pos).cloned() else {
                    return err(column, format!("missing value after '{name}:'"));
                };
                self.pos += 1;
                Ok(Expr::Term {
                    field: Some((name, column)),
                    value,
                    column: vcol,
                })
            }
            Tok::Word(w) if w == "*" => Ok(Expr::All),
            value @ (Tok::Word(_) | Tok::Phrase(_)) => Ok(Expr::Term {
                field: None,
                value,
                column,
            }),
            Tok::Regex(_) | Tok::Range { .. } | Tok::Compare(..) => {
                err(column, "this needs a field name before it (field:…)")
            }
            Tok::Not | Tok::Plus | Tok::Minus => err(column, "unexpected operator"),
        }
    }
}

fn parse_expr(text: &str) -> Result<Expr, QueryError> {
    let toks = Lexer::new(text).tokens()?;
    if toks.is_empty() {
        return Ok(Expr::All);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end_column: text.chars().count() + 1,
    };
    let expr = p.or()?;
    if p.pos < p.toks.len() {
        return err(p.column(), "unexpected ')'");
    }
    Ok(expr)
}

// ---------------------------------------------------------------------------------------------
// Compiler: expression tree to a tantivy query.

/// Compiles query text against the case's fields and vocabulary.
pub fn compile(text: &str, fields: &Fields, vocab: &Vocabulary) -> Result<Compiled, QueryError> {
    let expr = parse_expr(text)?;
    let matches_all = expr == Expr::All;
    let query = Compiler { fields, vocab }.expr(&expr)?;
    Ok(Compiled { query, matches_all })
}

/// Checks query text without a case (for the TUI's as-you-type feedback).
pub fn check_syntax(text: &str) -> Result<(), QueryError> {
    parse_expr(text).map(|_| ())
}

struct Compiler<'a> {
    fields: &'a Fields,
    vocab: &'a Vocabulary,
}

impl Compiler<'_> {
    fn expr(&self, e: &Expr) -> Result<Box<dyn Query>, QueryError> {
        Ok(match e {
            Expr::All => Box::new(AllQuery),
            Expr::And(parts) => {
                let mut clauses = Vec::new();
                for p in parts {
                    match p {
                        Expr::Not(inner) => clauses.push((Occur::MustNot, self.expr(inner)?)),
                        other => clauses.push((Occur::Must, self.expr(other)?)),
                    }
                }
                with_positive(clauses)
            }
            Expr::Or(parts) => {
                let clauses = parts
                    .iter()
                    .map(|p| Ok((Occur::Should, self.expr(p)?)))
                    .collect::<Result<Vec<_>, QueryError>>()?;
                Box::new(BooleanQuery::new(clauses))
            }
            Expr::Not(inner) => with_positive(vec![(Occur::MustNot, self.expr(inner)?)]),
            Expr::Term {
                field,
                value,
                column,
            } => self.term(field.as_ref(), value, *column)?,
        })
    }

    fn term(
        &self,
        field: Option<&(String, usize)>,
        value: &Tok,
        column: usize,
    ) -> Result<Box<dyn Query>, QueryError> {
        let Some((name, name_col)) = field else {
            return self.bare(value, column);
        };
        let mut canonical = name.to_ascii_lowercase();
        // A source's own name for a canonical field (`c-ip`, `AuthenticatedUser`, `UrlStem`)
        // means that field.
        if kind_of(&canonical).is_none()
            && let Some(alias) = crate::formats::columns::canon_for(&canonical)
        {
            canonical = canonical_name(alias).to_string();
        }
        if let Some(kind) = kind_of(&canonical) {
            if matches!(value, Tok::Word(w) if w == "*") && kind != Kind::File {
                return self.exists(&canonical, *name_col);
            }
            return match kind {
                Kind::Keyword => self.keyword(self.keyword_field(&canonical), value, column, ""),
                Kind::UserAgent => self.user_agent(value, column),
                Kind::Words => self.words(self.words_field(&canonical), value, column),
                Kind::Ip => self.ip(self.ip_field(&canonical), value, column),
                Kind::Number => {
                    self.number(self.number_field(&canonical), &canonical, value, column)
                }
                Kind::Time => self.time(value, column),
                Kind::Guid => self.guid(value, column),
                Kind::File => self.file(value, column),
                Kind::Raw => err(
                    *name_col,
                    "raw is not indexed: search its words without a field name",
                ),
            };
        }
        if let Some((_, keys)) = self.vocab.tags.iter().find(|(t, _)| *t == canonical) {
            return key_set_query(self.fields, keys, value, column);
        }
        if self.vocab.attrs.contains(&canonical) {
            let prefix = format!("{canonical}=");
            if matches!(value, Tok::Word(w) if w == "*") {
                return self.keyword(self.fields.attr, &Tok::Word("*".into()), column, &prefix);
            }
            return self.keyword(self.fields.attr, value, column, &prefix);
        }
        err(*name_col, unknown_field_message(name, self.vocab))
    }

    fn keyword_field(&self, name: &str) -> Field {
        let f = self.fields;
        match name {
            names::HOST => f.host,
            names::SOURCE => f.source,
            names::METHOD => f.method,
            names::PATH => f.path,
            names::USER => f.user,
            names::REFERER => f.referer,
            _ => f.rule,
        }
    }

    fn words_field(&self, name: &str) -> Field {
        if name == names::QUERY {
            self.fields.query
        } else {
            self.fields.text
        }
    }

    fn ip_field(&self, name: &str) -> Field {
        if name == names::XFF {
            self.fields.xff
        } else {
            self.fields.ip
        }
    }

    fn number_field(&self, name: &str) -> Field {
        let f = self.fields;
        match name {
            names::STATUS => f.status,
            names::BYTES => f.bytes,
            names::DURATION_MS => f.duration_ms,
            _ => f.line,
        }
    }

    fn exists(&self, name: &str, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let field_name = match name {
            "text" | names::QUERY | names::REFERER => {
                return err(
                    column,
                    format!("{name}:* is not supported (not a fast field)"),
                );
            }
            n => n,
        };
        Ok(Box::new(ExistsQuery::new(field_name.to_string(), false)))
    }

    /// Exact, wildcard or regex match on a one-term-per-value field. `prefix` scopes attribute
    /// terms (`name=`).
    fn keyword(
        &self,
        field: Field,
        value: &Tok,
        column: usize,
        prefix: &str,
    ) -> Result<Box<dyn Query>, QueryError> {
        self.keyword_with(field, value, column, prefix, schema::normalize_keyword)
    }

    fn keyword_with(
        &self,
        field: Field,
        value: &Tok,
        column: usize,
        prefix: &str,
        normalize: fn(&str) -> String,
    ) -> Result<Box<dyn Query>, QueryError> {
        match value {
            Tok::Word(w) if has_wildcard(w) => {
                let pattern = format!(
                    "{}{}",
                    regex_escape(prefix),
                    wildcard_to_regex(&normalize(w))
                );
                regex_query(&pattern, field, column)
            }
            Tok::Word(w) | Tok::Phrase(w) => Ok(Box::new(TermQuery::new(
                Term::from_field_text(field, &format!("{prefix}{}", normalize(w))),
                IndexRecordOption::Basic,
            ))),
            Tok::Regex(re) => {
                let pattern = format!("(?i){}(?:{re})", regex_escape(prefix));
                regex_query(&pattern, field, column)
            }
            _ => err(
                column,
                "expected a value, a \"phrase\", a wildcard or a /regex/",
            ),
        }
    }

    fn user_agent(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        self.keyword_with(self.fields.ua, value, column, "", |v| {
            // Keep wildcard stars attached: normalise around them.
            let lowered = schema::normalize_user_agent(&v.replace('*', "\u{1}"));
            lowered.replace('\u{1}', "*")
        })
    }

    fn words(
        &self,
        field: Field,
        value: &Tok,
        column: usize,
    ) -> Result<Box<dyn Query>, QueryError> {
        let text = match value {
            Tok::Word(w) if has_wildcard(w) => {
                return regex_query(&wildcard_to_regex(&w.to_lowercase()), field, column);
            }
            Tok::Regex(re) => return regex_query(&format!("(?i){re}"), field, column),
            Tok::Word(w) | Tok::Phrase(w) => w,
            _ => return err(column, "expected words"),
        };
        let terms: Vec<Term> = schema::words_of(text)
            .map(|(a, b)| Term::from_field_text(field, &text[a..b].to_lowercase()))
            .collect();
        let positions = field == self.fields.text;
        Ok(match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(terms[0].clone(), IndexRecordOption::Basic)),
            _ if positions => Box::new(PhraseQuery::new(terms)),
            _ => Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|t| {
                        let q: Box<dyn Query> =
                            Box::new(TermQuery::new(t, IndexRecordOption::Basic));
                        (Occur::Must, q)
                    })
                    .collect(),
            )),
        })
    }

    /// Bare words and phrases search the words of messages and query strings, and the distinct
    /// values of paths, user agents and users (as "contains these words in this order").
    fn bare(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let mut clauses = vec![
            (Occur::Should, self.words(self.fields.text, value, column)?),
            (Occur::Should, self.words(self.fields.query, value, column)?),
        ];
        let text = match value {
            Tok::Word(w) | Tok::Phrase(w) => w,
            _ => return err(column, "expected words"),
        };
        if let Some(pattern) = contains_words_regex(text) {
            for field in [self.fields.path, self.fields.ua, self.fields.user] {
                clauses.push((Occur::Should, regex_query(&pattern, field, column)?));
            }
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn ip(&self, field: Field, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let range = |lo: Ipv6Addr, hi: Ipv6Addr| -> Box<dyn Query> {
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_ip_addr(field, lo)),
                Bound::Included(Term::from_field_ip_addr(field, hi)),
            ))
        };
        match value {
            Tok::Word(w) | Tok::Phrase(w) => {
                if let Some((lo, hi)) = parse_cidr(w) {
                    return Ok(range(lo, hi));
                }
                if let Some((lo, hi)) = parse_ip_wildcard(w) {
                    return Ok(range(lo, hi));
                }
                let ip = event::parse_ip(w).ok_or_else(|| QueryError {
                    message: format!("'{w}' is not an IP address, CIDR range or a.b.c.* pattern"),
                    column,
                })?;
                Ok(Box::new(TermQuery::new(
                    Term::from_field_ip_addr(field, schema::ip_to_v6(ip)),
                    IndexRecordOption::Basic,
                )))
            }
            Tok::Range {
                lo,
                lo_incl,
                hi,
                hi_incl,
            } => {
                let bound = |s: &str, incl: bool| -> Result<Bound<Term>, QueryError> {
                    if s == "*" {
                        return Ok(Bound::Unbounded);
                    }
                    let ip = event::parse_ip(s).ok_or_else(|| QueryError {
                        message: format!("'{s}' is not an IP address"),
                        column,
                    })?;
                    let t = Term::from_field_ip_addr(field, schema::ip_to_v6(ip));
                    Ok(if incl {
                        Bound::Included(t)
                    } else {
                        Bound::Excluded(t)
                    })
                };
                Ok(Box::new(RangeQuery::new(
                    bound(lo, *lo_incl)?,
                    bound(hi, *hi_incl)?,
                )))
            }
            _ => err(column, "expected an IP address, a CIDR range or [a TO b]"),
        }
    }

    fn number(
        &self,
        field: Field,
        name: &str,
        value: &Tok,
        column: usize,
    ) -> Result<Box<dyn Query>, QueryError> {
        let num = |s: &str| -> Result<u64, QueryError> {
            s.parse::<u64>().map_err(|_| QueryError {
                message: format!("'{s}' is not a whole number"),
                column,
            })
        };
        let range = |lo: Bound<u64>, hi: Bound<u64>| -> Box<dyn Query> {
            let t = |v| Term::from_field_u64(field, v);
            Box::new(RangeQuery::new(lo.map(t), hi.map(t)))
        };
        match value {
            Tok::Word(w) | Tok::Phrase(w) => {
                // status:5xx / status:5* / status:40?
                let lower = w.to_ascii_lowercase();
                if name == names::STATUS
                    && lower.len() == 3
                    && (lower.contains('x') || has_wildcard(&lower))
                {
                    let lo = lower.replace(['x', '*', '?'], "0");
                    let hi = lower.replace(['x', '*', '?'], "9");
                    return Ok(range(
                        Bound::Included(num(&lo)?),
                        Bound::Included(num(&hi)?),
                    ));
                }
                if let Some(prefix) = lower
                    .strip_suffix('*')
                    .filter(|p| !p.is_empty() && name == names::STATUS)
                {
                    let pad = 3usize.saturating_sub(prefix.len()) as u32;
                    let lo = num(prefix)? * 10u64.pow(pad);
                    return Ok(range(
                        Bound::Included(lo),
                        Bound::Excluded(lo + 10u64.pow(pad)),
                    ));
                }
                Ok(Box::new(TermQuery::new(
                    Term::from_field_u64(field, num(w)?),
                    IndexRecordOption::Basic,
                )))
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
                Ok(range(b(lo, *lo_incl)?, b(hi, *hi_incl)?))
            }
            Tok::Compare(op, v) => {
                let v = num(v)?;
                Ok(match *op {
                    ">=" => range(Bound::Included(v), Bound::Unbounded),
                    ">" => range(Bound::Excluded(v), Bound::Unbounded),
                    "<=" => range(Bound::Unbounded, Bound::Included(v)),
                    _ => range(Bound::Unbounded, Bound::Excluded(v)),
                })
            }
            _ => err(
                column,
                "expected a number, a range [a TO b] or a comparison",
            ),
        }
    }

    fn time(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let field = self.fields.ts;
        let spec = |s: &str| -> Result<(i64, i64), QueryError> {
            parse_time_spec(s).ok_or_else(|| QueryError {
                message: format!(
                    "'{s}' is not a time: use 2021-03-05, 2021-03-05T17:42, 2021-03-05T17:42:19Z…"
                ),
                column,
            })
        };
        let term = |ms: i64| Term::from_field_date(field, DateTime::from_timestamp_millis(ms));
        let range = |lo: Bound<i64>, hi: Bound<i64>| -> Box<dyn Query> {
            Box::new(RangeQuery::new(lo.map(term), hi.map(term)))
        };
        match value {
            Tok::Word(w) | Tok::Phrase(w) => {
                let (lo, hi) = spec(w)?;
                Ok(range(Bound::Included(lo), Bound::Excluded(hi)))
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
                Ok(range(lo_b, hi_b))
            }
            Tok::Compare(op, v) => {
                let (lo, hi) = spec(v)?;
                Ok(match *op {
                    ">=" => range(Bound::Included(lo), Bound::Unbounded),
                    ">" => range(Bound::Included(hi), Bound::Unbounded),
                    "<=" => range(Bound::Unbounded, Bound::Excluded(hi)),
                    _ => range(Bound::Unbounded, Bound::Excluded(lo)),
                })
            }
            _ => err(column, "expected a time, a range [a TO b] or a comparison"),
        }
    }

    fn guid(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let (Tok::Word(w) | Tok::Phrase(w)) = value else {
            return err(column, "expected a request GUID");
        };
        let id = event::parse_guid(w).ok_or_else(|| QueryError {
            message: format!("'{w}' is not a GUID"),
            column,
        })?;
        let t = Term::from_field_ip_addr(self.fields.request_id, Ipv6Addr::from(id));
        Ok(Box::new(RangeQuery::new(
            Bound::Included(t.clone()),
            Bound::Included(t),
        )))
    }

    fn file(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let matcher: Box<dyn Fn(&str) -> bool> =
            match value {
                Tok::Word(w) | Tok::Phrase(w) if has_wildcard(w) => {
                    let re = regex::Regex::new(&format!("(?i)^{}$", wildcard_to_regex(w)))
                        .map_err(|e| QueryError {
                            message: e.to_string(),
                            column,
                        })?;
                    Box::new(move |p: &str| re.is_match(p))
                }
                Tok::Word(w) | Tok::Phrase(w) => {
                    let w = w.clone();
                    // A path, or its end (`file:u_ex210305.log`).
                    Box::new(move |p: &str| p == w || p.ends_with(&format!("/{w}")))
                }
                Tok::Regex(re) => {
                    let re = regex::Regex::new(re).map_err(|e| QueryError {
                        message: e.to_string(),
                        column,
                    })?;
                    Box::new(move |p: &str| re.is_match(p))
                }
                _ => return err(column, "expected a file path or pattern"),
            };
        let clauses: Vec<(Occur, Box<dyn Query>)> = self
            .vocab
            .files
            .iter()
            .filter(|(_, p)| matcher(p))
            .map(|(id, _)| {
                let t = Term::from_field_u64(self.fields.file_id, *id);
                let q: Box<dyn Query> = Box::new(RangeQuery::new(
                    Bound::Included(t.clone()),
                    Bound::Included(t),
                ));
                (Occur::Should, q)
            })
            .collect();
        if clauses.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }
}

fn canonical_name(c: crate::formats::columns::Canon) -> &'static str {
    use crate::formats::columns::Canon;
    match c {
        Canon::Date | Canon::Time | Canon::DateTime => names::TS,
        Canon::Host => names::HOST,
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

/// A query matching the events whose key (`file_id << 40 | line`) is in `keys`.
fn key_set_query(
    fields: &Fields,
    keys: &Arc<Vec<u64>>,
    value: &Tok,
    column: usize,
) -> Result<Box<dyn Query>, QueryError> {
    let _ = (fields, keys, value);
    err(column, "tags are not available yet")
}

/// A regex matching values that contain the words of `text` in order, separated by anything
/// that is not a letter or digit (`python requests` matches `python-requests/2.25.1`). Wildcards
/// in `text` keep their meaning.
fn contains_words_regex(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '*' && c != '?')
        .filter(|w| !w.is_empty())
        .map(|w| wildcard_to_regex(&w.to_lowercase()))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!(".*{}.*", words.join("[^a-z0-9]+")))
}

/// Wraps purely negative clauses with "everything" so that `NOT x` means all events but x.
fn with_positive(mut clauses: Vec<(Occur, Box<dyn Query>)>) -> Box<dyn Query> {
    if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    Box::new(BooleanQuery::new(clauses))
}

fn regex_query(pattern: &str, field: Field, column: usize) -> Result<Box<dyn Query>, QueryError> {
    // Regexes match whole values; anchors are implied (and the automaton has no look-around).
    let pattern = strip_anchors(pattern);
    RegexQuery::from_pattern(&pattern, field)
        .map(|q| Box::new(q) as Box<dyn Query>)
        .map_err(|e| QueryError {
            message: format!("bad regex: {e}"),
            column,
        })
}

fn strip_anchors(pattern: &str) -> String {
    let mut p = pattern.replace("(?:^", "(?:").replace("(?i)^", "(?i)");
    if let Some(rest) = p.strip_prefix('^') {
        p = rest.to_string();
    }
    if p.ends_with("$)") {
        p.replace_range(p.len() - 2..p.len() - 1, "");
    } else if p.ends_with('$') && !p.ends_with("\\$") {
        p.pop();
    }
    p
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// `*` is any run, `?` one character; everything else literal.
pub fn wildcard_to_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex_escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out
}

fn regex_escape(s: &str) -> String {
    regex_syntax_escape(s)
}

fn regex_syntax_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~/\"<>@=".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse_cidr(s: &str) -> Option<(Ipv6Addr, Ipv6Addr)> {
    let (addr, bits) = s.split_once('/')?;
    let bits: u32 = bits.parse().ok()?;
    let ip: IpAddr = addr.parse().ok()?;
    let (v6, bits) = match ip {
        IpAddr::V4(v4) if bits <= 32 => (v4.to_ipv6_mapped(), bits + 96),
        IpAddr::V6(v6) if bits <= 128 => (v6, bits),
        _ => return None,
    };
    let host_bits = 128 - bits;
    let mask = if host_bits == 128 {
        0
    } else {
        u128::MAX << host_bits
    };
    let lo = u128::from(v6) & mask;
    let hi = lo | !mask;
    Some((Ipv6Addr::from(lo), Ipv6Addr::from(hi)))
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
    use super::*;

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
            r"\/owa\/auth\/.*\.aspx"
        );
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
