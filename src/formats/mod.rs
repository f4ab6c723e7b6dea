//! Log formats: recognition from content, framing of records, and parsing into [`Event`]s.
//!
//! Reading a file is split in two so that parsing can run in parallel:
//! * a [`Framer`] sees every record in file order and tracks what changes the meaning of later
//!   records (W3C `#Fields`, Exchange headers), publishing it as a [`Layout`];
//! * [`parse`] turns one data record into an [`Event`] given its layout, independently of every
//!   other record.
//!
//! Layouts are stored in the case, so a stored raw record can be parsed again for display.

pub mod access;
pub mod columns;
pub mod csv;
pub mod csvlog;
pub mod documents;
pub mod eventschema;
pub mod evtx;
pub mod jsonl;
pub mod text;
pub mod time;
pub mod w3c;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// The formats trawl recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatKind {
    /// W3C extended: IIS, HTTPERR, other W3C writers.
    W3c,
    /// Exchange CSV logs with `#` directives (HttpProxy, ECP, EWS, OAB generator…).
    ExchangeCsv,
    /// HttpProxy rows without any header (the standard 74 columns).
    HttpproxyHeaderless,
    /// CSV with a header row and a time column (event log exports).
    CsvExport,
    /// Apache/nginx access logs.
    Access,
    /// JSON lines with a time field.
    Jsonl,
    /// Text lines starting with an ISO 8601 timestamp.
    Text,
    /// Windows event logs (binary EVTX).
    Evtx,
    /// IIS lines without their `#Fields` (an excerpt cut by grep), in IIS's default fields.
    IisHeaderless,
    /// Pretty-printed JSON records (`evtx_dump`'s default output, a JSON array of records).
    JsonDocuments,
    /// Windows events as XML text (`evtx_dump -o xml`, `wevtutil qe /f:xml`, Event Viewer's
    /// "Save As… XML").
    EventXml,
}

impl FormatKind {
    pub fn name(self) -> &'static str {
        match self {
            FormatKind::W3c => "w3c",
            FormatKind::IisHeaderless => "iis-headerless",
            FormatKind::ExchangeCsv => "exchange-csv",
            FormatKind::HttpproxyHeaderless => "httpproxy-headerless",
            FormatKind::CsvExport => "csv-export",
            FormatKind::Access => "access",
            FormatKind::Jsonl => "jsonl",
            FormatKind::Text => "text",
            FormatKind::Evtx => "evtx",
            FormatKind::JsonDocuments => "json",
            FormatKind::EventXml => "event-xml",
        }
    }

    /// How a file of this format is cut into records.
    pub fn framing(self) -> Framing {
        match self {
            _ if self.quoted_records() => Framing::QuotedLines,
            FormatKind::JsonDocuments => Framing::Documents(documents::Syntax::Json),
            FormatKind::EventXml => Framing::Documents(documents::Syntax::EventXml),
            _ => Framing::Lines,
        }
    }

    /// CSV formats may hold newlines inside quoted values, so records are not lines.
    pub fn quoted_records(self) -> bool {
        matches!(
            self,
            FormatKind::ExchangeCsv | FormatKind::HttpproxyHeaderless | FormatKind::CsvExport
        )
    }
}

/// How a format's text is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A record is a line.
    Lines,
    /// A record is a line, or several while a CSV quote is open.
    QuotedLines,
    /// A record is a document: it may span lines or share one (see [`documents`]); the text
    /// between documents comes as records of its own, one per line.
    Documents(documents::Syntax),
}

/// The column layout in force for a run of records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Layout {
    W3c(w3c::W3cLayout),
    Csv(csvlog::CsvLayout),
    Access,
    Jsonl,
    Text,
    /// An EVTX record as XML.
    Evtx,
    /// An event as XML text: read as an EVTX record's, but cited by its line in the file.
    EventXml,
}

impl Layout {
    /// The layout with the ingest's day and month order (`--date-order`), which CSV exports'
    /// culture dates are read in; other layouts hold no such dates.
    pub fn with_date_order(self, order: time::DateOrder) -> Layout {
        match self {
            Layout::Csv(mut l) => {
                l.date_order = order;
                Layout::Csv(l)
            }
            other => other,
        }
    }

    /// The `source` value of events parsed with this layout.
    pub fn source(&self) -> &str {
        match self {
            Layout::W3c(l) => l.source(),
            Layout::Csv(l) => &l.source,
            Layout::Access => "access",
            Layout::Jsonl => "jsonl",
            Layout::Text => "text",
            Layout::Evtx | Layout::EventXml => "evtx",
        }
    }
}

impl Layout {
    /// Names of the source-specific columns this layout produces (canonical ones excluded).
    pub fn attr_names(&self) -> Vec<String> {
        let columns = match self {
            Layout::W3c(l) => &l.fields,
            Layout::Csv(l) => &l.columns,
            Layout::Access => {
                return ["protocol", "request", "vhost", "client", "extra"]
                    .map(String::from)
                    .to_vec();
            }
            Layout::Text => return vec!["message".into()],
            Layout::Jsonl | Layout::Evtx | Layout::EventXml => return Vec::new(),
        };
        // An event log's export is read under the EVTX record's names (see `evtx::winevent`).
        let winevent = matches!(self, Layout::Csv(l) if l.source == csvlog::EVENTLOG);
        columns
            .iter()
            .filter(|c| {
                !matches!(
                    columns::canon_for(c),
                    Some(
                        columns::Canon::Date
                            | columns::Canon::Time
                            | columns::Canon::DateTime
                            | columns::Canon::Host
                            | columns::Canon::Method
                            | columns::Canon::Path
                            | columns::Canon::Uri
                            | columns::Canon::Query
                            | columns::Canon::Status
                            | columns::Canon::Ua
                            | columns::Canon::User
                            | columns::Canon::Referer
                            | columns::Canon::Bytes
                            | columns::Canon::DurationMs
                    )
                )
            })
            .map(|c| match evtx::winevent_name(c) {
                Some(name) if winevent => name.to_string(),
                _ => c.clone(),
            })
            .collect()
    }

    /// True when records of this layout may carry column names the layout does not list: an
    /// event log exported as CSV has its message read back into `Cmdlet` and `Parameters`.
    pub fn has_dynamic_attrs(&self) -> bool {
        match self {
            Layout::Jsonl | Layout::Evtx | Layout::EventXml => true,
            Layout::Csv(l) => {
                l.source == csvlog::EVENTLOG
                    || l.columns
                        .iter()
                        .any(|c| c.eq_ignore_ascii_case("EventData"))
            }
            _ => false,
        }
    }
}

/// Why a record could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub Cow<'static, str>);

/// What a record means to the framer.
#[derive(Debug)]
pub enum Frame {
    /// A data record, to parse with the current layout.
    Data,
    /// A directive, comment or blank line with no effect.
    Skip,
    /// A header that changes the layout of the records after it.
    Layout(Layout),
    /// A data record whose own shape sets the layout of it and the records after it (an IIS
    /// log without its `#Fields`, read with IIS's default fields).
    DataIn(Layout),
    /// A record that can never be data (for example a row before any header).
    Malformed(Cow<'static, str>),
}

/// Settings that apply to every record of an ingest.
#[derive(Debug, Clone, Copy)]
pub struct ParseCtx {
    /// Zone for timestamps written without one.
    pub tz: time::Zone,
}

impl Default for ParseCtx {
    fn default() -> Self {
        ParseCtx { tz: utc() }
    }
}

/// UTC, the zone of times written without one unless `--tz` says otherwise.
pub fn utc() -> time::Zone {
    time::Zone::UTC
}

/// Tracks the records of one file in order.
#[derive(Debug)]
pub enum Framer {
    W3c(w3c::W3cFramer),
    Csv(csvlog::CsvFramer),
    Stateless(Option<Layout>),
    /// Documents and the text between them (see [`documents`]).
    Documents(documents::Syntax, Option<Layout>),
}

impl Framer {
    pub fn new(kind: FormatKind) -> Framer {
        match kind {
            FormatKind::W3c => Framer::W3c(w3c::W3cFramer::default()),
            FormatKind::IisHeaderless => Framer::W3c(w3c::W3cFramer::headerless()),
            FormatKind::ExchangeCsv => {
                Framer::Csv(csvlog::CsvFramer::new(csvlog::HeaderMode::Directives))
            }
            FormatKind::HttpproxyHeaderless => {
                Framer::Csv(csvlog::CsvFramer::new(csvlog::HeaderMode::HttpProxyDefault))
            }
            FormatKind::CsvExport => {
                Framer::Csv(csvlog::CsvFramer::new(csvlog::HeaderMode::FirstRow))
            }
            FormatKind::Access => Framer::Stateless(Some(Layout::Access)),
            FormatKind::Jsonl => Framer::Stateless(Some(Layout::Jsonl)),
            FormatKind::Text => Framer::Stateless(Some(Layout::Text)),
            FormatKind::Evtx => Framer::Stateless(Some(Layout::Evtx)),
            FormatKind::JsonDocuments => {
                Framer::Documents(documents::Syntax::Json, Some(Layout::Jsonl))
            }
            FormatKind::EventXml => {
                Framer::Documents(documents::Syntax::EventXml, Some(Layout::EventXml))
            }
        }
    }

    /// The layout in force before the first record, for formats that need no header.
    pub fn initial_layout(&mut self) -> Option<Layout> {
        match self {
            Framer::W3c(_) => None,
            Framer::Csv(f) => f.initial_layout(),
            Framer::Stateless(layout) | Framer::Documents(_, layout) => layout.take(),
        }
    }

    /// What the framer knows at this point of a file, to go on from there when the file has
    /// grown (a log followed); None for formats whose records can span lines, which are read
    /// again from the start.
    pub fn state(&self) -> Option<String> {
        match self {
            Framer::W3c(f) => serde_json::to_string(f).ok(),
            Framer::Stateless(_) => Some(String::new()),
            Framer::Csv(_) | Framer::Documents(..) => None,
        }
    }

    /// A framer of `kind` where [`Self::state`] left one.
    pub fn resumed(kind: FormatKind, state: &str) -> Option<Framer> {
        match Framer::new(kind) {
            Framer::W3c(_) => serde_json::from_str(state).ok().map(Framer::W3c),
            Framer::Stateless(_) => Some(Framer::Stateless(None)),
            Framer::Csv(_) | Framer::Documents(..) => None,
        }
    }

    pub fn feed(&mut self, record: &str) -> Frame {
        match self {
            Framer::W3c(f) => f.feed(record),
            Framer::Csv(f) => f.feed(record),
            Framer::Stateless(_) => {
                if record.trim().is_empty() {
                    Frame::Skip
                } else {
                    Frame::Data
                }
            }
            Framer::Documents(syntax, _) => {
                let starts = match syntax {
                    documents::Syntax::Json => record.starts_with('{'),
                    documents::Syntax::EventXml => documents::starts_event(record.as_bytes()),
                };
                if starts {
                    Frame::Data
                } else if documents::is_filler(*syntax, record.as_bytes()) {
                    Frame::Skip
                } else {
                    Frame::Malformed("text between records".into())
                }
            }
        }
    }
}

/// Parses one data record with its layout.
pub fn parse<'a>(
    layout: &'a Layout,
    record: &'a str,
    ctx: &ParseCtx,
) -> Result<Event<'a>, Malformed> {
    let ev = match layout {
        Layout::W3c(l) => w3c::parse(l, record, ctx),
        Layout::Csv(l) => csvlog::parse(l, record, ctx),
        Layout::Access => access::parse(record),
        Layout::Jsonl => jsonl::parse(record, ctx),
        Layout::Text => text::parse(record, ctx),
        Layout::Evtx => evtx::parse(record),
        Layout::EventXml => evtx::parse_text(record),
    }?;
    if !(MIN_TS_MS..=MAX_TS_MS).contains(&ev.ts_ms) {
        return Err(Malformed("time outside the years 1677 to 2262".into()));
    }
    Ok(ev)
}

/// The times the index can hold: tantivy keeps nanoseconds in an i64. Logs do carry times far
/// outside (Windows writes 1601-01-01 for "never"); such a record is malformed, not wrapped
/// around to another time.
pub const MIN_TS_MS: i64 = i64::MIN / 1_000_000 + 1;
pub const MAX_TS_MS: i64 = i64::MAX / 1_000_000 - 1;

/// How many leading lines recognition looks at.
const SNIFF_LINES: usize = 12;

/// Recognises a format from the first bytes of a file (already decoded to text). Returns why
/// not when nothing fits: trawl never guesses from a file name.
pub fn sniff(head: &str, ctx: &ParseCtx) -> Result<FormatKind, String> {
    if head.as_bytes().starts_with(evtx::MAGIC) {
        return Ok(FormatKind::Evtx);
    }
    // Binary formats (EVTX, archives) have NULs from the start; a text log may carry a few
    // in attacker-sent bytes, and runs of them where the system crashed while writing (the
    // zero-filled tail an unclean shutdown leaves, a torn line), which must not make the whole
    // file unreadable: those runs are malformed records, the lines around them events.
    let first_line = head.split('\n').next().unwrap_or("");
    // NULs outside runs of four or more (zero fill) against the other bytes.
    let (mut nuls, mut other, mut run) = (0usize, 0usize, 0usize);
    for b in head.bytes().chain(std::iter::once(b'\n')) {
        if b == 0 {
            run += 1;
            continue;
        }
        if run > 0 && run < 4 {
            nuls += run;
        }
        run = 0;
        other += 1;
    }
    if first_line.starts_with('\0') || nuls * 20 > other {
        return Err("binary content".into());
    }
    let lines: Vec<&str> = head
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .map(|l| l.trim_start_matches('\0'))
        .filter(|l| !l.trim().is_empty() && !l.contains('\0'))
        .take(SNIFF_LINES + 4)
        .collect();
    // The last line of the head may be cut short: ignore it when there are others.
    let lines = if lines.len() > 1 && !head.ends_with('\n') {
        &lines[..lines.len() - 1]
    } else {
        &lines[..]
    };
    let Some(first) = lines.first() else {
        return Err("empty".into());
    };
    if let Some(kind) = sniff_directives(lines) {
        return Ok(kind);
    }
    if first.starts_with("#TYPE ") {
        return Ok(FormatKind::CsvExport);
    }
    if csvlog::looks_like_header(first) {
        let next_is_directive = lines.get(1).is_some_and(|l| l.starts_with('#'));
        return Ok(if next_is_directive {
            FormatKind::ExchangeCsv
        } else {
            FormatKind::CsvExport
        });
    }
    let data: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with('#'))
        .take(SNIFF_LINES)
        .collect();
    let majority = |ok: &dyn Fn(&str) -> bool| {
        let hits = data.iter().filter(|l| ok(l)).count();
        hits > 0 && hits * 2 >= data.len()
    };
    if majority(&looks_like_headerless_httpproxy) {
        return Ok(FormatKind::HttpproxyHeaderless);
    }
    if majority(&|l| w3c::default_iis_fields(l).is_some()) {
        return Ok(FormatKind::IisHeaderless);
    }
    if majority(&|l| jsonl::looks_like(l, ctx)) {
        return Ok(FormatKind::Jsonl);
    }
    if majority(&access::looks_like) {
        return Ok(FormatKind::Access);
    }
    if majority(&|l| text::parse(l, ctx).is_ok()) {
        return Ok(FormatKind::Text);
    }
    // Records over several lines, or several to a line: known by the first whole one.
    if let Some(doc) = documents::first_document(documents::Syntax::Json, head)
        && jsonl::looks_like(&doc, ctx)
    {
        return Ok(FormatKind::JsonDocuments);
    }
    if let Some(doc) = documents::first_document(documents::Syntax::EventXml, head)
        && evtx::parse(&doc).is_ok()
    {
        return Ok(FormatKind::EventXml);
    }
    // A first record too long to be whole in the head: `evtx_dump`'s banner before it, or the
    // start of a Windows event.
    if documents::is_banner(first.as_bytes()) {
        match lines.get(1).map(|l| l.trim_start()) {
            Some(l) if l.starts_with('{') => return Ok(FormatKind::JsonDocuments),
            Some(l) if l.starts_with("<?xml") || l.starts_with("<Event") => {
                return Ok(FormatKind::EventXml);
            }
            _ => {}
        }
    }
    if documents::starts_windows_event(documents::Syntax::Json, head) {
        return Ok(FormatKind::JsonDocuments);
    }
    if documents::starts_windows_event(documents::Syntax::EventXml, head) {
        return Ok(FormatKind::EventXml);
    }
    Err("no known log format in the first lines".into())
}

/// W3C and Exchange files announce themselves in their directives.
fn sniff_directives(lines: &[&str]) -> Option<FormatKind> {
    let directives: Vec<&str> = lines
        .iter()
        .take(SNIFF_LINES)
        .filter_map(|l| l.strip_prefix('#'))
        .collect();
    let has = |prefix: &str| {
        directives.iter().any(|d| {
            d.get(..prefix.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        })
    };
    if has("Software: Microsoft Exchange") || has("Log-type:") {
        return Some(FormatKind::ExchangeCsv);
    }
    if let Some(fields) = directives.iter().find_map(|d| d.strip_prefix("Fields:")) {
        return Some(if fields.contains(',') {
            FormatKind::ExchangeCsv
        } else {
            FormatKind::W3c
        });
    }
    if has("Software:") || has("Version:") || has("Date:") || has("Start-Date:") {
        return Some(FormatKind::W3c);
    }
    None
}

fn looks_like_headerless_httpproxy(line: &str) -> bool {
    let fields = csv::split(line);
    (fields.len() == 74 || fields.len() == 70)
        && time::parse_iso(&fields[0], utc()).is_some()
        && crate::event::parse_guid(&fields[1]).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_the_index_cannot_hold_are_malformed() {
        let layout = Layout::W3c(w3c::W3cLayout::new(
            w3c::Dialect::Iis,
            ["date", "time", "c-ip"].map(String::from).to_vec(),
            None,
        ));
        let ctx = ParseCtx::default();
        for date in ["1601-01-01", "2263-01-01", "9999-12-31"] {
            let why = parse(&layout, &format!("{date} 00:00:00 192.0.2.1"), &ctx)
                .expect_err("out of range");
            assert!(why.0.contains("1677"), "{date}: {}", why.0);
        }
        for date in ["1678-01-01", "2021-03-05", "2262-01-01"] {
            assert!(parse(&layout, &format!("{date} 00:00:00 192.0.2.1"), &ctx).is_ok());
        }
    }

    fn sniffed(text: &str) -> Result<FormatKind, String> {
        sniff(text, &ParseCtx::default())
    }

    /// Found by `cargo fuzz run formats` (fuzz/): a directive whose first bytes end inside a
    /// character panicked when compared with a prefix.
    #[test]
    fn directives_cut_inside_a_character() {
        for text in [
            "#Dat\u{800}: x\n",
            "#Log-typ\u{e9}\n",
            "#Softwar\u{e9}\n#Fields: a b\n",
        ] {
            let _ = sniffed(text);
        }
    }

    #[test]
    fn recognises_each_format_from_content() {
        assert_eq!(
            sniffed(
                "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time c-ip\n"
            ),
            Ok(FormatKind::W3c)
        );
        assert_eq!(
            sniffed("#Software: Microsoft Exchange Server\n#Log-type: HttpProxy Logs\n"),
            Ok(FormatKind::ExchangeCsv)
        );
        assert_eq!(
            sniffed("DateTime,RequestId,AnchorMailbox\n#Software: Microsoft Exchange Server\n"),
            Ok(FormatKind::ExchangeCsv)
        );
        assert_eq!(
            sniffed("\"TimeCreated\",\"Id\",\"Message\"\n\"2021-03-05T17:42:27Z\",\"1\",\"x\"\n"),
            Ok(FormatKind::CsvExport)
        );
        assert_eq!(
            sniffed("1.2.3.4 - - [20/Jul/2009:22:59:26 +0000] \"GET / HTTP/1.0\" 200 1\n"),
            Ok(FormatKind::Access)
        );
        assert_eq!(
            sniffed("{\"ts\":\"2021-03-05T17:42:19Z\",\"msg\":\"x\"}\n"),
            Ok(FormatKind::Jsonl)
        );
        assert_eq!(
            sniffed("2021-03-05T17:42:19Z hello\n2021-03-05T17:42:20Z world\n"),
            Ok(FormatKind::Text)
        );
    }

    #[test]
    fn documents_are_known_by_their_first_record_or_evtx_dumps_banner() {
        let event = r##"{"Event":{"System":{"EventID":1,"TimeCreated":{"#attributes":{"SystemTime":"2021-03-05T10:00:00Z"}}}}}"##;
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(event).expect("json"),
        )
        .expect("pretty");
        assert_eq!(
            sniffed(&format!("Record 1\n{pretty}\n")),
            Ok(FormatKind::JsonDocuments)
        );
        assert_eq!(
            sniffed(&format!("[{event},\n{event}]")),
            Ok(FormatKind::JsonDocuments)
        );
        // A record longer than the head: the banner tells.
        assert_eq!(
            sniffed("Record 1\n{\n  \"Event\": {\n    \"EventData\": \"xxxx"),
            Ok(FormatKind::JsonDocuments)
        );
        assert_eq!(
            sniffed("Record 7\n<?xml version=\"1.0\"?>\n<Event><System><Data>xx"),
            Ok(FormatKind::EventXml)
        );
        assert_eq!(
            sniffed(
                "<Events><Event><System><TimeCreated SystemTime='2021-03-05T10:00:00Z'/></System></Event>"
            ),
            Ok(FormatKind::EventXml)
        );
        // A first record longer than the head, without a banner; a tool's message before it.
        assert_eq!(
            sniffed("[\n  {\n    \"Event\": {\n      \"EventData\": \"xxxx"),
            Ok(FormatKind::JsonDocuments)
        );
        assert_eq!(
            sniffed(
                "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Data>xx"
            ),
            Ok(FormatKind::EventXml)
        );
        assert_eq!(
            sniffed(&format!("Error: failed to read record 7\n{pretty}\n")),
            Ok(FormatKind::JsonDocuments)
        );
        // Pretty JSON without a time, XML that is not events: not guessed.
        assert!(sniffed("{\n  \"a\": 1\n}\n").is_err());
        assert!(sniffed("<?xml version=\"1.0\"?>\n<Config><Event>x</Event></Config>\n").is_err());
    }

    #[test]
    fn an_event_as_xml_text_reads_as_its_evtx_record() {
        let layout = Layout::EventXml;
        let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>\n  <System>\n    <EventID>1</EventID>\n    <TimeCreated SystemTime='2021-03-05T10:00:00Z'/>\n  </System>\n  <EventData>\n    <Data Name='ProcessGuid'>365ABB72-4A01-5CE7-0000-0010EE9DAC00</Data>\n    <Data Name='Empty'>\n    </Data>\n    <Data Name='Kept'>  a  </Data>\n  </EventData>\n</Event>";
        let ev = parse(&layout, xml, &ParseCtx::default()).expect("parses");
        assert_eq!(
            ev.attr("ProcessGuid"),
            Some("{365abb72-4a01-5ce7-0000-0010ee9dac00}")
        );
        assert_eq!(ev.attr("Empty"), Some(""));
        assert_eq!(ev.attr("Kept"), Some("  a  "));
    }

    #[test]
    fn refuses_to_guess() {
        assert!(sniffed("hello world\nthis is prose\n").is_err());
        assert_eq!(sniffed("ElfFile\0\0\0"), Ok(FormatKind::Evtx));
        assert!(sniffed("ElfFilx\0\0\0").is_err());
        assert!(sniffed("").is_err());
        assert!(sniffed("{\"msg\":\"no time\"}\n").is_err());
    }
}
