//! What a query means, in terms of the terms and values a store holds for each event: the one
//! place the query language's semantics are decided. The local case lowers a plan to a tantivy
//! query ([`super::compile`]), the ClickHouse store to SQL; both therefore answer alike.

use std::net::Ipv6Addr;
use std::ops::Bound;
use std::sync::Arc;

use crate::event::names;
use crate::sets::EventSet;

/// An indexed field, by what it holds (see [`crate::schema`] for how each is normalised).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Ts,
    /// Keywords: one lower-cased term per value (paths, agents and users normalised further).
    Host,
    Source,
    Method,
    Path,
    Ua,
    User,
    Referer,
    /// `name=value` terms of source-specific columns, lower-cased.
    Attr,
    /// Words: query strings' (without positions) and free text's (with positions).
    Query,
    Text,
    /// Addresses, as IPv6 (IPv4 mapped).
    Ip,
    Client,
    Xff,
    /// Numbers.
    Status,
    Bytes,
    DurationMs,
    Line,
    /// A 16-bit bucket of the request GUID.
    RequestId,
}

impl Col {
    /// The field's name in the schema.
    pub fn name(self) -> &'static str {
        match self {
            Col::Ts => names::TS,
            Col::Host => names::HOST,
            Col::Source => names::SOURCE,
            Col::Method => names::METHOD,
            Col::Path => names::PATH,
            Col::Ua => names::UA,
            Col::User => names::USER,
            Col::Referer => names::REFERER,
            Col::Attr => crate::schema::fields::ATTR,
            Col::Query => names::QUERY,
            Col::Text => crate::schema::fields::TEXT,
            Col::Ip => names::IP,
            Col::Client => names::CLIENT,
            Col::Xff => names::XFF,
            Col::Status => names::STATUS,
            Col::Bytes => names::BYTES,
            Col::DurationMs => names::DURATION_MS,
            Col::Line => names::LINE,
            Col::RequestId => names::REQUEST_ID,
        }
    }
}

/// A query's meaning.
#[derive(Debug, Clone)]
pub enum Plan {
    All,
    Nothing,
    /// Every `must` and no `must_not`; with no `must`, every event but the `must_not`.
    Bool {
        must: Vec<Plan>,
        must_not: Vec<Plan>,
    },
    Or(Vec<Plan>),
    /// The field holds this term (already normalised as the field is).
    Term(Col, String),
    /// Some term of the field matches this regex whole (anchors implied; `column` is where the
    /// query wrote it, for errors).
    Regex {
        col: Col,
        pattern: String,
        column: usize,
    },
    /// These words one after the other in one value of a field with positions.
    Phrase(Col, Vec<String>),
    /// Some address of the field within the bounds.
    Ip(Col, Bound<Ipv6Addr>, Bound<Ipv6Addr>),
    /// Some term of a text field is `prefix` followed by an address within `lo..=hi` (a CIDR on
    /// a source column: `DestinationIp:10.0.0.0/8`). The address is read strictly, as
    /// [`text_address`] reads it.
    TextIp {
        col: Col,
        prefix: String,
        lo: Ipv6Addr,
        hi: Ipv6Addr,
    },
    Number(Col, Bound<u64>, Bound<u64>),
    /// Time in milliseconds since the epoch, UTC.
    Time((Bound<i64>, Bound<i64>)),
    /// The field has a value.
    Exists(Col),
    /// Events of named sets kept beside the events (`rule:`, `tag:`): their names, and their
    /// events united.
    Set {
        names: Vec<String>,
        events: Arc<EventSet>,
    },
    /// Events whose record carries this request GUID (the index holds a bucket of it; records
    /// are parsed again with the case's layouts to compare).
    Guid {
        id: u128,
        layouts: Arc<Vec<crate::formats::Layout>>,
    },
    /// Events of these files (manifest ids).
    Files(Vec<u64>),
}

/// The address a text value is, read strictly (no port, brackets or zone; IPv4 without leading
/// zeros), as an IPv6 number (IPv4 mapped): one reading for the index, the in-memory check and
/// the ClickHouse condition alike.
pub fn text_address(value: &str) -> Option<u128> {
    let ip: std::net::IpAddr = value.parse().ok()?;
    Some(u128::from(crate::schema::ip_to_v6(ip.to_canonical())))
}
