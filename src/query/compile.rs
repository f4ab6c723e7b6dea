//! Expression tree to a tantivy query, with each field's type deciding what a value means.

use std::net::Ipv6Addr;
use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, PhraseQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::Value;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, DocSet, Term};

use super::automaton::{TermIpQuery, TermRegexQuery};
use super::parse::{Expr, Tok, parse_expr};
use super::plan::{Col, Plan};
use super::*;
use crate::event::{self, names};
use crate::schema::{self, Fields};

// ---------------------------------------------------------------------------------------------
// Compiler: expression tree to a plan (what the query means, in terms of indexed terms), then the
// plan to a tantivy query. Another store (ClickHouse) lowers the same plan to its own language,
// so both answer a query alike.

/// Compiles query text against the case's fields and vocabulary.
pub fn compile(text: &str, fields: &Fields, vocab: &Vocabulary) -> Result<Compiled, QueryError> {
    let (plan, matches_all) = plan_of(text, vocab)?;
    let query = lower(&plan, fields)?;
    Ok(Compiled { query, matches_all })
}

/// What query text means, independent of the store that answers it; `true` when it is `*`.
pub fn plan_of(text: &str, vocab: &Vocabulary) -> Result<(Plan, bool), QueryError> {
    let expr = parse_expr(text)?;
    let matches_all = expr == Expr::All;
    Ok((Compiler { vocab }.expr(&expr)?, matches_all))
}

/// Checks query text without a case (for the TUI's as-you-type feedback).
pub fn check_syntax(text: &str) -> Result<(), QueryError> {
    parse_expr(text).map(|_| ())
}

struct Compiler<'a> {
    vocab: &'a Vocabulary,
}

impl Compiler<'_> {
    fn expr(&self, e: &Expr) -> Result<Plan, QueryError> {
        Ok(match e {
            Expr::All => Plan::All,
            Expr::And(parts) => {
                let (mut must, mut must_not) = (Vec::new(), Vec::new());
                for p in parts {
                    match p {
                        Expr::Not(inner) => must_not.push(self.expr(inner)?),
                        other => must.push(self.expr(other)?),
                    }
                }
                Plan::Bool { must, must_not }
            }
            Expr::Or(parts) => Plan::Or(
                parts
                    .iter()
                    .map(|p| self.expr(p))
                    .collect::<Result<Vec<_>, QueryError>>()?,
            ),
            Expr::Not(inner) => Plan::Bool {
                must: Vec::new(),
                must_not: vec![self.expr(inner)?],
            },
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
    ) -> Result<Plan, QueryError> {
        let Some((name, name_col)) = field else {
            return self.bare(value, column);
        };
        if matches!(value, Tok::FieldRef(_)) {
            return err(
                column,
                "comparing two fields (==name) is for rules: the index cannot do it",
            );
        }
        if let Some(own) = super::source_column(name) {
            return self.attr(&own.to_ascii_lowercase(), name, *name_col, value, column);
        }
        let lower = name.to_ascii_lowercase();
        let mut canonical = lower.clone();
        // A source's own name for a canonical field (`c-ip`, `AuthenticatedUser`, `UrlStem`)
        // means that field.
        if kind_of(&canonical).is_none()
            && let Some(alias) = crate::formats::columns::canon_for(&canonical)
        {
            canonical = canonical_name(alias).to_string();
            // The same name is also another source's own item (a Windows event's `UserID`, a
            // SID, beside a web log's user): both, as grep would find it in either; a value
            // only one of them can hold (a SID is no user name pattern, `0x…` no number) asks
            // that one.
            if self.vocab.attrs.contains(&lower) {
                let own = self.attr(&lower, name, *name_col, value, column);
                return match (self.canonical(&canonical, *name_col, value, column), own) {
                    (Ok(a), Ok(b)) => Ok(Plan::Or(vec![a, b])),
                    (Ok(plan), Err(_)) | (Err(_), Ok(plan)) => Ok(plan),
                    (Err(e), Err(_)) => Err(e),
                };
            }
        }
        if kind_of(&canonical).is_some() {
            let plan = self.canonical(&canonical, *name_col, value, column);
            // A value the field cannot hold but an item of its name can (`Status:0xc000006d`,
            // a Windows event's NTSTATUS code): that item rather than an error.
            if plan.is_err()
                && self.vocab.attrs.contains(&lower)
                && let Ok(own) = self.attr(&lower, name, *name_col, value, column)
            {
                return Ok(own);
            }
            return plan;
        }
        self.attr(&canonical, name, *name_col, value, column)
    }

    /// A term on one of trawl's own fields (`canonical`: its name, which [`kind_of`] knows).
    fn canonical(
        &self,
        canonical: &str,
        name_col: usize,
        value: &Tok,
        column: usize,
    ) -> Result<Plan, QueryError> {
        let Some(kind) = kind_of(canonical) else {
            return err(name_col, format!("unknown field '{canonical}'"));
        };
        // `rule:*` is the union of the sets; `tag:*` any tag.
        if matches!(value, Tok::Word(w) if w == "*") && !matches!(kind, Kind::File | Kind::Set) {
            return self.exists(canonical, name_col);
        }
        match kind {
            // A host is indexed by its short name (`normalize_host`): a full name asked
            // exactly is folded the same way, so `host:mbx-a.corp.example` finds MBX-A.
            Kind::Keyword if canonical == names::HOST => {
                self.keyword_with(Col::Host, value, column, "", super::host_term)
            }
            Kind::Keyword if canonical == names::USER => match account_pattern(value) {
                Some(pattern) => Ok(regex_plan(Col::User, &pattern, column)),
                None => self.keyword(Col::User, value, column, ""),
            },
            Kind::Keyword => self.keyword(keyword_col(canonical), value, column, ""),
            Kind::UserAgent => self.user_agent(value, column),
            Kind::Words => self.words(words_col(canonical), value, column),
            Kind::Ip => self.ip(ip_col(canonical), value, column),
            Kind::Number => self.number(number_col(canonical), canonical, value, column),
            Kind::Time => Ok(Plan::Time(time_bounds(value, column)?)),
            Kind::Guid => self.guid(value, column),
            Kind::File => self.file(value, column),
            Kind::Set => self.set(canonical, value, column),
            Kind::Raw => err(
                name_col,
                "raw is not indexed: search its words without a field name",
            ),
            Kind::QueryString => err(
                name_col,
                "query_string is for rules (checked on each candidate): search query:WORD",
            ),
        }
    }

    /// A source's own column (`lower`: its name lower-cased, as the index holds it).
    fn attr(
        &self,
        lower: &str,
        name: &str,
        name_col: usize,
        value: &Tok,
        column: usize,
    ) -> Result<Plan, QueryError> {
        if self.vocab.attrs.contains(lower) {
            let prefix = format!("{lower}=");
            // A CIDR on a column of text (`DestinationIp:10.0.0.0/8`): the addresses in it, or
            // that very text.
            if let Tok::Word(w) | Tok::Phrase(w) = value
                && let Some((lo, hi)) = parse_cidr(w)
            {
                return Ok(Plan::Or(vec![
                    self.keyword(Col::Attr, value, column, &prefix)?,
                    Plan::TextIp {
                        col: Col::Attr,
                        prefix,
                        lo,
                        hi,
                    },
                ]));
            }
            let value = super::number_as_regex(value, column)?;
            return self.keyword(Col::Attr, &value, column, &prefix);
        }
        if self.vocab.unknown_fields_match_nothing {
            return Ok(Plan::Nothing);
        }
        if let Some(own) = super::source_column(name) {
            // Columns that feed a canonical field are read into it, not kept under their name.
            let hint = match crate::formats::columns::canon_for(&own) {
                Some(canon) => format!(
                    " (where a log has it, it is read as {}: ask {}:…)",
                    super::canonical_name(canon),
                    super::canonical_name(canon)
                ),
                _ => String::new(),
            };
            return err(
                name_col,
                format!("no event in this case has a column named '{own}'{hint}"),
            );
        }
        err(name_col, unknown_field_message(name, self.vocab))
    }

    /// `rule:<id>` (wildcards allowed, `rule:*` any): events in the named sets.
    fn set(&self, family: &str, value: &Tok, column: usize) -> Result<Plan, QueryError> {
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
        let sets: Vec<(&String, &Arc<EventSet>)> = self
            .vocab
            .sets
            .iter()
            .filter(|(name, _)| {
                name.strip_prefix(&prefix)
                    .is_some_and(|n| pattern.is_match(n))
            })
            .map(|(name, keys)| (name, keys))
            .collect();
        let events = match sets.as_slice() {
            [] => return Ok(Plan::Nothing),
            [(_, one)] => Arc::clone(one),
            many => Arc::new(EventSet::union(many.iter().map(|(_, s)| s.as_ref()))),
        };
        Ok(Plan::Set {
            names: sets.iter().map(|(n, _)| (*n).clone()).collect(),
            events,
        })
    }

    fn exists(&self, name: &str, column: usize) -> Result<Plan, QueryError> {
        let col = match name {
            "text" => {
                return err(
                    column,
                    format!("{name}:* is not supported (not a fast field)"),
                );
            }
            // No column to read: any of the field's terms (a referer is one term, a query
            // string its words; SigmaHQ's ReGeorg rule asks for requests without a referer).
            names::REFERER => return Ok(regex_plan(Col::Referer, "(?s).+", column)),
            names::QUERY => return Ok(regex_plan(Col::Query, "(?s).+", column)),
            names::REQUEST_ID => Col::RequestId,
            names::TS => Col::Ts,
            names::HOST | names::SOURCE | names::METHOD | names::PATH | names::USER => {
                keyword_col(name)
            }
            names::UA => Col::Ua,
            names::IP | names::CLIENT | names::XFF => ip_col(name),
            _ => number_col(name),
        };
        Ok(Plan::Exists(col))
    }

    /// Exact, wildcard or regex match on a one-term-per-value field. `prefix` scopes attribute
    /// terms (`name=`).
    fn keyword(
        &self,
        col: Col,
        value: &Tok,
        column: usize,
        prefix: &str,
    ) -> Result<Plan, QueryError> {
        self.keyword_with(col, value, column, prefix, schema::normalize_keyword)
    }

    fn keyword_with(
        &self,
        col: Col,
        value: &Tok,
        column: usize,
        prefix: &str,
        normalize: fn(&str) -> String,
    ) -> Result<Plan, QueryError> {
        match value {
            Tok::Word(w) if has_wildcard(w) => {
                let pattern = format!(
                    "{}{}",
                    regex_escape(prefix),
                    wildcard_to_regex(&normalize(w))
                );
                Ok(regex_plan(col, &pattern, column))
            }
            Tok::Word(w) | Tok::Phrase(w) => {
                Ok(Plan::Term(col, format!("{prefix}{}", normalize(w))))
            }
            Tok::Regex(re) => {
                let pattern = format!("(?i){}(?:{re})", regex_escape(prefix));
                Ok(regex_plan(col, &pattern, column))
            }
            _ => err(
                column,
                "expected a value, a \"phrase\", a wildcard or a /regex/",
            ),
        }
    }

    fn user_agent(&self, value: &Tok, column: usize) -> Result<Plan, QueryError> {
        self.keyword_with(Col::Ua, value, column, "", |v| {
            // Keep wildcard stars attached: normalise around them.
            let lowered = schema::normalize_user_agent(&v.replace('*', "\u{1}"));
            lowered.replace('\u{1}', "*")
        })
    }

    fn words(&self, col: Col, value: &Tok, column: usize) -> Result<Plan, QueryError> {
        let text = match value {
            // Over several words (`query:*Protocol=ActiveSync*`): the field holds words, not the
            // value whole, so each word is asked, a `*`-edged one by its part. It matched
            // nothing, silently, before.
            Tok::Word(w) if has_wildcard(w) && w.contains(is_word_separator) => {
                let pieces: Vec<Plan> = w
                    .split(is_word_separator)
                    .filter(|piece| piece.chars().any(char::is_alphanumeric))
                    .filter_map(|piece| {
                        let piece = piece.to_lowercase();
                        if has_wildcard(&piece) {
                            Some(regex_plan(col, &wildcard_to_regex(&piece), column))
                        } else {
                            // A word the index leaves out (a GUID's part) cannot be asked.
                            let word = schema::words_of(&piece).next()?;
                            Some(Plan::Term(col, piece[word.0..word.1].to_string()))
                        }
                    })
                    .collect();
                return Ok(match pieces.len() {
                    0 => Plan::Nothing,
                    _ => Plan::Bool {
                        must: pieces,
                        must_not: Vec::new(),
                    },
                });
            }
            Tok::Word(w) if has_wildcard(w) => {
                return Ok(regex_plan(
                    col,
                    &wildcard_to_regex(&w.to_lowercase()),
                    column,
                ));
            }
            Tok::Regex(re) => return Ok(regex_plan(col, &format!("(?i){re}"), column)),
            Tok::Word(w) | Tok::Phrase(w) => w,
            _ => return err(column, "expected words"),
        };
        let terms: Vec<String> = schema::words_of(text)
            .map(|(a, b)| text[a..b].to_lowercase())
            .collect();
        // Words of messages keep their positions: several are a phrase. Query strings' are
        // only terms: several must all be there.
        Ok(match terms.len() {
            0 => Plan::Nothing,
            1 => Plan::Term(col, terms.into_iter().next().unwrap_or_default()),
            _ if col == Col::Text => Plan::Phrase(col, terms),
            _ => Plan::Bool {
                must: terms.into_iter().map(|t| Plan::Term(col, t)).collect(),
                must_not: Vec::new(),
            },
        })
    }

    /// Bare words and phrases search the words of messages and query strings, and the distinct
    /// values of paths, user agents and users (as "contains these words in this order").
    fn bare(&self, value: &Tok, column: usize) -> Result<Plan, QueryError> {
        let mut clauses = vec![
            self.words(Col::Text, value, column)?,
            self.words(Col::Query, value, column)?,
        ];
        let text = match value {
            Tok::Word(w) | Tok::Phrase(w) => w,
            _ => return err(column, "expected words"),
        };
        if let Some(pattern) = contains_words_regex(text) {
            for col in [Col::Path, Col::Ua, Col::User] {
                clauses.push(regex_plan(col, &pattern, column));
            }
        }
        // A GUID asked bare: the request it names too (IIS's `cafeReqId`, HttpProxy's
        // `RequestId`), which is held as `request_id`, not as words.
        if event::parse_guid(text).is_some() {
            clauses.push(self.guid(value, column)?);
        }
        // An address, a range or `a.b.c.*` asked bare: the events' addresses too (a responder
        // pastes an indicator as grep would take it; it is not a word of any text).
        for col in [Col::Ip, Col::Client, Col::Xff] {
            if let Ok(plan) = self.ip(col, value, column) {
                clauses.push(plan);
            }
        }
        Ok(Plan::Or(clauses))
    }

    fn ip(&self, col: Col, value: &Tok, column: usize) -> Result<Plan, QueryError> {
        let range =
            |lo: Ipv6Addr, hi: Ipv6Addr| Plan::Ip(col, Bound::Included(lo), Bound::Included(hi));
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
                let v6 = schema::ip_to_v6(ip);
                Ok(range(v6, v6))
            }
            Tok::Range {
                lo,
                lo_incl,
                hi,
                hi_incl,
            } => {
                let bound = |s: &str, incl: bool| -> Result<Bound<Ipv6Addr>, QueryError> {
                    if s == "*" {
                        return Ok(Bound::Unbounded);
                    }
                    let ip = event::parse_ip(s).ok_or_else(|| QueryError {
                        message: format!("'{s}' is not an IP address"),
                        column,
                    })?;
                    let v6 = schema::ip_to_v6(ip);
                    Ok(if incl {
                        Bound::Included(v6)
                    } else {
                        Bound::Excluded(v6)
                    })
                };
                Ok(Plan::Ip(col, bound(lo, *lo_incl)?, bound(hi, *hi_incl)?))
            }
            _ => err(column, "expected an IP address, a CIDR range or [a TO b]"),
        }
    }

    fn number(&self, col: Col, name: &str, value: &Tok, column: usize) -> Result<Plan, QueryError> {
        let (lo, hi) = number_bounds(name, value, column)?;
        Ok(Plan::Number(col, lo, hi))
    }

    /// `request_id:<guid>`: the index holds only a bucket of each GUID (see
    /// [`schema::request_id_bucket`]); the bucket's events are parsed again and compared (an
    /// event whose stored record no longer parses, which the detail pane reports, is not found).
    fn guid(&self, value: &Tok, column: usize) -> Result<Plan, QueryError> {
        let (Tok::Word(w) | Tok::Phrase(w)) = value else {
            return err(column, "expected a request GUID");
        };
        let id = event::parse_guid(w).ok_or_else(|| QueryError {
            message: format!("'{w}' is not a GUID"),
            column,
        })?;
        Ok(Plan::Guid {
            id,
            layouts: Arc::clone(&self.vocab.layouts),
        })
    }

    fn file(&self, value: &Tok, column: usize) -> Result<Plan, QueryError> {
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
        let ids: Vec<u64> = self
            .vocab
            .files
            .iter()
            .filter(|(_, p)| matcher(p))
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return Ok(Plan::Nothing);
        }
        Ok(Plan::Files(ids))
    }
}

fn keyword_col(name: &str) -> Col {
    match name {
        names::HOST => Col::Host,
        names::SOURCE => Col::Source,
        names::METHOD => Col::Method,
        names::PATH => Col::Path,
        names::USER => Col::User,
        _ => Col::Referer,
    }
}

fn words_col(name: &str) -> Col {
    if name == names::QUERY {
        Col::Query
    } else {
        Col::Text
    }
}

fn ip_col(name: &str) -> Col {
    match name {
        names::XFF => Col::Xff,
        names::CLIENT => Col::Client,
        _ => Col::Ip,
    }
}

fn number_col(name: &str) -> Col {
    match name {
        names::STATUS => Col::Status,
        names::BYTES => Col::Bytes,
        names::DURATION_MS => Col::DurationMs,
        _ => Col::Line,
    }
}

/// What ends a word (see `schema::words_of`), wildcards aside.
fn is_word_separator(c: char) -> bool {
    !c.is_alphanumeric() && c != '*' && c != '?'
}

/// A regex over whole terms: anchors are implied (each store pins the pattern to the whole term
/// itself), so they are taken off here, once for every store.
fn regex_plan(col: Col, pattern: &str, column: usize) -> Plan {
    Plan::Regex {
        col,
        pattern: strip_anchors(pattern),
        column,
    }
}

// ---------------------------------------------------------------------------------------------
// Plan to a tantivy query.

fn field_of(fields: &Fields, col: Col) -> Field {
    match col {
        Col::Ts => fields.ts,
        Col::Host => fields.host,
        Col::Source => fields.source,
        Col::Method => fields.method,
        Col::Path => fields.path,
        Col::Ua => fields.ua,
        Col::User => fields.user,
        Col::Referer => fields.referer,
        Col::Attr => fields.attr,
        Col::Query => fields.query,
        Col::Text => fields.text,
        Col::Ip => fields.ip,
        Col::Client => fields.client,
        Col::Xff => fields.xff,
        Col::Status => fields.status,
        Col::Bytes => fields.bytes,
        Col::DurationMs => fields.duration_ms,
        Col::Line => fields.line,
        Col::RequestId => fields.request_id,
    }
}

/// The memory all of one query's regex automata may take together: each is bounded (see
/// `automaton`), and a query may hold thousands of patterns.
const AUTOMATA_BUDGET: usize = 64 << 20;

/// A plan as a tantivy query over the case's fields.
pub fn lower(plan: &Plan, fields: &Fields) -> Result<Box<dyn Query>, QueryError> {
    lower_within(plan, fields, &mut AUTOMATA_BUDGET.clone())
}

fn lower_within(
    plan: &Plan,
    fields: &Fields,
    budget: &mut usize,
) -> Result<Box<dyn Query>, QueryError> {
    let text_term = |col: Col, t: &str| Term::from_field_text(field_of(fields, col), t);
    Ok(match plan {
        Plan::All => Box::new(AllQuery),
        Plan::Nothing => Box::new(EmptyQuery),
        Plan::Bool { must, must_not } => {
            let mut clauses = Vec::with_capacity(must.len() + must_not.len() + 1);
            for p in must {
                clauses.push((Occur::Must, lower_within(p, fields, budget)?));
            }
            for p in must_not {
                clauses.push((Occur::MustNot, lower_within(p, fields, budget)?));
            }
            with_positive(clauses)
        }
        Plan::Or(parts) => Box::new(BooleanQuery::new(
            parts
                .iter()
                .map(|p| Ok((Occur::Should, lower_within(p, fields, budget)?)))
                .collect::<Result<Vec<_>, QueryError>>()?,
        )),
        Plan::Term(col, t) => {
            Box::new(TermQuery::new(text_term(*col, t), IndexRecordOption::Basic))
        }
        Plan::Regex {
            col,
            pattern,
            column,
        } => TermRegexQuery::new(pattern, field_of(fields, *col), budget)
            .map(|q| Box::new(q) as Box<dyn Query>)
            .map_err(|e| QueryError {
                message: format!("{}: {e}", super::BAD_REGEX),
                column: *column,
            })?,
        Plan::TextIp {
            col,
            prefix,
            lo,
            hi,
        } => Box::new(TermIpQuery::new(
            field_of(fields, *col),
            prefix,
            u128::from(*lo),
            u128::from(*hi),
        )),
        Plan::Phrase(col, words) => Box::new(PhraseQuery::new(
            words.iter().map(|w| text_term(*col, w)).collect(),
        )),
        Plan::Ip(col, lo, hi) => {
            let field = field_of(fields, *col);
            value_or_range(lo, hi, |v: &Ipv6Addr| Term::from_field_ip_addr(field, *v))
        }
        Plan::Number(col, lo, hi) => {
            let field = field_of(fields, *col);
            value_or_range(lo, hi, |v: &u64| Term::from_field_u64(field, *v))
        }
        Plan::Time((lo, hi)) => {
            let term =
                |ms: &i64| Term::from_field_date(fields.ts, DateTime::from_timestamp_millis(*ms));
            Box::new(RangeQuery::new(
                lo.as_ref().map(term),
                hi.as_ref().map(term),
            ))
        }
        Plan::Exists(Col::RequestId) => {
            // Indexed (as buckets) but not a column: any bucket term.
            let term = |v: u64| Term::from_field_u64(fields.request_id, v);
            Box::new(RangeQuery::new(
                Bound::Included(term(0)),
                Bound::Included(term(u64::MAX)),
            ))
        }
        Plan::Exists(col) => Box::new(ExistsQuery::new(col.name().to_string(), false)),
        Plan::Set { events, .. } => event_set_query(Arc::clone(events)),
        Plan::Guid { id, layouts } => guid_query(fields, *id, Arc::clone(layouts)),
        Plan::Files(ids) => Box::new(BooleanQuery::new(
            ids.iter()
                .map(|id| {
                    let t = Term::from_field_u64(fields.file_id, *id);
                    let q: Box<dyn Query> = Box::new(RangeQuery::new(
                        Bound::Included(t.clone()),
                        Bound::Included(t),
                    ));
                    (Occur::Should, q)
                })
                .collect(),
        )),
    })
}

/// One value as a term query, anything else as a range.
fn value_or_range<T: PartialEq>(
    lo: &Bound<T>,
    hi: &Bound<T>,
    term: impl Fn(&T) -> Term,
) -> Box<dyn Query> {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) if a == b => {
            Box::new(TermQuery::new(term(a), IndexRecordOption::Basic))
        }
        _ => Box::new(RangeQuery::new(
            lo.as_ref().map(&term),
            hi.as_ref().map(&term),
        )),
    }
}

/// The events of the GUID's bucket whose records, parsed again, carry that GUID.
fn guid_query(
    fields: &Fields,
    id: u128,
    layouts: Arc<Vec<crate::formats::Layout>>,
) -> Box<dyn Query> {
    use tantivy::query::doc_predicate_query::{DocPredicateQuery, FunctionPredicate};
    let bucket = Term::from_field_u64(fields.request_id, schema::request_id_bucket(id));
    let raw = fields.raw;
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
                if let (Some(text), Some(layout)) = (text, layout)
                    && record_has_guid(layout, text, id)
                {
                    hits.push(doc);
                }
                doc = postings.advance();
            }
        }
        let hits = crate::sets::BitSet::of(&hits, reader.max_doc());
        Ok(move |doc: tantivy::DocId| hits.contains(doc))
    });
    let query: DocPredicateQuery = predicate.into();
    Box::new(query)
}

/// Whether a stored record, parsed again with its layout, carries this request GUID.
pub fn record_has_guid(layout: &crate::formats::Layout, raw: &str, id: u128) -> bool {
    let ctx = crate::formats::ParseCtx::default();
    crate::formats::parse(layout, raw, &ctx).is_ok_and(|ev| ev.request_id == Some(id))
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
    use super::super::host_term;
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

    #[test]
    fn a_full_host_name_is_asked_by_its_short_name() {
        assert_eq!(host_term("MBX-A.corp.example.org"), "mbx-a");
        assert_eq!(host_term("mbx-a"), "mbx-a");
        assert_eq!(host_term("192.0.2.1"), "192.0.2.1");
        // A wildcard is a pattern over the short names, not a name to fold.
        assert_eq!(host_term("*.corp"), "*.corp");
    }
}
