//! Query text to an expression tree: a lexer that knows where values start (so `:` and `/`
//! inside values are text), and a recursive-descent parser with `OR` < `AND` < `NOT`.

use super::{QueryError, err};

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
    /// `==other`: equal to another field of the same event (rules only: the index cannot
    /// compare two fields, so rules check it on the candidates).
    FieldRef(String),
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
        // Inside `field:( … )`: the field, whether its slashes are literal, and the depth of
        // parentheses; each value in it is read as `field:value` (`EventID:(4624 OR 4625)`).
        let mut group: Option<(String, bool, usize)> = None;
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                if expect_value {
                    return err(self.pos + 1, "a value must follow ':' without a space");
                }
                self.pos += 1;
                continue;
            }
            let column = self.pos + 1;
            if let Some((name, slash, _)) = &group
                && !expect_value
                && !matches!(c, '(' | ')')
                && !self.at_operator()
            {
                out.push((Tok::Field(name.clone()), column));
                slash_is_literal = *slash;
                expect_value = true;
            }
            let tok = match c {
                '(' if expect_value
                    && group.is_none()
                    && matches!(out.last(), Some((Tok::Field(_), _))) =>
                {
                    let Some((Tok::Field(name), _)) = out.pop() else {
                        unreachable!("checked above")
                    };
                    self.pos += 1;
                    group = Some((name, slash_is_literal, 1));
                    Tok::LParen
                }
                '(' if !expect_value => {
                    if let Some((_, _, depth)) = &mut group {
                        *depth += 1;
                    }
                    self.pos += 1;
                    Tok::LParen
                }
                ')' if !expect_value => {
                    if let Some((_, _, depth)) = &mut group {
                        *depth -= 1;
                        if *depth == 0 {
                            group = None;
                        }
                    }
                    self.pos += 1;
                    Tok::RParen
                }
                '(' if !expect_value => {
                    self.pos += 1;
                    Tok::LParen
                }
                ')' if !expect_value => {
                    self.pos += 1;
                    Tok::RParen
                }
                '"' => {
                    let text = self.quoted()?;
                    // `"Name":value`: a quoted field name is the source's own column.
                    if !expect_value && self.peek() == Some(':') {
                        self.pos += 1;
                        if self.peek().is_none() || self.peek().is_some_and(char::is_whitespace) {
                            return err(self.pos + 1, format!("missing value after '\"{text}\":'"));
                        }
                        slash_is_literal = false;
                        out.push((Tok::Field(super::quoted_column(&text)), column));
                        expect_value = true;
                        continue;
                    }
                    Tok::Phrase(text)
                }
                '~' if expect_value && self.chars.get(self.pos + 1) == Some(&'"') => {
                    self.pos += 1;
                    Tok::Regex(self.quoted_regex()?)
                }
                '/' if expect_value && !slash_is_literal => Tok::Regex(self.regex()?),
                // `{GUID}`, as Windows writes one (`ActivityID`, `ProcessGuid`): a value.
                '{' if expect_value
                    && self.run_is(|run| crate::event::parse_guid(run).is_some()) =>
                {
                    Tok::Word(self.word(true))
                }
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
                // An IPv6 address, a CIDR or a URL pasted bare: a value, not `field:value`.
                _ if !expect_value && self.run_is(is_bare_value) => Tok::Word(self.word(true)),
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
                    match operator(&word) {
                        Some(op) if !expect_value => op,
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

    /// Whether an operator starts here (`AND`, `OR`, `NOT`, `&&`, `||`, or `-`/`+` before a
    /// term), not a value.
    fn at_operator(&self) -> bool {
        let c = self.peek();
        if matches!(c, Some('-' | '+')) {
            return self.next_is_term();
        }
        let word: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '(' | ')'))
            .collect();
        operator(&word).is_some()
    }

    /// Whether the run of characters from here to the next space or parenthesis satisfies
    /// `test`.
    fn run_is(&self, test: impl Fn(&str) -> bool) -> bool {
        let run: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '"'))
            .collect();
        test(&run)
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
        self.regex_until('"', "unterminated ~\"regex\"")
    }

    /// `/…/`: backslashes are the regex's own, except `\/` for a slash.
    fn regex(&mut self) -> Result<String, QueryError> {
        self.regex_until('/', "unterminated /regex/")
    }

    /// A regex from after the opening delimiter up to `close`; a backslash before `close`
    /// stands for it, any other backslash is kept for the regex.
    fn regex_until(&mut self, close: char, unterminated: &str) -> Result<String, QueryError> {
        let start = self.pos + 1;
        self.pos += 1;
        let mut s = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' if self.peek() == Some(close) => {
                    s.push(close);
                    self.pos += 1;
                }
                '\\' => {
                    s.push('\\');
                    if let Some(next) = self.peek() {
                        s.push(next);
                        self.pos += 1;
                    }
                }
                c if c == close => return Ok(s),
                _ => s.push(c),
            }
        }
        err(start, unterminated)
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
pub(super) enum Expr {
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

/// Bounds on what a query may ask, so that no query (typed, pasted, or in a rules file an
/// attacker could have planted in a case) can overflow the stack or take the machine's memory.
/// Sigma rules compiled to queries stay far below them: SigmaHQ's longest are a few hundred
/// values, nested a dozen deep.
pub const MAX_QUERY_BYTES: usize = 256 << 10;
/// Parentheses and NOTs inside each other.
pub const MAX_DEPTH: usize = 100;
/// Terms in one query.
pub const MAX_TERMS: usize = 10_000;
/// Bare words: each is searched in every text field (its cost is several dictionary scans).
pub const MAX_BARE_WORDS: usize = 64;

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_column: usize,
    depth: usize,
    bare_words: usize,
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

    /// One level deeper (a parenthesis or a NOT), refused past [`MAX_DEPTH`].
    fn deeper(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                self.column(),
                format!("nested more than {MAX_DEPTH} deep (parentheses and NOTs)"),
            );
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        match self.peek() {
            Some(Tok::Not) | Some(Tok::Minus) => {
                self.pos += 1;
                self.deeper()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
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
                self.deeper()?;
                let inner = self.or()?;
                self.depth -= 1;
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
                let value = match value {
                    Tok::Word(w) if w.len() > 2 && w.starts_with("==") => {
                        Tok::FieldRef(w[2..].to_string())
                    }
                    other => other,
                };
                Ok(Expr::Term {
                    field: Some((name, column)),
                    value,
                    column: vcol,
                })
            }
            Tok::Word(w) if w == "*" => Ok(Expr::All),
            value @ (Tok::Word(_) | Tok::Phrase(_)) => {
                self.bare_words += 1;
                if self.bare_words > MAX_BARE_WORDS {
                    return err(
                        column,
                        format!(
                            "more than {MAX_BARE_WORDS} bare words (each is searched in every text field): quote a phrase or name fields"
                        ),
                    );
                }
                Ok(Expr::Term {
                    field: None,
                    value,
                    column,
                })
            }
            Tok::Regex(_) | Tok::Range { .. } | Tok::Compare(..) | Tok::FieldRef(_) => {
                err(column, "this needs a field name before it (field:…)")
            }
            Tok::Not | Tok::Plus | Tok::Minus => err(column, "unexpected operator"),
        }
    }
}

/// A run with a `:` that is no `field:` (an IPv6 address or range, a URL): what a responder
/// pastes from an indicator list, read as grep would read it.
fn is_bare_value(run: &str) -> bool {
    run.contains(':')
        && (run.parse::<std::net::Ipv6Addr>().is_ok()
            || run.split_once('/').is_some_and(|(ip, bits)| {
                ip.parse::<std::net::Ipv6Addr>().is_ok() && bits.parse::<u8>().is_ok()
            })
            || run.split_once("://").is_some_and(|(scheme, _)| {
                !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
            }))
}

pub(super) fn parse_expr(text: &str) -> Result<Expr, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return err(
            1,
            format!(
                "the query is {} KiB; at most {} KiB",
                text.len() >> 10,
                MAX_QUERY_BYTES >> 10
            ),
        );
    }
    let toks = Lexer::new(text).tokens()?;
    if toks.is_empty() {
        return Ok(Expr::All);
    }
    let terms = toks
        .iter()
        .filter(|(t, _)| matches!(t, Tok::Field(_) | Tok::Word(_) | Tok::Phrase(_)))
        .count();
    if terms > MAX_TERMS {
        return err(1, format!("{terms} terms; a query has at most {MAX_TERMS}"));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end_column: text.chars().count() + 1,
        depth: 0,
        bare_words: 0,
    };
    let expr = p.or()?;
    if p.pos < p.toks.len() {
        return err(p.column(), "unexpected ')'");
    }
    Ok(expr)
}

/// The boolean operator a bare word is, in any case: Kibana's KQL takes `or` as `OR`, and a
/// responder typing `host:a or host:b` meant that, not the word "or" (which, quoted, is still
/// a word).
fn operator(word: &str) -> Option<Tok> {
    Some(match word {
        "&&" => Tok::And,
        "||" => Tok::Or,
        _ if word.eq_ignore_ascii_case("AND") => Tok::And,
        _ if word.eq_ignore_ascii_case("OR") => Tok::Or,
        _ if word.eq_ignore_ascii_case("NOT") => Tok::Not,
        _ => return None,
    })
}
