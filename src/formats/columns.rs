//! Which source column feeds which canonical field, shared by every header-driven format.
//!
//! A column not listed here stays a source-specific attribute, searchable under its own name.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::time::{self, Instant};
use crate::event::{self, Event};

/// A canonical field a column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Canon {
    Date,
    Time,
    DateTime,
    Host,
    Ip,
    Xff,
    Method,
    Path,
    /// A full URI (`cs-uri` in HTTPERR): split into path and query.
    Uri,
    Query,
    Status,
    Ua,
    User,
    Referer,
    Bytes,
    DurationMs,
    RequestId,
    /// The log type an event was read from, per record: only trawl's own exports carry it.
    Source,
    /// The client attributed behind balancers: only trawl's own exports carry it.
    Client,
}

/// Maps a column name (any case) to the canonical field it feeds.
pub fn canon_for(name: &str) -> Option<Canon> {
    let lower = name.trim().to_ascii_lowercase();
    Some(match lower.as_str() {
        "date" | "date-local" => Canon::Date,
        "time" | "time-local" => Canon::Time,
        "datetime" | "timestamp" | "date-time" | "timecreated" | "creationtime" | "@timestamp"
        | "ts" | "eventtime" | "utctime" | "systemtime" | "time_local" | "started_at"
        | "time_iso8601" | "eventtimeutc" => Canon::DateTime,
        "s-computername" | "serverhostname" | "servername" | "server-hostname" | "machinename"
        | "computername" | "computer" | "hostname" | "host.name" => Canon::Host,
        "c-ip" | "clientipaddress" | "clientip" | "client-ip" | "client_ip" | "src_ip"
        | "source.ip" | "remote_addr" | "remoteaddr" | "ip" | "ipaddress" | "clientipaddr" => {
            Canon::Ip
        }
        "x-forwarded-for" | "x_forwarded_for" | "xff" | "http_x_forwarded_for" => Canon::Xff,
        "cs-method" | "method" | "http.request.method" | "httpmethod" | "verb" => Canon::Method,
        "cs-uri-stem" | "urlstem" | "path" | "url.path" | "uri_stem" | "request_path" => {
            Canon::Path
        }
        "cs-uri" | "uri" | "url" | "request_uri" | "url.original" => Canon::Uri,
        "cs-uri-query" | "urlquery" | "query" | "url.query" | "query_string" => Canon::Query,
        "sc-status"
        | "httpstatus"
        | "status"
        | "statuscode"
        | "status_code"
        | "http.response.status_code" => Canon::Status,
        "cs(user-agent)"
        | "useragent"
        | "user-agent"
        | "user_agent"
        | "ua"
        | "user_agent.original"
        | "http_user_agent" => Canon::Ua,
        "cs-username" | "authenticateduser" | "user" | "username" | "userid" | "user.name"
        | "remote_user" => Canon::User,
        "cs(referer)" | "referer" | "referrer" | "http_referer" | "http.request.referrer" => {
            Canon::Referer
        }
        "sc-bytes"
        | "responsebytes"
        | "responsesize"
        | "bytes"
        | "body_bytes_sent"
        | "http.response.body.bytes" => Canon::Bytes,
        "time-taken" | "totalrequesttime" | "duration_ms" | "request_time_ms" | "timetakenms" => {
            Canon::DurationMs
        }
        "requestid" | "request_id" => Canon::RequestId,
        _ => return None,
    })
}

/// The columns that make a CSV header or a JSON object one of trawl's own exports (`trawl
/// export` as CSV, JSON lines or Timesketch's CSV): their `host` is the server's name and
/// `source` the log type, where another tool's `host` is the request's `Host` header (nginx's
/// `$host`).
const OWN_EXPORT: [&str; 5] = ["host", "source", "file", "line", "raw"];

/// Whether a header (or an object) whose names `has` tells is one of trawl's own exports.
pub fn is_own_export(has: impl Fn(&str) -> bool) -> bool {
    OWN_EXPORT.iter().all(|c| has(c))
}

/// Mapping of a header's columns to canonical fields, computed once per header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    pub canon: Vec<Option<Canon>>,
}

impl ColumnMap {
    pub fn new<S: AsRef<str>>(columns: &[S]) -> Self {
        Self::build(columns, canon_for)
    }

    /// For trawl's own exports (see [`is_own_export`]): their `host`, `source` and `client`
    /// as well.
    pub fn own_export<S: AsRef<str>>(columns: &[S]) -> Self {
        Self::build(columns, |name| match name {
            "host" => Some(Canon::Host),
            "source" => Some(Canon::Source),
            "client" => Some(Canon::Client),
            _ => canon_for(name),
        })
    }

    /// For flattened JSON keys: `request.method` feeds `method` when no exact alias matches.
    pub fn with_suffixes<S: AsRef<str>>(columns: &[S]) -> Self {
        Self::build(columns, |name| {
            canon_for(name).or_else(|| canon_for(name.rsplit('.').next().unwrap_or(name)))
        })
    }

    fn build<S: AsRef<str>>(columns: &[S], canon_of: impl Fn(&str) -> Option<Canon>) -> Self {
        let mut seen = Vec::new();
        let canon = columns
            .iter()
            .map(|c| {
                // The first column feeding a canonical field wins; later ones stay attributes.
                let canon = canon_of(c.as_ref())?;
                if seen.contains(&canon) {
                    return None;
                }
                seen.push(canon);
                Some(canon)
            })
            .collect();
        ColumnMap { canon }
    }

    pub fn has(&self, canon: Canon) -> bool {
        self.canon.contains(&Some(canon))
    }
}

/// Options that change how a value is read, per dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueRules {
    /// IIS writes spaces inside values as `+`.
    pub plus_is_space: bool,
    /// W3C and IIS write empty values as `-`.
    pub dash_is_empty: bool,
}

fn value<'a>(raw: Cow<'a, str>, rules: ValueRules) -> Option<Cow<'a, str>> {
    let trimmed_len = raw.trim().len();
    if trimmed_len == 0 || (rules.dash_is_empty && raw.trim() == "-") {
        return None;
    }
    let raw = if trimmed_len == raw.len() {
        raw
    } else {
        Cow::Owned(raw.trim().to_string())
    };
    Some(raw)
}

fn decode_plus(v: Cow<'_, str>) -> Cow<'_, str> {
    if v.contains('+') {
        Cow::Owned(v.replace('+', " "))
    } else {
        v
    }
}

/// Fills an event from one record's values under a header; the time is resolved by the caller
/// from the [`Canon::Date`]/[`Canon::Time`]/[`Canon::DateTime`] values returned.
#[derive(Debug, Default)]
pub struct TimeParts<'a> {
    pub date: Option<Cow<'a, str>>,
    pub time: Option<Cow<'a, str>>,
    pub datetime: Option<Cow<'a, str>>,
}

/// Applies header-mapped values to an event. Unmapped columns become attributes.
pub fn apply<'a, I>(
    ev: &mut Event<'a>,
    columns: &'a [String],
    map: &ColumnMap,
    values: I,
    rules: ValueRules,
) -> TimeParts<'a>
where
    I: IntoIterator<Item = Cow<'a, str>>,
{
    let mut parts = TimeParts::default();
    for ((name, canon), raw) in columns.iter().zip(&map.canon).zip(values) {
        let Some(v) = value(raw, rules) else {
            continue;
        };
        match canon {
            None => ev.attrs.push((Cow::Borrowed(name.as_str()), v)),
            Some(Canon::Date) => parts.date = Some(v),
            Some(Canon::Time) => parts.time = Some(v),
            Some(Canon::DateTime) => parts.datetime = Some(v),
            Some(Canon::Host) => ev.host = Some(v),
            // A log type's name, as trawl names them: an export is evidence too, and a name
            // with anything else (an escape sequence) is not one.
            Some(Canon::Source) => {
                if !v.is_empty()
                    && v.len() <= 64
                    && v.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)
                    })
                {
                    ev.source = Some(v);
                } else {
                    ev.attrs.push((Cow::Borrowed(name.as_str()), v));
                }
            }
            Some(Canon::Client) => ev.client = event::parse_ip(&v),
            Some(Canon::Ip) => {
                ev.ip = event::parse_ip(&v);
                if ev.ip.is_none() {
                    // Keep what could not be read as an address rather than lose it.
                    ev.attrs.push((Cow::Borrowed(name.as_str()), v));
                }
            }
            Some(Canon::Xff) => {
                (ev.xff, ev.xff_tail) = event::parse_xff(&v);
                ev.attrs.push((Cow::Borrowed(name.as_str()), v));
            }
            Some(Canon::Method) => ev.method = Some(v),
            Some(Canon::Path) => ev.path = Some(v),
            Some(Canon::Uri) => split_uri(ev, v),
            Some(Canon::Query) => {
                if ev.request_id.is_none() {
                    ev.request_id = event::cafe_req_id(&v);
                }
                // HttpProxy's `UrlQuery` keeps the `?` IIS's `cs-uri-query` has not: one request,
                // one query (and one `?` when shown after its path).
                ev.query = Some(match v {
                    Cow::Borrowed(q) => Cow::Borrowed(q.strip_prefix('?').unwrap_or(q)),
                    Cow::Owned(q) => match q.strip_prefix('?') {
                        Some(rest) => Cow::Owned(rest.to_string()),
                        None => Cow::Owned(q),
                    },
                });
            }
            // A value that is not what the canonical field holds is kept under its own name
            // rather than lost: a Windows event's `Status` is an NTSTATUS code (`0xc000006d`).
            Some(Canon::Status) => {
                ev.status = parse_number(&v);
                if ev.status.is_none() {
                    ev.attrs.push((Cow::Borrowed(name.as_str()), v));
                }
            }
            Some(Canon::Ua) => {
                ev.ua = Some(if rules.plus_is_space {
                    decode_plus(v)
                } else {
                    v
                })
            }
            Some(Canon::User) => ev.user = Some(v),
            Some(Canon::Referer) => ev.referer = Some(v),
            Some(Canon::Bytes) => {
                ev.bytes = parse_number(&v);
                if ev.bytes.is_none() {
                    ev.attrs.push((Cow::Borrowed(name.as_str()), v));
                }
            }
            Some(Canon::DurationMs) => {
                ev.duration_ms = parse_duration_ms(&v);
                if ev.duration_ms.is_none() {
                    ev.attrs.push((Cow::Borrowed(name.as_str()), v));
                }
            }
            Some(Canon::RequestId) => {
                ev.request_id = event::parse_guid(&v);
                if ev.request_id.is_none() {
                    ev.attrs.push((Cow::Borrowed(name.as_str()), v));
                }
            }
        }
    }
    parts
}

/// Splits `path?query` into the two canonical fields.
pub fn split_uri<'a>(ev: &mut Event<'a>, uri: Cow<'a, str>) {
    match uri {
        Cow::Borrowed(s) => match s.split_once('?') {
            Some((p, q)) => {
                ev.path = Some(Cow::Borrowed(p));
                if !q.is_empty() {
                    ev.query = Some(Cow::Borrowed(q));
                }
            }
            None => ev.path = Some(Cow::Borrowed(s)),
        },
        Cow::Owned(s) => match s.split_once('?') {
            Some((p, q)) => {
                ev.path = Some(Cow::Owned(p.to_string()));
                if !q.is_empty() {
                    ev.query = Some(Cow::Owned(q.to_string()));
                }
            }
            None => ev.path = Some(Cow::Owned(s)),
        },
    }
}

pub fn parse_number(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok()
}

/// Durations are milliseconds when integral; a decimal value is taken as seconds (as some W3C
/// writers log `time-taken`).
pub fn parse_duration_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<u64>() {
        return Some(ms);
    }
    let secs = v.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// Resolves the time parts of a record into an instant.
pub fn resolve_time(
    parts: &TimeParts<'_>,
    default_date_days: Option<i64>,
    tz: time::Zone,
    date_order: time::DateOrder,
    utc_only: bool,
) -> Result<Instant, &'static str> {
    if let Some(dt) = &parts.datetime {
        return match time::parse_iso(dt, tz)
            .or_else(|| time::parse_clf(dt))
            .or_else(|| time::parse_dotnet_date(dt))
        {
            Some(instant) => Ok(instant),
            None => time::parse_culture(dt, tz, date_order).unwrap_or(Err("unreadable timestamp")),
        };
    }
    let Some(tod) = &parts.time else {
        return Err("no time field");
    };
    if parts.date.is_none() && tod.len() >= 19 {
        // A column named `time` holding a whole timestamp (JSON logs do this).
        return time::parse_iso(tod, tz).ok_or("unreadable timestamp");
    }
    let days = match &parts.date {
        Some(d) => time::parse_date(d).ok_or("unreadable date")?,
        None => default_date_days.ok_or("time without a date (no date field, no #Date)")?,
    };
    let tod_ms = time::parse_time_of_day(tod).ok_or("unreadable time")?;
    let local = days * 86_400_000 + tod_ms;
    if utc_only {
        return Ok(Instant {
            ms: local,
            naive: false,
        });
    }
    Ok(Instant {
        ms: tz.utc_ms(local),
        naive: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_cover_iis_and_exchange() {
        assert_eq!(canon_for("c-ip"), Some(Canon::Ip));
        assert_eq!(canon_for("ClientIpAddress"), Some(Canon::Ip));
        assert_eq!(canon_for("cs(User-Agent)"), Some(Canon::Ua));
        assert_eq!(canon_for("AnchorMailbox"), None);
    }

    #[test]
    fn first_alias_wins() {
        let cols = ["DateTime", "TimeStamp", "c-ip"];
        let map = ColumnMap::new(&cols);
        assert_eq!(
            map.canon,
            vec![Some(Canon::DateTime), None, Some(Canon::Ip)]
        );
    }

    /// HttpProxy writes the `?`, IIS not: the same request has the same query.
    #[test]
    fn a_query_is_kept_without_its_question_mark() {
        let names = ["UrlStem", "UrlQuery"].map(String::from);
        let map = ColumnMap::new(&names);
        for query in ["?mailboxId=probe&x=1", "mailboxId=probe&x=1"] {
            let mut ev = Event::default();
            let values = vec![Cow::Borrowed("/mapi/emsmdb/"), Cow::Borrowed(query)];
            apply(&mut ev, &names, &map, values, ValueRules::default());
            assert_eq!(ev.query.as_deref(), Some("mailboxId=probe&x=1"));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("187"), Some(187));
        assert_eq!(parse_duration_ms("0.25"), Some(250));
        assert_eq!(parse_duration_ms("x"), None);
    }
}
