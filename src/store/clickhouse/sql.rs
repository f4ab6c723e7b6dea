//! A query's plan as a ClickHouse condition, term for term what the tantivy query of the same
//! plan matches (see `crate::query::plan`): the table holds, for each field, the terms tantivy
//! indexes for it (`schema.rs` here writes them with the same tokenizers).

use std::fmt::Write;
use std::net::Ipv6Addr;
use std::ops::Bound;

use super::client::quote;
use crate::error::Result;
use crate::query::plan::{Col, Plan};

/// How a column holds its field.
enum Shape {
    /// One optional term.
    Keyword(&'static str),
    /// Any number of terms.
    Terms(&'static str),
    /// Words, each between spaces, values on their own lines (see `schema::words_column`).
    Words(&'static str),
    /// One optional address, 16 bytes.
    Ip(&'static str),
    /// Any number of addresses.
    Ips(&'static str),
    /// One optional number.
    Number(&'static str),
    Time,
}

fn shape(col: Col) -> Shape {
    match col {
        Col::Ts => Shape::Time,
        Col::Host => Shape::Keyword("host_t"),
        Col::Source => Shape::Keyword("source"),
        Col::Method => Shape::Keyword("method_t"),
        Col::Path => Shape::Keyword("path"),
        Col::Ua => Shape::Keyword("ua"),
        Col::User => Shape::Keyword("`user`"),
        Col::Referer => Shape::Keyword("referer"),
        Col::Attr => Shape::Terms("attr"),
        Col::Query => Shape::Words("query_w"),
        Col::Text => Shape::Words("text_w"),
        Col::Ip => Shape::Ip("ip"),
        Col::Client => Shape::Ip("client"),
        Col::Xff => Shape::Ips("xff"),
        Col::Status => Shape::Number("status"),
        Col::Bytes => Shape::Number("bytes"),
        Col::DurationMs => Shape::Number("duration_ms"),
        Col::Line => Shape::Number("line"),
        Col::RequestId => Shape::Number("request_id"),
    }
}

/// The events of a request GUID, as a condition (the store parses the bucket's records).
pub type GuidLookup<'a> = dyn Fn(u128, &[crate::formats::Layout]) -> Result<String> + 'a;

/// A plan as a condition on the events table.
pub fn condition(plan: &Plan, guid: &GuidLookup<'_>) -> Result<String> {
    Ok(match plan {
        Plan::All => "1".into(),
        Plan::Nothing => "0".into(),
        Plan::Bool { must, must_not } => {
            let mut parts = Vec::new();
            for p in must {
                parts.push(format!("({})", condition(p, guid)?));
            }
            for p in must_not {
                parts.push(format!("NOT ({})", condition(p, guid)?));
            }
            if must.is_empty() {
                parts.insert(0, "1".into());
            }
            parts.join(" AND ")
        }
        Plan::Or(parts) => {
            if parts.is_empty() {
                return Ok("0".into());
            }
            let parts = parts
                .iter()
                .map(|p| Ok(format!("({})", condition(p, guid)?)))
                .collect::<Result<Vec<_>>>()?;
            parts.join(" OR ")
        }
        Plan::Term(col, term) => match shape(*col) {
            Shape::Keyword(c) => format!("ifNull({c} = {}, 0)", quote(term)),
            Shape::Terms(c) => format!("has({c}, {})", quote(term)),
            Shape::Words(c) => format!("position({c}, {}) > 0", quote(&format!(" {term} "))),
            _ => "0".into(),
        },
        Plan::Regex { col, pattern, .. } => {
            // tantivy matches the whole term; re2 finds the pattern anywhere unless anchored.
            let re = quote(&format!("^(?:{pattern})$"));
            match shape(*col) {
                Shape::Keyword(c) => format!("ifNull(match({c}, {re}), 0)"),
                Shape::Terms(c) => format!("arrayExists(t -> match(t, {re}), {c})"),
                Shape::Words(c) => format!(
                    "arrayExists(t -> t != '' AND t != '\\n' AND match(t, {re}), splitByChar(' ', {c}))"
                ),
                _ => "0".into(),
            }
        }
        Plan::Phrase(col, words) => match shape(*col) {
            Shape::Words(c) => {
                format!(
                    "position({c}, {}) > 0",
                    quote(&format!(" {} ", words.join(" ")))
                )
            }
            _ => "0".into(),
        },
        Plan::Ip(col, lo, hi) => {
            let v = |a: &Ipv6Addr| format!("unhex('{}')", hex16(a));
            let test = |x: &str| -> String {
                let mut parts = vec!["1".to_string()];
                match lo {
                    Bound::Included(a) => parts.push(format!("{x} >= {}", v(a))),
                    Bound::Excluded(a) => parts.push(format!("{x} > {}", v(a))),
                    Bound::Unbounded => {}
                }
                match hi {
                    Bound::Included(a) => parts.push(format!("{x} <= {}", v(a))),
                    Bound::Excluded(a) => parts.push(format!("{x} < {}", v(a))),
                    Bound::Unbounded => {}
                }
                parts.join(" AND ")
            };
            match shape(*col) {
                Shape::Ip(c) => format!("ifNull({c} IS NOT NULL AND {}, 0)", test(c)),
                Shape::Ips(c) => format!("arrayExists(x -> {}, {c})", test("x")),
                _ => "0".into(),
            }
        }
        Plan::TextIp {
            col,
            prefix,
            lo,
            hi,
        } => match shape(*col) {
            Shape::Terms(c) => {
                // As `plan::text_address` reads an address: dotted quads without leading
                // zeros, or IPv6 text (re2 screens it; ClickHouse reads it).
                let a = format!("substring(t, {})", prefix.len() + 1);
                let octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
                let v4 = quote(&format!("^({octet}\\.){{3}}{octet}$"));
                let (lo, hi) = (hex16(lo), hex16(hi));
                format!(
                    "arrayExists(t -> startsWith(t, {p}) AND ((match({a}, {v4}) AND \
                     IPv4ToIPv6(IPv4StringToNum({a})) BETWEEN unhex('{lo}') AND unhex('{hi}')) \
                     OR (position({a}, ':') > 0 AND match({a}, '^[0-9a-f:.]+$') AND \
                     IPv6StringToNum({a}) BETWEEN unhex('{lo}') AND unhex('{hi}'))), {c})",
                    p = quote(prefix),
                )
            }
            _ => "0".into(),
        },
        Plan::Number(col, lo, hi) => match shape(*col) {
            Shape::Number(c) => format!(
                "ifNull({c} IS NOT NULL AND {}, 0)",
                bounds(c, lo.as_ref(), hi.as_ref())
            ),
            _ => "0".into(),
        },
        Plan::Time((lo, hi)) => bounds("ts", lo.as_ref(), hi.as_ref()),
        Plan::Exists(col) => match shape(*col) {
            Shape::Time => "1".into(),
            Shape::Keyword(c) | Shape::Ip(c) | Shape::Number(c) => format!("{c} IS NOT NULL"),
            Shape::Terms(c) | Shape::Ips(c) => format!("notEmpty({c})"),
            Shape::Words(c) => format!("{c} != ''"),
        },
        Plan::Set { events, .. } => keys_condition(events.iter().map(|(k, _)| k)),
        Plan::Guid { id, layouts } => guid(*id, layouts)?,
        Plan::Files(ids) => {
            let mut s = String::from("file_id IN (");
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "{id}");
            }
            s.push(')');
            s
        }
    })
}

/// Events by key: `(file_id, line) IN (…)`.
pub fn keys_condition(keys: impl Iterator<Item = crate::event::EventKey>) -> String {
    let mut s = String::from("(file_id, line) IN (");
    let mut any = false;
    for k in keys {
        if any {
            s.push(',');
        }
        any = true;
        let _ = write!(s, "({}, {})", k.file_id(), k.line());
    }
    if !any {
        return "0".into();
    }
    s.push(')');
    s
}

fn bounds<T: std::fmt::Display>(c: &str, lo: Bound<&T>, hi: Bound<&T>) -> String {
    let mut parts = vec!["1".to_string()];
    match lo {
        Bound::Included(v) => parts.push(format!("{c} >= {v}")),
        Bound::Excluded(v) => parts.push(format!("{c} > {v}")),
        Bound::Unbounded => {}
    }
    match hi {
        Bound::Included(v) => parts.push(format!("{c} <= {v}")),
        Bound::Excluded(v) => parts.push(format!("{c} < {v}")),
        Bound::Unbounded => {}
    }
    parts.join(" AND ")
}

/// An address as the 32 hex digits of its 16 bytes.
pub fn hex16(a: &Ipv6Addr) -> String {
    crate::input::hex(&a.octets())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Vocabulary;

    fn sql(text: &str) -> String {
        let (plan, _) = crate::query::plan_of(text, &Vocabulary::default()).expect("query");
        condition(&plan, &|_, _| Ok("0".into())).expect("sql")
    }

    #[test]
    fn terms_compare_as_tantivy_holds_them() {
        assert_eq!(sql("path:/ecp/Y.js"), "ifNull(path = '/ecp/y.js', 0)");
        assert_eq!(
            sql("path:/owa/auth/*.aspx"),
            r"ifNull(match(path, '^(?:/owa/auth/(?s:.*)\\.aspx)$'), 0)"
        );
        assert_eq!(
            sql("NOT status:200"),
            "1 AND NOT (ifNull(status IS NOT NULL AND 1 AND status >= 200 AND status <= 200, 0))"
        );
        assert!(sql("ip:192.0.2.0/24").contains("unhex('00000000000000000000ffffc0000200')"));
    }
}
