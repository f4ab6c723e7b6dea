//! W3C extended logs: IIS (`u_ex*.log`), HTTP.sys HTTPERR and other W3C writers.
//!
//! Columns are driven by `#Fields:`, which IIS writes again whenever logging restarts, possibly
//! with a different list; directives come in any order and `#Date` supplies the date to files
//! whose rows carry only a time. Times are UTC by the format's definition.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::columns::{self, Canon, ColumnMap, ValueRules};
use super::{Frame, Layout, Malformed, ParseCtx};
use crate::event::Event;

/// Which writer produced the file; it decides how values are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dialect {
    /// Microsoft IIS: values never contain spaces (`+` instead) and are never quoted, so a quote
    /// in an attacker's user agent is just a character.
    Iis,
    /// HTTP.sys HTTPERR: same value rules as IIS.
    HttpErr,
    /// Other W3C writers, which may quote values containing spaces.
    Generic,
}

impl Dialect {
    pub fn source(self) -> &'static str {
        match self {
            Dialect::Iis => "iis",
            Dialect::HttpErr => "httperr",
            Dialect::Generic => "w3c",
        }
    }

    fn from_software(software: &str) -> Dialect {
        if software.contains("Internet Information Services") {
            Dialect::Iis
        } else if software.contains("HTTP API") {
            Dialect::HttpErr
        } else {
            Dialect::Generic
        }
    }
}

/// The layout of one header block.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "W3cRepr", into = "W3cRepr")]
pub struct W3cLayout {
    pub dialect: Dialect,
    pub fields: Vec<String>,
    /// Days since the epoch from `#Date`, kept only when rows have no `date` column.
    pub date_days: Option<i64>,
    /// The `#Date`'s time of day, in seconds: rows without a `date` column logged earlier in
    /// the day than their section began are on the next day (see [`parse`]).
    pub date_start_s: Option<u32>,
    map: ColumnMap,
}

#[derive(Serialize, Deserialize)]
struct W3cRepr {
    dialect: Dialect,
    fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date_start_s: Option<u32>,
}

impl From<W3cRepr> for W3cLayout {
    fn from(r: W3cRepr) -> Self {
        let mut layout = W3cLayout::new(r.dialect, r.fields, r.date_days);
        layout.date_start_s = r.date_start_s.filter(|_| layout.date_days.is_some());
        layout
    }
}

impl From<W3cLayout> for W3cRepr {
    fn from(l: W3cLayout) -> Self {
        W3cRepr {
            dialect: l.dialect,
            fields: l.fields,
            date_days: l.date_days,
            date_start_s: l.date_start_s,
        }
    }
}

impl W3cLayout {
    pub fn new(dialect: Dialect, fields: Vec<String>, date_days: Option<i64>) -> Self {
        let map = ColumnMap::new(&fields);
        let date_days = if map.has(Canon::Date) || map.has(Canon::DateTime) {
            None
        } else {
            date_days
        };
        W3cLayout {
            dialect,
            fields,
            date_days,
            date_start_s: None,
            map,
        }
    }

    pub fn source(&self) -> &'static str {
        self.dialect.source()
    }
}

/// Tracks directives across a file. Kept between the rounds of a log followed as it grows.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct W3cFramer {
    dialect: Option<Dialect>,
    date_days: Option<i64>,
    #[serde(default)]
    date_start_s: Option<u32>,
    fields: Option<Vec<String>>,
    /// Until a `#Fields` comes, data rows are read in IIS's default fields (see
    /// [`default_iis_fields`]).
    #[serde(default)]
    headerless: bool,
}

/// IIS's default fields since IIS 8.5 (Windows Server 2012 R2), and before it (without
/// `cs(Referer)`): what a file of IIS lines without its header is read as.
const IIS_DEFAULT: [&str; 15] = [
    "date",
    "time",
    "s-ip",
    "cs-method",
    "cs-uri-stem",
    "cs-uri-query",
    "s-port",
    "cs-username",
    "c-ip",
    "cs(User-Agent)",
    "cs(Referer)",
    "sc-status",
    "sc-substatus",
    "sc-win32-status",
    "time-taken",
];

/// How many of IIS's default fields `line` is written in (15, or 14 without the referer), if it
/// is an IIS row of them: a date, a time, an address, a method, a path, a port, a client
/// address, and the status, substatus, Win32 status and time taken as numbers.
pub fn default_iis_fields(line: &str) -> Option<usize> {
    let v: Vec<&str> = line.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
    let status = match v.len() {
        15 => 11,
        14 => 10,
        _ => return None,
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let shaped = super::time::parse_date(v[0]).is_some()
        && super::time::parse_time_of_day(v[1]).is_some()
        && crate::event::parse_ip(v[2]).is_some()
        && v[3].bytes().all(|b| b.is_ascii_uppercase())
        && v[4].starts_with('/')
        && number(v[6])
        && crate::event::parse_ip(v[8]).is_some()
        && v[status..].iter().all(|s| number(s))
        && v[status].len() == 3;
    shaped.then_some(v.len())
}

/// IIS's `count` default fields (see [`default_iis_fields`]).
fn iis_default(count: usize) -> Vec<String> {
    IIS_DEFAULT
        .iter()
        .filter(|f| count == IIS_DEFAULT.len() || **f != "cs(Referer)")
        .map(|f| (*f).to_string())
        .collect()
}

impl W3cFramer {
    /// A framer for IIS lines without their header (see [`default_iis_fields`]).
    pub fn headerless() -> W3cFramer {
        W3cFramer {
            dialect: Some(Dialect::Iis),
            headerless: true,
            ..W3cFramer::default()
        }
    }

    pub fn feed(&mut self, line: &str) -> Frame {
        let trimmed = line.trim_end();
        if let Some(directive) = trimmed.strip_prefix('#') {
            if directive.to_ascii_lowercase().starts_with("fields:") {
                // The file's own header from here on.
                self.headerless = false;
            }
            return self.directive(directive);
        }
        if trimmed.trim_start().is_empty() {
            return Frame::Skip;
        }
        if self.headerless
            && let Some(count) = default_iis_fields(trimmed)
            && self.fields.as_ref().map(Vec::len) != Some(count)
        {
            // The first row, or one with (or without) the referer the rows before had.
            self.fields = Some(iis_default(count));
            if let Frame::Layout(layout) = self.relayout() {
                return Frame::DataIn(layout);
            }
        }
        match &self.fields {
            Some(_) => Frame::Data,
            None if self.headerless => {
                Frame::Malformed("not an IIS row in the default fields (no #Fields)".into())
            }
            None => Frame::Malformed("data row before any #Fields directive".into()),
        }
    }

    fn directive(&mut self, directive: &str) -> Frame {
        let Some((name, value)) = directive.split_once(':') else {
            return Frame::Skip;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "software" => {
                self.dialect = Some(Dialect::from_software(value));
                self.relayout()
            }
            "date" | "start-date" => {
                // `#Date: 2021-03-05 00:00:02 // comment` appears in the wild.
                self.date_days = super::time::parse_directive_date(value);
                self.date_start_s = super::time::parse_directive_time_of_day(value);
                self.relayout()
            }
            "fields" => {
                self.fields = Some(value.split_whitespace().map(str::to_string).collect());
                self.relayout()
            }
            _ => Frame::Skip,
        }
    }

    fn relayout(&self) -> Frame {
        let Some(fields) = &self.fields else {
            return Frame::Skip;
        };
        let dialect = self.dialect.unwrap_or_else(|| guess_dialect(fields));
        let mut layout = W3cLayout::new(dialect, fields.clone(), self.date_days);
        layout.date_start_s = self.date_start_s.filter(|_| layout.date_days.is_some());
        Frame::Layout(Layout::W3c(layout))
    }
}

/// A file without `#Software` that declares IIS's own field names is treated as IIS.
fn guess_dialect(fields: &[String]) -> Dialect {
    if fields.iter().any(|f| f == "cs-uri-stem") && fields.iter().any(|f| f == "c-ip") {
        Dialect::Iis
    } else {
        Dialect::Generic
    }
}

/// Splits a row into values: on runs of spaces (IIS never writes an empty token) or, for
/// generic writers, also honouring double-quoted values.
fn split_values(line: &str, dialect: Dialect) -> Vec<Cow<'_, str>> {
    match dialect {
        Dialect::Iis | Dialect::HttpErr => line
            .split([' ', '\t'])
            .filter(|s| !s.is_empty())
            .map(Cow::Borrowed)
            .collect(),
        Dialect::Generic => split_quoted(line),
    }
}

fn split_quoted(line: &str) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' || bytes[i] == b'\t' {
            i += 1;
            continue;
        }
        if bytes[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            let mut value = String::new();
            let mut run = start;
            loop {
                match memchr::memchr(b'"', &bytes[j..]) {
                    Some(k) if bytes.get(j + k + 1) == Some(&b'"') => {
                        value.push_str(&line[run..=j + k]);
                        j += k + 2;
                        run = j;
                    }
                    Some(k) => {
                        value.push_str(&line[run..j + k]);
                        i = j + k + 1;
                        break;
                    }
                    None => {
                        value.push_str(&line[run..]);
                        i = bytes.len();
                        break;
                    }
                }
            }
            out.push(Cow::Owned(value));
        } else {
            let end = line[i..].find([' ', '\t']).map_or(bytes.len(), |k| i + k);
            out.push(Cow::Borrowed(&line[i..end]));
            i = end;
        }
    }
    out
}

/// Whether a log's rows may take their client from the front-end request of the same GUID: an
/// HttpProxy log, or an IIS log of Exchange's back end (see [`is_iis_front_end`]).
pub fn may_inherit_client(head: &str) -> bool {
    let httpproxy = head.contains("#Log-type: HttpProxy Logs")
        || head
            .trim_start_matches('\u{feff}')
            .starts_with("DateTime,RequestId,");
    let iis = head.contains("#Software: Microsoft Internet Information Services");
    httpproxy || (iis && !is_iis_front_end(head))
}

/// Whether the head of an IIS log is a front end's (W3SVC1, port 443) rather than Exchange's
/// back end's (W3SVC2, port 444): its first record's `s-port` is not 444. Front-end logs are
/// ingested first, so that HttpProxy and back-end rows can inherit their clients (see
/// `attribution`). A log without `s-port` counts as a front end.
pub fn is_iis_front_end(head: &str) -> bool {
    if !head.contains("#Software: Microsoft Internet Information Services") {
        return false;
    }
    let mut port_column = None;
    for line in head.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(fields) = line.strip_prefix("#Fields:") {
            port_column = fields
                .split_whitespace()
                .position(|f| f.eq_ignore_ascii_case("s-port"));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            return port_column
                .and_then(|i| line.split(' ').nth(i))
                .is_none_or(|port| port != "444");
        }
    }
    true
}

/// The server a W3C log (IIS or HTTPERR) was written by, named by its own address: the first
/// `s-ip` of a complete row in `head` that is neither loopback nor unspecified. A log is one
/// server's, so this names the whole file when nothing else does (see `schema::host_of`): a
/// server answering on two addresses, or its own health probes on `::1`, stays one host.
pub fn server_address(head: &str) -> Option<std::net::IpAddr> {
    server_addresses(head).first().copied()
}

/// The distinct server addresses (`s-ip`, neither loopback nor unspecified) of the complete
/// rows in `head`, in the order met, up to four: more than one is a server answering on several
/// addresses, or rows of several servers merged into one file (said at ingest).
pub fn server_addresses(head: &str) -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut column = None;
    // The last line of a head may be cut mid-value (`10.0.0.1` of `10.0.0.15`): only rows
    // ended by a line break are read.
    let Some(end) = head.rfind('\n') else {
        return out;
    };
    let complete = &head[..end];
    for line in complete.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(fields) = line.strip_prefix("#Fields:") {
            column = fields
                .split_whitespace()
                .position(|f| f.eq_ignore_ascii_case("s-ip"));
        } else if !line.starts_with('#') {
            let ip = column
                .and_then(|i| line.split(' ').nth(i))
                .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok());
            if let Some(ip) = ip.filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
                && !out.contains(&ip)
            {
                out.push(ip);
                if out.len() == 4 {
                    break;
                }
            }
        }
    }
    out
}

/// Parses one data row.
pub fn parse<'a>(
    layout: &'a W3cLayout,
    line: &'a str,
    ctx: &ParseCtx,
) -> Result<Event<'a>, Malformed> {
    let values = split_values(line.trim_end_matches(['\r', '\n']), layout.dialect);
    if values.len() != layout.fields.len() {
        return Err(Malformed(
            format!(
                "{} values for {} #Fields columns",
                values.len(),
                layout.fields.len()
            )
            .into(),
        ));
    }
    let mut ev = Event::default();
    let rules = ValueRules {
        plus_is_space: true,
        dash_is_empty: true,
    };
    let parts = columns::apply(&mut ev, &layout.fields, &layout.map, values, rules);
    // W3C times are UTC by definition, except the `*-local` fields of IIS Advanced Logging.
    let utc = !layout.fields.iter().any(|f| f.ends_with("-local"));
    let instant = columns::resolve_time(
        &parts,
        layout.date_days,
        ctx.tz,
        super::time::DateOrder::Auto,
        utc,
    )
    .map_err(|why| Malformed(why.into()))?;
    ev.ts_ms = instant.ms;
    // Rows without a date take the `#Date`'s: one logged earlier in the day than its section
    // began (a file rolled at local midnight, in UTC times) is on the next day. A minute's
    // slack for a row stamped just before the directive.
    if let Some(start) = layout.date_start_s.filter(|_| utc) {
        let of_day = instant.ms.rem_euclid(86_400_000) / 1000;
        if of_day + 60 < i64::from(start) {
            ev.ts_ms += 86_400_000;
        }
    }
    ev.ts_naive = instant.naive;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::time::format_ms;

    const FIELDS: &str = "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

    fn layout_from(lines: &[&str]) -> W3cLayout {
        let mut framer = W3cFramer::default();
        let mut layout = None;
        for l in lines {
            if let Frame::Layout(Layout::W3c(w)) = framer.feed(l) {
                layout = Some(w);
            }
        }
        layout.expect("a layout")
    }

    #[test]
    fn iis_rows_without_their_header_are_read_in_the_default_fields() {
        let row = "2021-03-05 17:41:58 172.16.4.21 GET /ecp/t.js - 443 - 198.51.100.144 curl/8 - 200 0 0 96";
        assert_eq!(default_iis_fields(row), Some(15));
        let older = "2021-03-05 17:41:58 172.16.4.21 GET /ecp/t.js - 443 - 198.51.100.144 curl/8 200 0 0 96";
        assert_eq!(default_iis_fields(older), Some(14));
        for other in [
            "2021-03-05 17:41:58 W3SVC1 GET / - 80 - 127.0.0.1 ua - - example.com 200 0 0 123",
            "2021-03-05 17:41:58 172.16.4.21 GET /ecp/t.js - 443 - 198.51.100.144 curl/8 - 2000 0 0 96",
            "a b c d e f g h i j k l m n o",
        ] {
            assert_eq!(default_iis_fields(other), None, "{other}");
        }
        let mut framer = W3cFramer::headerless();
        assert!(matches!(framer.feed(row), Frame::DataIn(_)));
        assert!(matches!(framer.feed(row), Frame::Data));
        assert!(matches!(framer.feed(older), Frame::DataIn(_)));
        // Another row is data of the layout in force, malformed when parsed (its values).
        assert!(matches!(framer.feed("x y"), Frame::Data));
        assert!(matches!(
            W3cFramer::headerless().feed("x y"),
            Frame::Malformed(_)
        ));
        // The file's own header takes over.
        assert!(matches!(framer.feed(FIELDS), Frame::Layout(_)));
        assert!(matches!(framer.feed(older), Frame::Data));
    }

    #[test]
    fn iis_row_maps_to_canonical_fields() {
        let layout = layout_from(&[
            "#Software: Microsoft Internet Information Services 10.0",
            FIELDS,
        ]);
        let line = "2021-03-05 17:42:19 172.16.4.21 POST /ecp/t.js &CorrelationID=<empty>;&cafeReqId=b103bde8-1dfd-46c0-9474-4b3277e3332a; 443 - 198.51.100.144 python-requests/2.19.1 - 241 0 0 375\r";
        let ev = parse(&layout, line, &ParseCtx::default()).expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T17:42:19.000Z");
        assert_eq!(ev.ip, "198.51.100.144".parse().ok());
        assert_eq!(ev.path.as_deref(), Some("/ecp/t.js"));
        assert_eq!(ev.status, Some(241));
        assert_eq!(ev.user, None);
        assert_eq!(ev.duration_ms, Some(375));
        assert!(ev.request_id.is_some());
        assert_eq!(ev.attr("s-port"), Some("443"));
        assert_eq!(ev.attr("sc-win32-status"), Some("0"));
    }

    #[test]
    fn plus_decoded_in_user_agent_and_quotes_are_text_in_iis() {
        let layout = layout_from(&[FIELDS]);
        assert_eq!(layout.dialect, Dialect::Iis);
        let line = "2021-03-05 17:42:19 172.16.4.21 GET / - 443 - 192.0.2.1 \"Mozilla/5.0+(X11) - 200 0 0 1";
        let ev = parse(&layout, line, &ParseCtx::default()).expect("parses");
        assert_eq!(ev.ua.as_deref(), Some("\"Mozilla/5.0 (X11)"));
    }

    #[test]
    fn field_count_mismatch_is_malformed() {
        let layout = layout_from(&[FIELDS]);
        let err = parse(
            &layout,
            "2021-03-05 17:42:19 1.2.3.4 GET",
            &ParseCtx::default(),
        )
        .expect_err("malformed");
        assert!(err.0.contains("4 values for 15"));
    }

    #[test]
    fn front_and_back_end_logs_are_told_apart() {
        let header = "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port c-ip\r\n";
        let front =
            format!("{header}2021-03-05 00:00:01 172.16.4.21 GET /owa/ - 443 192.0.2.1\r\n");
        let back =
            format!("{header}2021-03-05 00:00:01 172.16.4.21 GET /owa/ - 444 172.16.4.22\r\n");
        assert!(is_iis_front_end(&front));
        assert!(!is_iis_front_end(&back));
        assert!(!is_iis_front_end("#Software: Microsoft HTTP API 2.0\n"));
    }

    #[test]
    fn a_log_names_its_server_by_its_first_own_address() {
        let head = "#Software: Microsoft Internet Information Services 10.0\r\n\
                    #Fields: date time s-ip cs-method cs-uri-stem\r\n\
                    2021-03-05 00:00:01 ::1 GET /owa/healthcheck.htm\r\n\
                    2021-03-05 00:00:02 127.0.0.1 GET /ecp/healthcheck.htm\r\n\
                    2021-03-05 00:00:03 10.1.2.15 GET /owa/\r\n\
                    2021-03-05 00:00:04 10.9.9.9 GET /owa/\r\n";
        assert_eq!(server_address(head), "10.1.2.15".parse().ok());
        // Only probes, or a row cut by the end of the head: no name rather than a wrong one.
        let probes = head.split("2021-03-05 00:00:03").next().expect("a head");
        assert_eq!(server_address(probes), None);
        let cut = "#Fields: date time s-ip cs-method\n2021-03-05 00:00:03 10.1.2.1";
        assert_eq!(server_address(cut), None);
        assert_eq!(
            server_address("#Fields: date time cs-method\n2021-03-05 00:00:03 GET\n"),
            None
        );
        let httperr = "#Software: Microsoft HTTP API 2.0\n#Fields: date time c-ip c-port s-ip s-port\n2021-03-05 00:00:03 203.0.113.7 4431 10.1.2.15 443\n";
        assert_eq!(server_address(httperr), "10.1.2.15".parse().ok());
    }

    #[test]
    fn time_only_rows_take_the_date_directive() {
        let layout = layout_from(&[
            "#Date: 2014-11-18 00:00:00",
            "#Fields: time c-ip cs-method cs-uri-stem sc-status",
        ]);
        let ev = parse(
            &layout,
            "00:01:02 192.0.2.9 GET /x 200",
            &ParseCtx::default(),
        )
        .expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2014-11-18T00:01:02.000Z");

        // A section begun at 22:00 (a file rolled at local midnight, in UTC): a row earlier in
        // the day is on the next day; one a few seconds before the directive is not.
        let layout = layout_from(&[
            "#Date: 2021-03-05 22:00:00",
            "#Fields: time c-ip cs-method cs-uri-stem sc-status",
        ]);
        let at = |row: &str| {
            format_ms(
                parse(&layout, row, &ParseCtx::default())
                    .expect("parses")
                    .ts_ms,
            )
        };
        assert_eq!(
            at("23:59:58 192.0.2.9 GET /x 200"),
            "2021-03-05T23:59:58.000Z"
        );
        assert_eq!(
            at("00:00:02 192.0.2.9 GET /x 200"),
            "2021-03-06T00:00:02.000Z"
        );
        assert_eq!(
            at("21:59:59 192.0.2.9 GET /x 200"),
            "2021-03-05T21:59:59.000Z"
        );
        // Kept with the layout, as a followed file's layout is.
        let layout: Layout = serde_json::from_str(
            &serde_json::to_string(&Layout::W3c(layout.clone())).expect("serialises"),
        )
        .expect("reads back");
        let Layout::W3c(layout) = layout else {
            panic!("a W3C layout")
        };
        assert_eq!(layout.date_start_s, Some(22 * 3600));
    }

    #[test]
    fn httperr_uri_split_and_zone_ids() {
        let layout = layout_from(&[
            "#Software: Microsoft HTTP API 2.0",
            "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri sc-status s-siteid s-reason s-queuename",
        ]);
        assert_eq!(layout.source(), "httperr");
        let ev = parse(
            &layout,
            "2025-03-14 09:15:02 2001:db8::5%12 50200 2001:db8::1 443 HTTP/2.0 POST /api/upload?x=1 413 2 Request_Too_Large MyAppPool",
            &ParseCtx::default(),
        )
        .expect("parses");
        assert_eq!(ev.ip, "2001:db8::5".parse().ok());
        assert_eq!(ev.path.as_deref(), Some("/api/upload"));
        assert_eq!(ev.query.as_deref(), Some("x=1"));
    }

    #[test]
    fn generic_w3c_honours_quotes() {
        let values = split_quoted(r#"a "b c" "say ""x""" d"#);
        assert_eq!(values, vec!["a", "b c", r#"say "x""#, "d"]);
    }

    #[test]
    fn data_before_fields_is_malformed() {
        let mut framer = W3cFramer::default();
        assert!(matches!(
            framer.feed("2021-03-05 1.2.3.4"),
            Frame::Malformed(_)
        ));
        assert!(matches!(framer.feed("# a comment"), Frame::Skip));
        assert!(matches!(framer.feed(""), Frame::Skip));
    }
}
