//! Header-driven CSV logs: every Exchange log with `#Fields` (HttpProxy of every protocol, ECP
//! Server and Activity, EWS, Rps, OAB generator, message tracking…) and CSV exports with a header
//! row (`Get-WinEvent | Export-Csv`, spreadsheets).
//!
//! Columns are mapped by name, case-insensitively; rows shorter than the header (HttpProxy rows
//! of requests served locally) leave the missing columns empty; every unmapped column stays an
//! attribute under its own name.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::columns::{self, Canon, ColumnMap, ValueRules};
use super::time::DateOrder;
use super::{Frame, Layout, Malformed, ParseCtx, csv};
use crate::event::Event;

/// The 74 HttpProxy columns of Exchange 2016/2019, for files that lost their header.
pub const HTTPPROXY_COLUMNS: &str = "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,Protocol,UrlHost,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,Organization,AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,ErrorCode,Method,ProxyAction,TargetServer,TargetServerVersion,RoutingType,RoutingHint,BackEndCookie,ServerLocatorHost,ServerLocatorLatency,RequestBytes,ResponseBytes,TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,ModuleToHandlerSwitchingLatency,ClientReqStreamLatency,BackendReqInitLatency,BackendReqStreamLatency,BackendProcessingLatency,BackendRespInitLatency,BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,CoreLatency,RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,BackEndGenericInfo,GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,PartitionEndpointLookupLatency,RoutingStatus";

/// The layout of one header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "CsvRepr", into = "CsvRepr")]
pub struct CsvLayout {
    pub source: String,
    pub columns: Vec<String>,
    map: ColumnMap,
    /// ECP logs pack their payload into `EventData` as `S:KEY=value;` tokens.
    event_data: Option<usize>,
    /// Day and month order of culture dates (`Export-Csv`'s `3/5/2021`), as the ingest read
    /// them (see `Layout::with_date_order`).
    pub date_order: DateOrder,
}

#[derive(Serialize, Deserialize)]
struct CsvRepr {
    source: String,
    columns: Vec<String>,
    #[serde(default, skip_serializing_if = "is_auto")]
    date_order: DateOrder,
}

fn is_auto(order: &DateOrder) -> bool {
    *order == DateOrder::Auto
}

impl From<CsvRepr> for CsvLayout {
    fn from(r: CsvRepr) -> Self {
        let mut l = CsvLayout::new(r.source, r.columns);
        l.date_order = r.date_order;
        l
    }
}

impl From<CsvLayout> for CsvRepr {
    fn from(l: CsvLayout) -> Self {
        CsvRepr {
            source: l.source,
            columns: l.columns,
            date_order: l.date_order,
        }
    }
}

impl CsvLayout {
    pub fn new(source: String, columns: Vec<String>) -> Self {
        let map = if columns::is_own_export(|c| columns.iter().any(|n| n == c)) {
            ColumnMap::own_export(&columns)
        } else {
            ColumnMap::new(&columns)
        };
        let event_data = columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case("EventData"));
        CsvLayout {
            source,
            columns,
            map,
            event_data,
            date_order: DateOrder::Auto,
        }
    }

    pub fn has_time(&self) -> bool {
        self.map.has(Canon::DateTime) || self.map.has(Canon::Time)
    }
}

/// Names the source of an Exchange log from its `#Log-type` directive.
pub fn source_for_log_type(log_type: &str) -> String {
    let lower = log_type.to_ascii_lowercase();
    let named = [
        ("httpproxy", "httpproxy"),
        ("ecp server", "ecp"),
        ("ecp activity", "ecp-activity"),
        ("oab", "oab"),
        ("ews", "ews"),
        ("rps", "rps"),
    ];
    if let Some((_, source)) = named.iter().find(|(key, _)| lower.contains(key)) {
        return (*source).to_string();
    }
    let slug: String = lower
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug = slug.trim_matches('-');
    let slug = slug
        .strip_suffix("-logs")
        .or_else(|| slug.strip_suffix("-log"))
        .unwrap_or(slug);
    if slug.is_empty() {
        "exchange".to_string()
    } else {
        slug.to_string()
    }
}

/// The source of a `Get-WinEvent | Export-Csv` file, whose events are read as the EVTX record's
/// (see `evtx::winevent`).
pub const EVENTLOG: &str = "eventlog";

/// Names the source of a file that has columns but no `#Log-type`.
fn source_for_columns(columns: &[String], export: bool) -> String {
    let has = |name: &str| columns.iter().any(|c| c.eq_ignore_ascii_case(name));
    if has("AnchorMailbox") || has("RoutingHint") {
        "httpproxy".into()
    } else if has("EventData") {
        "ecp".into()
    } else if has("TimeCreated") && (has("Id") || has("EventId")) {
        EVENTLOG.into()
    } else if export {
        "csv".into()
    } else {
        "exchange".into()
    }
}

/// Whether the first data-looking record is a header row (exports) or data (headerless logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMode {
    /// Exchange logs: `#Fields` names the columns; a plain header line may precede it.
    Directives,
    /// CSV exports: the first record (after an optional `#TYPE` line) is the header.
    FirstRow,
    /// HttpProxy rows with no header at all: the standard 74 columns.
    HttpProxyDefault,
}

/// Tracks directives and header rows across a file.
#[derive(Debug)]
pub struct CsvFramer {
    mode: HeaderMode,
    log_type: Option<String>,
    columns: Option<Vec<String>>,
}

impl CsvFramer {
    pub fn new(mode: HeaderMode) -> Self {
        CsvFramer {
            mode,
            log_type: None,
            columns: None,
        }
    }

    /// The layout in force before the first record (headerless files have one).
    pub fn initial_layout(&mut self) -> Option<Layout> {
        if self.mode == HeaderMode::HttpProxyDefault {
            self.columns = Some(HTTPPROXY_COLUMNS.split(',').map(str::to_string).collect());
            return self.layout();
        }
        None
    }

    pub fn feed(&mut self, record: &str) -> Frame {
        let record = record.trim_end_matches(['\r', '\n']);
        if record.trim().is_empty() {
            return Frame::Skip;
        }
        if let Some(directive) = record.strip_prefix('#') {
            return self.directive(directive);
        }
        match (&self.columns, self.mode) {
            (None, HeaderMode::HttpProxyDefault) => {
                Frame::Malformed("no columns for a headerless file".into())
            }
            (None, _) => {
                if self.mode == HeaderMode::Directives && !looks_like_header(record) {
                    return Frame::Malformed("data row before any #Fields directive".into());
                }
                self.columns = Some(header_names(record));
                self.layout().map_or(Frame::Skip, Frame::Layout)
            }
            (Some(cols), _) => {
                // A plain header line repeating the #Fields list is not data.
                let repeats_header = cols.first().is_some_and(|c| record.starts_with(c.as_str()))
                    && header_names(record) == *cols;
                if repeats_header {
                    Frame::Skip
                } else {
                    Frame::Data
                }
            }
        }
    }

    fn directive(&mut self, directive: &str) -> Frame {
        let Some((name, value)) = directive.split_once(':') else {
            return Frame::Skip;
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "log-type" => {
                self.log_type = Some(value.trim().to_string());
                self.layout().map_or(Frame::Skip, Frame::Layout)
            }
            "fields" => {
                self.columns = Some(header_names(value.trim()));
                self.layout().map_or(Frame::Skip, Frame::Layout)
            }
            _ => Frame::Skip,
        }
    }

    fn layout(&self) -> Option<Layout> {
        let columns = self.columns.clone()?;
        let source = match &self.log_type {
            Some(t) => source_for_log_type(t),
            None => source_for_columns(&columns, self.mode == HeaderMode::FirstRow),
        };
        Some(Layout::Csv(CsvLayout::new(source, columns)))
    }
}

fn header_names(record: &str) -> Vec<String> {
    csv::split(record)
        .into_iter()
        .map(|c| c.trim().to_string())
        .collect()
}

/// A header row names its time column first in every Exchange log and most exports; Timesketch's
/// CSV (trawl's own among them) names its message first.
pub fn looks_like_header(record: &str) -> bool {
    let fields = csv::split(record);
    let Some(first) = fields.first() else {
        return false;
    };
    let timesketch = ["message", "datetime", "timestamp_desc"]
        .iter()
        .all(|c| fields.iter().any(|f| f == c));
    fields.len() >= 2
        && (timesketch
            || (columns::canon_for(first).is_some()
                && !first.as_bytes().first().is_some_and(u8::is_ascii_digit)))
}

/// Parses one data row.
pub fn parse<'a>(
    layout: &'a CsvLayout,
    record: &'a str,
    ctx: &ParseCtx,
) -> Result<Event<'a>, Malformed> {
    let record = record.trim_end_matches(['\r', '\n']);
    let values = csv::split(record);
    if values.len() > layout.columns.len() {
        return Err(Malformed(
            format!(
                "{} fields for {} header columns",
                values.len(),
                layout.columns.len()
            )
            .into(),
        ));
    }
    let mut ev = Event::default();
    let event_data = layout
        .event_data
        .and_then(|i| values.get(i).cloned())
        .filter(|v| !v.is_empty());
    let rules = ValueRules {
        plus_is_space: false,
        dash_is_empty: false,
    };
    let parts = columns::apply(&mut ev, &layout.columns, &layout.map, values, rules);
    if let Some(data) = event_data {
        apply_event_data(&mut ev, data);
    }
    if layout.source == EVENTLOG {
        super::evtx::winevent(&mut ev);
    }
    // Culture dates in the order the ingest read them, however the record is read again.
    let instant = columns::resolve_time(&parts, None, ctx.tz, layout.date_order, false)
        .map_err(|why| Malformed(why.into()))?;
    ev.ts_ms = instant.ms;
    ev.ts_naive = instant.naive;
    Ok(ev)
}

/// Spreads ECP `EventData` tokens into attributes and takes the request URL from `S:URL`.
fn apply_event_data<'a>(ev: &mut Event<'a>, data: Cow<'a, str>) {
    let tokens: Vec<(String, String)> = event_data_tokens(&data);
    // The packed column itself stays an attribute too: detections read it whole.
    for (key, value) in tokens {
        if key.eq_ignore_ascii_case("URL") && ev.path.is_none() {
            let local = strip_origin(&value).to_string();
            columns::split_uri(ev, Cow::Owned(local));
        }
        if !value.is_empty() {
            ev.attrs.push((Cow::Owned(key), Cow::Owned(value)));
        }
    }
}

fn strip_origin(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => url,
    }
}

/// Splits `S:TIME=13;'S:CMD=Set-X.Url=''a;b''';S:URL=/ecp/…` on `;` outside single-quoted
/// tokens, unquotes, and strips the type tag (`S:`, `I32:`, `Dbl:`…) from each key.
pub fn event_data_tokens(data: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes = data.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let (token, next) = if bytes[i] == b'\'' {
            quoted_token(data, i + 1)
        } else {
            let end = memchr::memchr(b';', &bytes[i..]).map_or(bytes.len(), |k| i + k);
            (data[i..end].to_string(), end + 1)
        };
        i = next;
        let (key, value) = token.split_once('=').unwrap_or((token.as_str(), ""));
        let key = match key.split_once(':') {
            Some((tag, name)) if tag.len() <= 4 && !name.is_empty() => name,
            _ => key,
        };
        if !key.is_empty() {
            out.push((key.to_string(), value.to_string()));
        }
    }
    out
}

/// Reads a single-quoted token (doubled quotes inside) starting after its opening quote; returns
/// the unquoted text and the index after the following `;`.
fn quoted_token(data: &str, start: usize) -> (String, usize) {
    let bytes = data.as_bytes();
    let mut value = String::new();
    let mut run = start;
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                value.push_str(&data[run..=i]);
                i += 2;
                run = i;
                continue;
            }
            value.push_str(&data[run..i]);
            let next = memchr::memchr(b';', &bytes[i..]).map_or(bytes.len(), |k| i + k + 1);
            return (value, next);
        }
        i += 1;
    }
    value.push_str(&data[run..]);
    (value, bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::time::format_ms;

    fn framed(lines: &[&str], mode: HeaderMode) -> CsvLayout {
        let mut framer = CsvFramer::new(mode);
        let mut layout = framer.initial_layout();
        for l in lines {
            if let Frame::Layout(new) = framer.feed(l) {
                layout = Some(new);
            }
        }
        match layout {
            Some(Layout::Csv(l)) => l,
            other => panic!("no csv layout: {other:?}"),
        }
    }

    /// trawl's own CSV export: its host, log type and client are the event's; a log type that
    /// is not a name (an escape sequence an edited export carries) is not taken as one.
    #[test]
    fn own_exports_give_back_host_source_and_client() {
        let header = "ts,host,source,ip,client,xff,method,path,file,line,raw";
        let layout = framed(&[header], HeaderMode::FirstRow);
        let ctx = ParseCtx::default();
        let row =
            "2021-03-05T17:42:27.000Z,MBX-A,iis,10.0.0.5,203.0.113.7,,GET,/owa/,/x/u_ex.log,5,raw";
        let ev = parse(&layout, row, &ctx).expect("a row");
        assert_eq!(ev.host.as_deref(), Some("MBX-A"));
        assert_eq!(ev.source.as_deref(), Some("iis"));
        assert_eq!(
            ev.client.map(|c| c.to_string()).as_deref(),
            Some("203.0.113.7")
        );
        let row =
            "2021-03-05T17:42:27.000Z,MBX-A,\u{1b}[31mx,10.0.0.5,,,GET,/owa/,/x/u_ex.log,5,raw";
        let ev = parse(&layout, row, &ctx).expect("a row");
        assert_eq!(ev.source, None);
        // Another tool's `host` (nginx's `$host`) stays the request's Host header.
        let layout = framed(&["ts,host,path,status"], HeaderMode::FirstRow);
        let ev =
            parse(&layout, "2021-03-05T17:42:27Z,mail.example.org,/,200", &ctx).expect("a row");
        assert_eq!(ev.host, None);
    }

    #[test]
    fn httpproxy_by_directives() {
        let header = format!("#Fields: {HTTPPROXY_COLUMNS}");
        let layout = framed(
            &[
                "#Software: Microsoft Exchange Server",
                "#Log-type: HttpProxy Logs",
                &header,
            ],
            HeaderMode::Directives,
        );
        assert_eq!(layout.source, "httpproxy");
        assert_eq!(layout.columns.len(), 74);
        let row = "2021-03-05T17:42:19.506Z,b103bde8-1dfd-46c0-9474-4b3277e3332a,15,2,792,3,,Ecp,mail.example.org,/ecp/t.js,,,false,,,ServerInfo~a]@MBX-A.corp.example.org:444/ecp/proxyLogon.ecp?#,python-requests/2.19.1,198.51.100.144,MBX-A,241,241,,POST,Proxy,MBX-A.corp.example.org";
        let ev = parse(&layout, row, &ParseCtx::default()).expect("short rows are fine");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T17:42:19.506Z");
        assert_eq!(ev.host.as_deref(), Some("MBX-A"));
        assert_eq!(ev.status, Some(241));
        assert_eq!(ev.ua.as_deref(), Some("python-requests/2.19.1"));
        assert_eq!(ev.user, None);
        assert_eq!(
            ev.attr("AnchorMailbox"),
            Some("ServerInfo~a]@MBX-A.corp.example.org:444/ecp/proxyLogon.ecp?#")
        );
        assert!(ev.request_id.is_some());
    }

    #[test]
    fn plain_header_then_directives() {
        let layout = framed(
            &[
                "DateTime,RequestId,AnchorMailbox",
                "#Software: Microsoft Exchange Server",
                "#Fields: DateTime,RequestId,AnchorMailbox",
                "DateTime,RequestId,AnchorMailbox",
            ],
            HeaderMode::Directives,
        );
        assert_eq!(layout.columns.len(), 3);
        let mut framer = CsvFramer::new(HeaderMode::Directives);
        framer.feed("#Fields: DateTime,RequestId,AnchorMailbox");
        assert!(matches!(
            framer.feed("DateTime,RequestId,AnchorMailbox"),
            Frame::Skip
        ));
    }

    #[test]
    fn too_many_fields_is_malformed() {
        let layout = CsvLayout::new("x".into(), vec!["DateTime".into(), "A".into()]);
        assert!(parse(&layout, "2021-03-05T00:00:00Z,a,b", &ParseCtx::default()).is_err());
    }

    #[test]
    fn ecp_event_data_tokens() {
        let data = "S:TIME=1544;S:SID=c5f2;'S:CMD=Set-OabVirtualDirectory.ExternalUrl=''http://f/<script language=\"JScript\">x;y</script>''.Identity=''0d82''';S:REQID=;S:URL=/ecp/DDI/DDIService.svc/SetObject?msExchEcpCanary=K&schema=OABVirtualDirectory;S:TNAME=<null>";
        let tokens = event_data_tokens(data);
        let get = |k: &str| {
            tokens
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("TIME"), Some("1544"));
        assert_eq!(
            get("CMD"),
            Some(
                "Set-OabVirtualDirectory.ExternalUrl='http://f/<script language=\"JScript\">x;y</script>'.Identity='0d82'"
            )
        );
        assert_eq!(get("REQID"), Some(""));
        assert!(get("URL").is_some_and(|u| u.ends_with("schema=OABVirtualDirectory")));
    }

    #[test]
    fn ecp_row_takes_path_from_url() {
        let layout = CsvLayout::new(
            "ecp".into(),
            vec![
                "TimeStamp".into(),
                "ServerName".into(),
                "EventId".into(),
                "EventData".into(),
            ],
        );
        let row = "2023-01-11T00:02:33.966Z,SERVER-HOSTNAME,ECP.Request,S:TIME=13;S:CMD=Get-InboxRule;S:URL=/ecp/RulesEditor/InboxRules.svc/GetList?msExchEcpCanary=CANARY;S:TNAME=<null>";
        let ev = parse(&layout, row, &ParseCtx::default()).expect("parses");
        assert_eq!(ev.host.as_deref(), Some("SERVER-HOSTNAME"));
        assert_eq!(
            ev.path.as_deref(),
            Some("/ecp/RulesEditor/InboxRules.svc/GetList")
        );
        assert_eq!(ev.attr("CMD"), Some("Get-InboxRule"));
    }

    #[test]
    fn event_export_with_type_line() {
        let layout = framed(
            &[
                "#TYPE Selected.System.Management.Automation.PSCustomObject",
                "\"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"",
            ],
            HeaderMode::FirstRow,
        );
        assert_eq!(layout.source, "eventlog");
        let row = "\"2021-03-05T17:42:27.0930000Z\",\"1\",\"Information\",\"MSExchange CmdletLogs\",\"MSExchange Management\",\"MBX-A.corp.example.org\",\"Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl \"\"http://f/<script>\"\".\"";
        let ev = parse(&layout, row, &ParseCtx::default()).expect("parses");
        assert_eq!(ev.host.as_deref(), Some("MBX-A.corp.example.org"));
        assert!(
            ev.attr("Message")
                .is_some_and(|m| m.contains("\"http://f/<script>\""))
        );
        // The cmdlet and its parameters, as an EVTX record's items give them.
        assert_eq!(ev.attr("Cmdlet"), Some("Set-OabVirtualDirectory"));
        assert_eq!(
            ev.attr("Parameters"),
            Some("-ExternalUrl \"http://f/<script>\"")
        );
    }

    #[test]
    fn log_type_names() {
        assert_eq!(
            source_for_log_type("ECP Activity Context Log"),
            "ecp-activity"
        );
        assert_eq!(
            source_for_log_type("Message Tracking Log"),
            "message-tracking"
        );
        assert_eq!(source_for_log_type("EWS Logs"), "ews");
    }
}
