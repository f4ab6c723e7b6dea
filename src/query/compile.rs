//! Expression tree to a tantivy query, with each field's type deciding what a value means.

use std::net::Ipv6Addr;
use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query, RangeQuery,
    RegexQuery, TermQuery,
};
use tantivy::schema::Value;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, DocSet, Term};

use super::parse::{Expr, Tok, parse_expr};
use super::*;
use crate::event::{self, names};
use crate::schema::{self, Fields};

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
        if matches!(value, Tok::FieldRef(_)) {
            return err(
                column,
                "comparing two fields (==name) is for rules: the index cannot do it",
            );
        }
        let mut canonical = name.to_ascii_lowercase();
        // A source's own name for a canonical field (`c-ip`, `AuthenticatedUser`, `UrlStem`)
        // means that field.
        if kind_of(&canonical).is_none()
            && let Some(alias) = crate::formats::columns::canon_for(&canonical)
        {
            canonical = canonical_name(alias).to_string();
        }
        if let Some(kind) = kind_of(&canonical) {
            // `rule:*` is the union of the sets; `tag:*` any tag.
            if matches!(value, Tok::Word(w) if w == "*") && !matches!(kind, Kind::File | Kind::Set)
            {
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
                Kind::Set => self.set(&canonical, value, column),
                Kind::Raw => err(
                    *name_col,
                    "raw is not indexed: search its words without a field name",
                ),
            };
        }
        if self.vocab.attrs.contains(&canonical) {
            let prefix = format!("{canonical}=");
            if matches!(value, Tok::Word(w) if w == "*") {
                return self.keyword(self.fields.attr, &Tok::Word("*".into()), column, &prefix);
            }
            return self.keyword(self.fields.attr, value, column, &prefix);
        }
        if self.vocab.unknown_fields_match_nothing {
            return Ok(Box::new(EmptyQuery));
        }
        err(*name_col, unknown_field_message(name, self.vocab))
    }

    /// `rule:<id>` (wildcards allowed, `rule:*` any): events in the named sets.
    fn set(&self, family: &str, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let (Tok::Word(w) | Tok::Phrase(w)) = value else {
            return err(column, format!("expected a name after {family}:"));
        };
        let pattern =
            regex::Regex::new(&format!("(?i)^{}$", wildcard_to_regex(w))).map_err(|e| {
                QueryError {
                    message: e.to_string(),
                    column,
                }
            })?;
        let prefix = format!("{family}:");
        let sets: Vec<&Arc<EventSet>> = self
            .vocab
            .sets
            .iter()
            .filter(|(name, _)| {
                name.strip_prefix(&prefix)
                    .is_some_and(|n| pattern.is_match(n))
            })
            .map(|(_, keys)| keys)
            .collect();
        let events = match sets.as_slice() {
            [] => return Ok(Box::new(EmptyQuery)),
            [one] => Arc::clone(one),
            many => Arc::new(EventSet::union(many.iter().map(|s| s.as_ref()))),
        };
        Ok(event_set_query(events))
    }

    fn keyword_field(&self, name: &str) -> Field {
        let f = self.fields;
        match name {
            names::HOST => f.host,
            names::SOURCE => f.source,
            names::METHOD => f.method,
            names::PATH => f.path,
            names::USER => f.user,
            _ => f.referer,
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
        match name {
            names::XFF => self.fields.xff,
            names::CLIENT => self.fields.client,
            _ => self.fields.ip,
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
            names::REQUEST_ID => {
                // Indexed (as buckets) but not a column: any bucket term.
                let term = |v: u64| Term::from_field_u64(self.fields.request_id, v);
                return Ok(Box::new(RangeQuery::new(
                    Bound::Included(term(0)),
                    Bound::Included(term(u64::MAX)),
                )));
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
        let term = |v| Term::from_field_u64(field, v);
        Ok(match number_bounds(name, value, column)? {
            (Bound::Included(lo), Bound::Included(hi)) if lo == hi => {
                Box::new(TermQuery::new(term(lo), IndexRecordOption::Basic))
            }
            (lo, hi) => Box::new(RangeQuery::new(lo.map(term), hi.map(term))),
        })
    }

    fn time(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        let field = self.fields.ts;
        let term = |ms: i64| Term::from_field_date(field, DateTime::from_timestamp_millis(ms));
        let (lo, hi) = time_bounds(value, column)?;
        Ok(Box::new(RangeQuery::new(lo.map(term), hi.map(term))))
    }

    /// `request_id:<guid>`: the index holds only a bucket of each GUID (see
    /// [`schema::request_id_bucket`]); the bucket's events are parsed again and compared (an
    /// event whose stored record no longer parses, which the detail pane reports, is not found).
    fn guid(&self, value: &Tok, column: usize) -> Result<Box<dyn Query>, QueryError> {
        use tantivy::query::doc_predicate_query::{DocPredicateQuery, FunctionPredicate};
        let (Tok::Word(w) | Tok::Phrase(w)) = value else {
            return err(column, "expected a request GUID");
        };
        let id = event::parse_guid(w).ok_or_else(|| QueryError {
            message: format!("'{w}' is not a GUID"),
            column,
        })?;
        let bucket = Term::from_field_u64(self.fields.request_id, schema::request_id_bucket(id));
        let (raw, layouts) = (self.fields.raw, Arc::clone(&self.vocab.layouts));
        let predicate = FunctionPredicate::from(move |reader: &tantivy::SegmentReader| {
            let mut hits = Vec::new();
            let postings = reader
                .inverted_index(bucket.field())?
                .read_postings(&bucket, IndexRecordOption::Basic)?;
            if let Some(mut postings) = postings {
                let layout_of = reader
                    .fast_fields()
                    .u64(crate::schema::fields::LAYOUT)?
                    .first_or_default_col(0);
                let store = reader.get_store_reader(4)?;
                let mut doc = postings.doc();
                while doc != tantivy::TERMINATED {
                    let stored: tantivy::TantivyDocument = store.get(doc)?;
                    let text = stored.get_first(raw).and_then(|v| v.as_str());
                    let layout = layouts.get(layout_of.get_val(doc) as usize);
                    if let (Some(text), Some(layout)) = (text, layout) {
                        let ctx = crate::formats::ParseCtx::default();
                        let parsed = crate::formats::parse(layout, text, &ctx);
                        if parsed.is_ok_and(|ev| ev.request_id == Some(id)) {
                            hits.push(doc);
                        }
                    }
                    doc = postings.advance();
                }
            }
            let hits = crate::sets::BitSet::of(&hits, reader.max_doc());
            Ok(move |doc: tantivy::DocId| hits.contains(doc))
        });
        let query: DocPredicateQuery = predicate.into();
        Ok(Box::new(query))
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

/// A query matching the events of a set. Per segment, the documents of each of the set's times
/// are found by binary search on the time column (segments are sorted by time), or by one pass
/// over the column when the set is large against the segment; the matches are kept in a bitset
/// that the query then tests.
pub fn event_set_query(events: Arc<EventSet>) -> Box<dyn Query> {
    use tantivy::query::doc_predicate_query::{DocPredicateQuery, FunctionPredicate};
    let predicate = FunctionPredicate::from(move |reader: &tantivy::SegmentReader| {
        let ff = reader.fast_fields();
        let ts = ff
            .date(names::TS)?
            .first_or_default_col(tantivy::DateTime::MIN);
        let file = ff
            .u64(crate::schema::fields::FILE_ID)?
            .first_or_default_col(0);
        let line = ff.u64(names::LINE)?.first_or_default_col(0);
        let max_doc = reader.max_doc();
        let ts_of = |doc: u32| ts.get_val(doc).into_timestamp_millis();
        let key_of = |doc: u32| crate::event::EventKey::new(file.get_val(doc), line.get_val(doc));
        let mut hits = Vec::new();
        let log = u64::from(32 - max_doc.leading_zeros()).max(1);
        if (events.len() as u64).saturating_mul(log) < u64::from(max_doc) {
            for t in events.times() {
                let at = events.at(t);
                // First document at or after t.
                let (mut lo, mut hi) = (0u32, max_doc);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if ts_of(mid) < t {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                let mut doc = lo;
                while doc < max_doc && ts_of(doc) == t {
                    let key = key_of(doc);
                    if at.iter().any(|&(_, k)| k == key) {
                        hits.push(doc);
                    }
                    doc += 1;
                }
            }
        } else {
            // Both are in time order: walk them together.
            let all = events.as_slice();
            let mut i = 0;
            for doc in 0..max_doc {
                let t = ts_of(doc);
                while i < all.len() && all[i].0 < t {
                    i += 1;
                }
                let key = key_of(doc);
                if all[i..].iter().take_while(|e| e.0 == t).any(|e| e.1 == key) {
                    hits.push(doc);
                }
            }
        }
        hits.sort_unstable();
        let hits = crate::sets::BitSet::of(&hits, max_doc);
        Ok(move |doc: tantivy::DocId| hits.contains(doc))
    });
    let query: DocPredicateQuery = predicate.into();
    Box::new(query)
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
    // A `$` is an anchor unless escaped (an odd run of backslashes before it).
    let anchor_at = |p: &str, end: usize| {
        p[..end].ends_with('$')
            && p[..end - 1]
                .bytes()
                .rev()
                .take_while(|b| *b == b'\\')
                .count()
                % 2
                == 0
    };
    if p.ends_with(')') && anchor_at(&p, p.len() - 1) {
        p.replace_range(p.len() - 2..p.len() - 1, "");
    } else if anchor_at(&p, p.len()) {
        p.pop();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::strip_anchors;

    #[test]
    fn only_unescaped_dollars_are_anchors() {
        assert_eq!(strip_anchors("^abc$"), "abc");
        assert_eq!(strip_anchors("(?i)x=(?:^a.*$)"), "(?i)x=(?:a.*)");
        assert_eq!(strip_anchors(r"x=(?:.*\$)"), r"x=(?:.*\$)");
        assert_eq!(strip_anchors(r".*\$"), r".*\$");
        assert_eq!(strip_anchors(r".*\\$"), r".*\\");
        assert_eq!(strip_anchors("$"), "");
    }
}
