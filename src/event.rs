//! The normalised event every source is parsed into, and the canonical field names.
//!
//! Parsers fill an [`Event`] that borrows from the record being parsed wherever the value
//! appears verbatim in it; only values that must be rewritten (IIS `+` for spaces, CSV
//! doubled quotes) are owned.

use std::borrow::Cow;
use std::net::IpAddr;

/// Canonical field names, used by the query language, JSON output, exports and the TUI.
pub mod names {
    pub const TS: &str = "ts";
    pub const HOST: &str = "host";
    pub const SOURCE: &str = "source";
    pub const IP: &str = "ip";
    /// The address a request really came from: `ip`, or behind a proxy the right-most
    /// X-Forwarded-For entry that is not a trusted proxy (see `attribution`).
    pub const CLIENT: &str = "client";
    pub const XFF: &str = "xff";
    pub const METHOD: &str = "method";
    pub const PATH: &str = "path";
    pub const QUERY: &str = "query";
    pub const STATUS: &str = "status";
    pub const UA: &str = "ua";
    pub const USER: &str = "user";
    pub const REFERER: &str = "referer";
    pub const BYTES: &str = "bytes";
    pub const DURATION_MS: &str = "duration_ms";
    pub const REQUEST_ID: &str = "request_id";
    pub const FILE: &str = "file";
    pub const LINE: &str = "line";
    pub const RAW: &str = "raw";
    /// A web request's query string whole, without Exchange's own parameters (rules only: the
    /// index holds its words, so rules check it on their candidates).
    pub const QUERY_STRING: &str = "query_string";
    pub const RULE: &str = "rule";
}

/// The key of an event: its file and line, which name it across re-ingests and in every set of
/// events kept beside the index (rule hits, marks). The file id takes the high 24 bits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct EventKey(pub u64);

impl EventKey {
    const LINE_BITS: u32 = 40;

    pub fn new(file_id: u64, line: u64) -> EventKey {
        EventKey((file_id << Self::LINE_BITS) | (line & ((1 << Self::LINE_BITS) - 1)))
    }

    pub fn file_id(self) -> u64 {
        self.0 >> Self::LINE_BITS
    }

    pub fn line(self) -> u64 {
        self.0 & ((1 << Self::LINE_BITS) - 1)
    }
}

/// One event as parsed from one record of a log file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event<'a> {
    /// Milliseconds since the Unix epoch, UTC.
    pub ts_ms: i64,
    /// True when the source gave a time without a zone and `--tz` was applied.
    pub ts_naive: bool,
    pub host: Option<Cow<'a, str>>,
    pub ip: Option<IpAddr>,
    /// Every address of an X-Forwarded-For chain, in order.
    pub xff: Vec<IpAddr>,
    /// How many entries at the right end of the chain are addresses (an entry that is not,
    /// `unknown` or a name, ends what attribution may walk).
    pub xff_tail: usize,
    /// The address the request came from, set by attribution after parsing.
    pub client: Option<IpAddr>,
    /// The event's own `source` when it differs from its file's (an event log's channel).
    pub source: Option<Cow<'a, str>>,
    /// The record's own number (EVTX `EventRecordID`), which then stands for its line.
    pub record_id: Option<u64>,
    pub method: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
    pub query: Option<Cow<'a, str>>,
    pub status: Option<u64>,
    pub ua: Option<Cow<'a, str>>,
    pub user: Option<Cow<'a, str>>,
    pub referer: Option<Cow<'a, str>>,
    pub bytes: Option<u64>,
    pub duration_ms: Option<u64>,
    /// Request GUID joining IIS `cafeReqId` and HttpProxy `RequestId`.
    pub request_id: Option<u128>,
    /// Source-specific columns, in the source's order, under the source's names.
    pub attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Event<'a> {
    /// Looks up a source-specific column by name, ignoring case.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// Sets an optional text field, treating empty and `-` as absent.
    pub fn text(value: &'a str) -> Option<Cow<'a, str>> {
        let value = value.trim();
        if value.is_empty() || value == "-" {
            None
        } else {
            Some(Cow::Borrowed(value))
        }
    }

    /// Converts every borrowed value into an owned one.
    pub fn into_owned(self) -> Event<'static> {
        fn own(v: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            v.map(|c| Cow::Owned(c.into_owned()))
        }
        Event {
            ts_ms: self.ts_ms,
            ts_naive: self.ts_naive,
            host: own(self.host),
            ip: self.ip,
            xff: self.xff,
            xff_tail: self.xff_tail,
            client: self.client,
            source: own(self.source),
            record_id: self.record_id,
            method: own(self.method),
            path: own(self.path),
            query: own(self.query),
            status: self.status,
            ua: own(self.ua),
            user: own(self.user),
            referer: own(self.referer),
            bytes: self.bytes,
            duration_ms: self.duration_ms,
            request_id: self.request_id,
            attrs: self
                .attrs
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        }
    }
}

/// Parses an IP address as logs write it: IPv6 zone ids (`%12`), brackets and an IPv4 port
/// suffix are tolerated. IPv4-mapped IPv6 addresses are returned as IPv4.
pub fn parse_ip(value: &str) -> Option<IpAddr> {
    // Some proxies quote the entries of X-Forwarded-For (`"203.0.113.51"`).
    let value = value.trim().trim_matches('"').trim_start_matches('[');
    let value = value.split(']').next().unwrap_or(value);
    let value = value.split('%').next().unwrap_or(value);
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // `192.0.2.7:51234`
    let (host, port) = value.rsplit_once(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) && host.contains('.') {
        return host.parse::<IpAddr>().ok();
    }
    None
}

/// Parses an X-Forwarded-For chain (`198.51.100.77,+172.16.0.10` in IIS, `a, b` elsewhere):
/// its addresses in order, and how many entries at its right end are addresses.
pub fn parse_xff(value: &str) -> (Vec<IpAddr>, usize) {
    let mut chain = Vec::new();
    let mut tail = 0;
    for entry in value.split([',', '+', ' ']).filter(|s| !s.is_empty()) {
        match parse_ip(entry) {
            Some(ip) => {
                chain.push(ip);
                tail += 1;
            }
            None => tail = 0,
        }
    }
    (chain, tail)
}

/// Parses a GUID (`62b4b399-61f6-401a-ab5d-839f2c969224`, optionally in braces).
pub fn parse_guid(value: &str) -> Option<u128> {
    let value = value.trim().trim_start_matches('{').trim_end_matches('}');
    if value.len() != 36 {
        return None;
    }
    let bytes = value.as_bytes();
    if [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    let mut acc: u128 = 0;
    for &b in bytes {
        if b == b'-' {
            continue;
        }
        let digit = (b as char).to_digit(16)?;
        acc = (acc << 4) | u128::from(digit);
    }
    Some(acc)
}

/// Formats a GUID the way Exchange writes it.
pub fn format_guid(value: u128) -> String {
    let hex = format!("{value:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Extracts Exchange's `cafeReqId=<guid>` from an IIS query string: the last one, which
/// Exchange appends after whatever the client wrote (a client's own earlier one would steer
/// the joins of requests).
pub fn cafe_req_id(query: &str) -> Option<u128> {
    let start = query.rfind("cafeReqId=")? + "cafeReqId=".len();
    let rest = &query[start..];
    parse_guid(rest.get(..36)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forms_seen_in_logs() {
        assert_eq!(parse_ip("192.0.2.7"), "192.0.2.7".parse().ok());
        assert_eq!(parse_ip("2001:db8::5%12"), "2001:db8::5".parse().ok());
        assert_eq!(parse_ip("::ffff:192.0.2.7"), "192.0.2.7".parse().ok());
        assert_eq!(parse_ip("192.0.2.7:51234"), "192.0.2.7".parse().ok());
        assert_eq!(parse_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("-"), None);
        assert_eq!(parse_ip("W3SVC1"), None);
    }

    #[test]
    fn xff_chain() {
        let (chain, tail) = parse_xff("198.51.100.77,+172.16.0.10");
        assert_eq!((chain.len(), tail), (2, 2));
        assert!(parse_xff("-").0.is_empty());
        // Only the addresses right of a name can be walked.
        let (chain, tail) = parse_xff("192.0.2.1, unknown, 198.51.100.77");
        assert_eq!((chain.len(), tail), (2, 1));
        let (chain, tail) = parse_xff("\"203.0.113.51\", \"[2001:db8::1]:443\"");
        assert_eq!((chain.len(), tail), (2, 2));
    }

    #[test]
    fn guid_round_trip_and_cafe_req_id() {
        let g = "62b4b399-61f6-401a-ab5d-839f2c969224";
        let v = parse_guid(g).expect("valid guid");
        assert_eq!(format_guid(v), g);
        assert_eq!(parse_guid("abc-123"), None);
        let q =
            "&CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224;&encoding=;";
        assert_eq!(cafe_req_id(q), Some(v));
        assert_eq!(cafe_req_id("&cafeReqId=abc-123;"), None);
    }
}
