//! Windows event logs (EVTX): read with the `evtx` crate (the parser Chainsaw and Hayabusa use),
//! each record rendered as the XML `wevtutil` shows. That XML is the stored record; [`parse`]
//! turns it into an event, at ingest and again for display.
//!
//! An event's fields are the System values (`EventID`, `Channel`, `Provider`, `Level`,
//! `EventRecordID`, …) and every EventData or UserData item under its own name (`Image`,
//! `CommandLine`, `TargetUserName`, …). MSExchange Management's items are unnamed: they become
//! `Cmdlet` and `Parameters`, and a `Message` worded as the exported event's. The same names come
//! out of Windows events that arrive as JSON lines ([`windows_name`]), so one rule reads them
//! all.

use std::borrow::Cow;

use super::{Malformed, time};
use crate::event::{self, Event};

/// The first bytes of an EVTX file.
pub const MAGIC: &[u8] = b"ElfFile\0";

/// Every `source` [`source_of`] gives: the event logs' own, whose events carry no request GUID.
pub const SOURCES: [&str; 7] = [
    "security",
    "system",
    "application",
    "msexchange-management",
    "sysmon",
    "powershell",
    "evtx",
];

/// The `source` of an event from its channel.
pub fn source_of(channel: &str) -> &'static str {
    let c = channel.to_ascii_lowercase();
    match c.as_str() {
        "security" => "security",
        "system" => "system",
        "application" => "application",
        "msexchange management" => "msexchange-management",
        _ if c.contains("sysmon") => "sysmon",
        _ if c.contains("powershell") => "powershell",
        _ => "evtx",
    }
}

/// Which Windows event this is, whatever file or format it came from: its channel and record
/// number, hashed (FNV-1a, fixed here: the value is kept in the index). With the host and time
/// of the event it tells the same event read from two copies of a log (two collections, an
/// EVTX and its JSON export) apart from a different one; the channel alone does not, as record
/// numbers start again at 1 when a log is cleared, and the time alone does not, as events of
/// several logs share a millisecond.
///
/// `None` for an event without a channel or a record number. An export without record numbers
/// (OTRF's flat JSON, `Export-Csv` of a few columns) cannot tell a copy of an event from another
/// event alike: Sysmon writes a process access repeated within one millisecond as identical
/// events (OTRF's ProxyLogon capture holds 3,786 such lines), and both happened.
pub fn record_identity(ev: &Event<'_>) -> Option<u64> {
    let channel = ev.attr("Channel")?.trim();
    let number = match ev.record_id {
        Some(r) => r,
        None => ev.attr("EventRecordID")?.trim().parse().ok()?,
    };
    if channel.is_empty() {
        return None;
    }
    let mut h = Fnv1a::default();
    for b in channel.bytes() {
        h.byte(b.to_ascii_lowercase());
    }
    h.byte(0);
    h.bytes(&number.to_le_bytes());
    Some(h.0)
}

/// 64-bit FNV-1a: small, and the same in every build (std's hasher may change between releases).
pub struct Fnv1a(pub u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }

    pub fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }
}

/// What one record's XML holds, borrowed from it wherever no entity had to be resolved.
#[derive(Debug, Default)]
struct Record<'a> {
    /// The event's fields: the System values (the first `system` of them, as the XML gives
    /// System first), then the named data items; gathered here rather than moved over later.
    attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    system: usize,
    /// Which named items (their place in `attrs[system..]`) are UserData's; the others are
    /// EventData's. Most records have none, so nothing is allocated for them.
    user_data: Vec<usize>,
    unnamed: Vec<Cow<'a, str>>,
    time: Option<Cow<'a, str>>,
}

impl<'a> Record<'a> {
    /// A System value, kept once: a record never names one twice, and a crafted one repeating
    /// a System element after its EventData would make each insert move every item read so far
    /// (90,000 of each took 8 s). The first is the one kept, as `system` reads it; the whole
    /// record stays in the event's XML.
    fn push_system(&mut self, name: &'static str, value: Cow<'a, str>) {
        if self.attrs[..self.system].iter().any(|(k, _)| k == name) {
            return;
        }
        self.attrs.insert(self.system, (Cow::Borrowed(name), value));
        self.system += 1;
    }

    fn system(&self, name: &str) -> Option<&str> {
        self.attrs[..self.system]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// System values held as element text.
const SYSTEM_TEXT: [&str; 9] = [
    "EventID",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "EventRecordID",
    "Channel",
    "Computer",
];

/// Parses one record's XML into an event; its values borrow from `xml` (measured: the owned
/// copies and quick-xml's reading were a fifth of EVTX ingest, see BENCHMARKS.md, stop 13).
pub fn parse(xml: &str) -> Result<Event<'_>, Malformed> {
    let rec = read(xml).map_err(|e| Malformed(format!("unreadable event XML: {e}").into()))?;
    let mut ev = Event::default();
    let time = rec
        .time
        .as_deref()
        .ok_or(Malformed("event without TimeCreated".into()))?;
    ev.ts_ms = time::parse_iso(time, super::utc())
        .ok_or_else(|| Malformed(format!("unreadable TimeCreated '{time}'").into()))?
        .ms;
    ev.host = rec.system("Computer").map(|h| Cow::Owned(h.to_string()));
    ev.source = Some(Cow::Borrowed(source_of(
        rec.system("Channel").unwrap_or(""),
    )));
    ev.record_id = rec
        .system("EventRecordID")
        .and_then(|v| v.trim().parse().ok());
    let cmdlet = !rec.unnamed.is_empty()
        && rec
            .system("Provider")
            .is_some_and(|p| p.eq_ignore_ascii_case("MSExchange CmdletLogs"));
    let succeeded = rec.system("EventID").is_some_and(|id| id.trim() == "1");
    ev.attrs = rec.attrs;
    if cmdlet {
        add_cmdlet(&mut ev, succeeded, &rec.unnamed);
    }
    for (i, value) in rec.unnamed.into_iter().enumerate() {
        ev.attrs.push((Cow::Owned(format!("Data{}", i + 1)), value));
    }
    canonical(&mut ev);
    Ok(ev)
}

/// An event's XML written as text by another tool than the one EVTX records come through
/// (`evtx_dump -o xml`, `wevtutil`, Event Viewer): read as a record's, its GUID-typed values
/// written as this reading writes them, and an empty item indented over lines (`<Data>` then
/// `</Data>` on the next line) empty.
pub fn parse_text(xml: &str) -> Result<Event<'_>, Malformed> {
    let mut ev = parse(xml)?;
    for (_, value) in &mut ev.attrs {
        if let Some(guid) = windows_guid(value) {
            *value = Cow::Owned(guid);
        } else if value.contains('\n') && value.trim().is_empty() {
            *value = Cow::Borrowed("");
        }
    }
    Ok(ev)
}

/// MSExchange Management event 1 (or 6, failed): the cmdlet, its parameters, and the message
/// as `Get-WinEvent` renders it, so that rules read the EVTX and the exported event alike.
fn add_cmdlet(ev: &mut Event<'_>, succeeded: bool, data: &[Cow<'_, str>]) {
    let cmdlet = data.first().map_or("", |v| v.as_ref()).trim().to_string();
    let params = data.get(1).map_or("", |v| v.as_ref()).trim().to_string();
    let outcome = if succeeded { "succeeded" } else { "failed" };
    let message = format!("Cmdlet {outcome}. Cmdlet {cmdlet}, parameters {params}.");
    ev.attrs
        .push((Cow::Borrowed("Message"), Cow::Owned(message)));
    ev.attrs.push((Cow::Borrowed("Cmdlet"), Cow::Owned(cmdlet)));
    ev.attrs
        .push((Cow::Borrowed("Parameters"), Cow::Owned(params)));
}

/// An MSExchange Management event 1 or 6 as a layout gives it: its unnamed items as `Data1`,
/// `Data2`… (evtx_dump's JSON, as the EVTX reading names them), or only its message (an
/// export): `Cmdlet` and `Parameters` are read from whichever it has, as from an EVTX record.
pub fn cmdlet(ev: &mut Event<'_>) {
    if ev.attr("Cmdlet").is_some() || !from_cmdlet_logs(ev) {
        return;
    }
    if let Some(cmdlet) = ev.attr("Data1") {
        let data = [
            Cow::Owned(cmdlet.to_string()),
            Cow::Owned(ev.attr("Data2").unwrap_or("").to_string()),
        ];
        let succeeded = ev.attr("EventID").is_some_and(|id| id.trim() == "1");
        add_cmdlet(ev, succeeded, &data);
        return;
    }
    cmdlet_from_message(ev);
}

fn from_cmdlet_logs(ev: &Event<'_>) -> bool {
    ["Provider", "ProviderName", "SourceName"]
        .iter()
        .find_map(|n| ev.attr(n))
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("MSExchange CmdletLogs"))
}

/// An exported MSExchange Management event (`Get-WinEvent | Export-Csv`, a flat JSON export)
/// carries its cmdlet only in its message, `Cmdlet succeeded. Cmdlet X, parameters Y.` (Exchange
/// spells it "suceeded"): read back into `Cmdlet` and `Parameters`, the items an EVTX record
/// gives, so `Cmdlet:Set-OabVirtualDirectory` finds the event in every layout.
fn cmdlet_from_message(ev: &mut Event<'_>) {
    let Some(message) = ev.attr("Message") else {
        return;
    };
    let Some(rest) = [
        "Cmdlet succeeded. Cmdlet ",
        "Cmdlet suceeded. Cmdlet ",
        "Cmdlet failed. Cmdlet ",
    ]
    .iter()
    .find_map(|p| message.strip_prefix(p)) else {
        return;
    };
    let Some((cmdlet, params)) = rest.split_once(", parameters ") else {
        return;
    };
    let params = params.trim_end();
    let params = params.strip_suffix('.').unwrap_or(params);
    let (cmdlet, params) = (cmdlet.trim().to_string(), params.trim().to_string());
    ev.attrs.push((Cow::Borrowed("Cmdlet"), Cow::Owned(cmdlet)));
    ev.attrs
        .push((Cow::Borrowed("Parameters"), Cow::Owned(params)));
}

/// The canonical fields a Windows event fills: the user acted for and the address a logon or a
/// ticket came from.
pub fn canonical(ev: &mut Event<'_>) {
    let value = |ev: &Event<'_>, name: &str| {
        ev.attr(name)
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != "-")
            .map(str::to_string)
    };
    if ev.user.is_none() {
        let user = match (value(ev, "TargetDomainName"), value(ev, "TargetUserName")) {
            (Some(d), Some(u)) => Some(format!("{d}\\{u}")),
            (None, Some(u)) => Some(u),
            _ => value(ev, "User").or_else(|| value(ev, "SubjectUserName")),
        };
        ev.user = user.map(Cow::Owned);
    }
    if ev.ip.is_none() {
        ev.ip = ["IpAddress", "ClientAddress", "SourceAddress"]
            .iter()
            .find_map(|n| value(ev, n).and_then(|v| event::parse_ip(&v)));
    }
}

/// Text gathered from one or more pieces: borrowed while it is one piece.
#[derive(Debug, Default)]
struct Gathered<'a>(Option<Cow<'a, str>>);

impl<'a> Gathered<'a> {
    fn push(&mut self, piece: Cow<'a, str>) {
        match &mut self.0 {
            None => self.0 = Some(piece),
            Some(v) => v.to_mut().push_str(&piece),
        }
    }

    fn take(&mut self) -> Cow<'a, str> {
        self.0.take().unwrap_or(Cow::Borrowed(""))
    }
}

fn read(xml: &str) -> Result<Record<'_>, XmlError> {
    let mut rec = Record {
        // A Security or Sysmon event has 15 to 30 fields.
        attrs: Vec::with_capacity(32),
        ..Record::default()
    };
    // Elements from the root down, with their names (for the end tags' check).
    let mut path: Vec<(Option<Section>, &str)> = Vec::new();
    // The Data item being read: its name (None for unnamed), its text, and its depth.
    let mut item: Option<(Option<Cow<'_, str>>, Gathered<'_>, usize)> = None;
    let mut text = Gathered::default();
    let mut scanner = Scanner { rest: xml };
    while let Some(token) = scanner.next_token()? {
        match token {
            Token::Start { name, attrs, empty } => {
                attributes(name, attrs, path.last().and_then(|(s, _)| *s), &mut rec)?;
                let opens_item = item.is_none() && is_item(name, &path);
                if opens_item {
                    let name = data_name(name, attrs)?;
                    if empty {
                        push_item(&mut rec, section_of(&path), name, Cow::Borrowed(""));
                    } else {
                        item = Some((name, Gathered::default(), path.len()));
                    }
                }
                if !empty {
                    text = Gathered::default();
                    path.push((Section::of(name), name));
                }
            }
            Token::Text(raw) => {
                let piece = text_value(raw)?;
                match &mut item {
                    Some((_, v, _)) => v.push(piece),
                    None => text.push(piece),
                }
            }
            Token::CData(raw) => match &mut item {
                Some((_, v, _)) => v.push(Cow::Borrowed(raw)),
                None => text.push(Cow::Borrowed(raw)),
            },
            Token::End { name } => {
                let Some((_, open)) = path.pop() else {
                    return Err(XmlError::Unexpected("an end tag without its start"));
                };
                if open != name {
                    return Err(XmlError::Unexpected(
                        "an end tag that does not match its start",
                    ));
                }
                if let Some((n, mut v, _)) = item.take_if(|(_, _, depth)| *depth == path.len()) {
                    push_item(&mut rec, section_of(&path), n, v.take());
                } else if path.last().and_then(|(s, _)| *s) == Some(Section::System)
                    && let Some(k) = SYSTEM_TEXT.iter().find(|k| **k == name)
                {
                    rec.push_system(k, trimmed(text.take()));
                }
                text = Gathered::default();
            }
        }
    }
    if !path.is_empty() {
        return Err(XmlError::Unexpected("an element left open"));
    }
    separate(&mut rec);
    Ok(rec)
}

fn trimmed(v: Cow<'_, str>) -> Cow<'_, str> {
    match v {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
        Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
    }
}

/// Data items: `EventData/Data` (named or not), and the children of UserData's element.
fn is_item(name: &str, path: &[(Option<Section>, &str)]) -> bool {
    let section = |back: usize| path.len().checked_sub(back).and_then(|i| path[i].0);
    (section(1) == Some(Section::EventData) && (name == "Data" || name == "Binary"))
        || section(2) == Some(Section::UserData)
}

/// The section an item being read belongs to (the element below the root).
fn section_of(path: &[(Option<Section>, &str)]) -> Section {
    path.get(1)
        .and_then(|(s, _)| *s)
        .unwrap_or(Section::EventData)
}

fn data_name<'a>(element: &'a str, attrs: &'a str) -> Result<Option<Cow<'a, str>>, XmlError> {
    if element != "Data" {
        return Ok(Some(Cow::Borrowed(element)));
    }
    for a in (Attributes { rest: attrs }) {
        let (key, value) = a?;
        if key == "Name" {
            return Ok(Some(unescape(value)?));
        }
    }
    Ok(None)
}

fn push_item<'a>(
    rec: &mut Record<'a>,
    section: Section,
    name: Option<Cow<'a, str>>,
    value: Cow<'a, str>,
) {
    match name {
        Some(n) => {
            if section == Section::UserData {
                rec.user_data.push(rec.attrs.len() - rec.system);
            }
            rec.attrs.push((n, value));
        }
        None => rec.unnamed.push(value),
    }
}

/// One name, one meaning, once the whole record is read (its sections may come in any order):
/// an item named like a System value is not that value. The process that wrote the event
/// (Sysmon's own) steps aside for the item rules mean by `ProcessId` (the process the event is
/// about); an item named like the event's identity (an event-processing failure's `UserData`
/// names the `EventID` it failed on) is its section's: under the System name it made
/// `EventID:4616` find a 1108.
fn separate(rec: &mut Record<'_>) {
    // System values have a fixed set of names (`SYSTEM_TEXT` and the attributes `attributes`
    // reads, fewer than 32): the first of each is the one an item meets. On the stack: this runs
    // for every record.
    let mut system = [0usize; 32];
    let mut distinct = 0;
    for i in 0..rec.system {
        if distinct < system.len()
            && !system[..distinct]
                .iter()
                .any(|&j| rec.attrs[j].0 == rec.attrs[i].0)
        {
            system[distinct] = i;
            distinct += 1;
        }
    }
    for j in rec.system..rec.attrs.len() {
        let Some(&i) = system[..distinct]
            .iter()
            .find(|&&i| rec.attrs[i].0.eq_ignore_ascii_case(&rec.attrs[j].0))
        else {
            continue;
        };
        // Pushed in order: a binary search, however many items a crafted record holds.
        let section = if rec.user_data.binary_search(&(j - rec.system)).is_ok() {
            Section::UserData
        } else {
            Section::EventData
        };
        match renamed(&rec.attrs[i].0, &rec.attrs[j].0, section) {
            Renamed::System(aside) => rec.attrs[i].0 = Cow::Borrowed(aside),
            Renamed::Item(name) => rec.attrs[j].0 = Cow::Owned(name),
        }
    }
}

/// Which of a System value and an item of `section` sharing its name is renamed, and to what.
enum Renamed {
    /// The writing process's value (`ProcessID`) steps aside: the item is what rules mean.
    System(&'static str),
    /// The item is its section's (`UserData.EventID`).
    Item(String),
}

fn renamed(system: &str, item: &str, section: Section) -> Renamed {
    match system {
        "ProcessID" => Renamed::System("System.ProcessID"),
        "ThreadID" => Renamed::System("System.ThreadID"),
        "UserID" => Renamed::System("System.UserID"),
        "ActivityID" => Renamed::System("System.ActivityID"),
        _ => Renamed::Item(format!("{}.{item}", section.name())),
    }
}

/// System values held in attributes.
fn attributes<'a>(
    name: &str,
    attrs: &'a str,
    parent: Option<Section>,
    rec: &mut Record<'a>,
) -> Result<(), XmlError> {
    if parent != Some(Section::System) {
        return Ok(());
    }
    let wanted: &[(&str, &'static str)] = match name {
        "Provider" => &[("Name", "Provider")],
        "TimeCreated" => &[("SystemTime", "SystemTime")],
        "Execution" => &[("ProcessID", "ProcessID"), ("ThreadID", "ThreadID")],
        "Security" => &[("UserID", "UserID")],
        "Correlation" => &[("ActivityID", "ActivityID")],
        _ => return Ok(()),
    };
    for a in (Attributes { rest: attrs }) {
        let (key, raw) = a?;
        if let Some((_, field)) = wanted.iter().find(|(k, _)| *k == key) {
            let v = unescape(raw)?;
            if *field == "SystemTime" {
                rec.time = Some(v);
            } else {
                rec.push_system(field, v);
            }
        }
    }
    Ok(())
}

/// Why a record's XML could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum XmlError {
    Unterminated(&'static str),
    Unexpected(&'static str),
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XmlError::Unterminated(what) => write!(f, "{what} not closed"),
            XmlError::Unexpected(what) => write!(f, "{what}"),
        }
    }
}

/// One piece of XML: tags with their attributes unread, text with its references unresolved.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Start {
        name: &'a str,
        attrs: &'a str,
        empty: bool,
    },
    End {
        name: &'a str,
    },
    Text(&'a str),
    CData(&'a str),
}

/// Reads the XML the `evtx` crate writes (elements, attributes, text, references; declarations,
/// comments and CDATA in case): a reader of its own rather than a general one, as it only has
/// to split well-formed records into borrowed pieces, and a record that is not well-formed is
/// an error, never a panic.
struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    fn next_token(&mut self) -> Result<Option<Token<'a>>, XmlError> {
        loop {
            let s = self.rest;
            if s.is_empty() {
                return Ok(None);
            }
            if !s.starts_with('<') {
                let end = memchr::memchr(b'<', s.as_bytes()).unwrap_or(s.len());
                self.rest = &s[end..];
                return Ok(Some(Token::Text(&s[..end])));
            }
            let skip = |open: &str, close: &str, what: &'static str| {
                s[open.len()..]
                    .find(close)
                    .map(|i| open.len() + i + close.len())
                    .ok_or(XmlError::Unterminated(what))
            };
            if s.starts_with("<?") {
                self.rest = &s[skip("<?", "?>", "a declaration")?..];
            } else if s.starts_with("<!--") {
                self.rest = &s[skip("<!--", "-->", "a comment")?..];
            } else if let Some(body) = s.strip_prefix("<![CDATA[") {
                let end = body
                    .find("]]>")
                    .ok_or(XmlError::Unterminated("a CDATA section"))?;
                self.rest = &body[end + 3..];
                return Ok(Some(Token::CData(&body[..end])));
            } else if s.starts_with("<!") {
                self.rest = &s[skip("<!", ">", "a declaration")?..];
            } else if let Some(body) = s.strip_prefix("</") {
                let end = memchr::memchr(b'>', body.as_bytes())
                    .ok_or(XmlError::Unterminated("an end tag"))?;
                self.rest = &body[end + 1..];
                return Ok(Some(Token::End {
                    name: local(body[..end].trim_end()),
                }));
            } else {
                return self.start_tag().map(Some);
            }
        }
    }

    fn start_tag(&mut self) -> Result<Token<'a>, XmlError> {
        let body = &self.rest[1..];
        let bytes = body.as_bytes();
        let name_end = bytes
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
            .ok_or(XmlError::Unterminated("a start tag"))?;
        if name_end == 0 {
            return Err(XmlError::Unexpected("a tag without a name"));
        }
        // The tag ends at the first `>` outside a quoted value.
        let mut i = name_end;
        let end = loop {
            let at = i + memchr::memchr3(b'>', b'"', b'\'', &bytes[i..])
                .ok_or(XmlError::Unterminated("a start tag"))?;
            match bytes[at] {
                b'>' => break at,
                quote => {
                    let close = memchr::memchr(quote, &bytes[at + 1..])
                        .ok_or(XmlError::Unterminated("an attribute value"))?;
                    i = at + 1 + close + 1;
                }
            }
        };
        let inner = &body[name_end..end];
        if memchr::memchr(b'<', inner.as_bytes()).is_some() {
            return Err(XmlError::Unexpected("a `<` inside a tag"));
        }
        let (attrs, empty) = match inner.strip_suffix('/') {
            Some(a) => (a, true),
            None => (inner, false),
        };
        self.rest = &body[end + 1..];
        Ok(Token::Start {
            name: local(&body[..name_end]),
            attrs,
            empty,
        })
    }
}

/// A name without its namespace prefix.
fn local(name: &str) -> &str {
    match memchr::memrchr(b':', name.as_bytes()) {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// The attributes of a start tag: (local name, value with references unresolved).
struct Attributes<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(&'a str, &'a str), XmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest.trim_start();
        if s.is_empty() {
            return None;
        }
        let Some(eq) = s.find('=') else {
            self.rest = "";
            return Some(Err(XmlError::Unexpected("an attribute without a value")));
        };
        let key = local(s[..eq].trim());
        let after = s[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            self.rest = "";
            return Some(Err(XmlError::Unexpected(
                "an attribute value without quotes",
            )));
        };
        let Some(len) = after[1..].find(q) else {
            self.rest = "";
            return Some(Err(XmlError::Unterminated("an attribute value")));
        };
        self.rest = &after[1 + len + 1..];
        Some(Ok((key, &after[1..1 + len])))
    }
}

/// Element text: references resolved and line ends normalised as an XML reader does (`\r\n`
/// and a lone `\r` read as `\n`).
fn text_value(raw: &str) -> Result<Cow<'_, str>, XmlError> {
    let v = unescape(raw)?;
    if memchr::memchr(b'\r', v.as_bytes()).is_none() {
        return Ok(v);
    }
    Ok(Cow::Owned(v.replace("\r\n", "\n").replace('\r', "\n")))
}

/// Resolves the predefined entities and character references; borrowed when there are none.
/// An unknown or unreadable reference is dropped, as the reader this replaces did.
fn unescape(raw: &str) -> Result<Cow<'_, str>, XmlError> {
    let Some(first) = memchr::memchr(b'&', raw.as_bytes()) else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut rest = &raw[first..];
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .ok_or(XmlError::Unterminated("a character reference"))?;
        let name = &after[..semi];
        let c = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| name.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .filter(|c| *c != '\0'),
        };
        if let Some(c) = c {
            out.push(c);
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The name a Windows event field has in trawl, from its path in the JSON layouts events are
/// exported in: `evtx_dump` (`Event.System.EventID`, `Event.EventData.Image`,
/// `Event.System.Provider.#attributes.Name`), Chainsaw's (`…Provider_attributes.Name`),
/// Winlogbeat/ECS (`winlog.event_data.Image`, `winlog.event_id`, `winlog.channel`) and flat
/// layouts (`SourceName`). `None` for other paths.
pub fn windows_name(path: &str) -> Option<(Cow<'_, str>, Section)> {
    const ECS: [(&str, &str); 6] = [
        ("winlog.event_id", "EventID"),
        ("winlog.channel", "Channel"),
        ("winlog.computer_name", "Computer"),
        ("winlog.provider_name", "Provider"),
        ("winlog.record_id", "EventRecordID"),
        ("winlog.task", "Task"),
    ];
    if let Some((_, name)) = ECS.iter().find(|(p, _)| *p == path) {
        return Some((Cow::Borrowed(name), Section::System));
    }
    if path == "SourceName" || path == "ProviderName" {
        return Some((Cow::Borrowed("Provider"), Section::System));
    }
    for (prefix, section) in [
        ("winlog.event_data.", Section::EventData),
        ("winlog.user_data.", Section::UserData),
        ("Event.EventData.", Section::EventData),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            // The attributes of the section or of its elements (a namespace), which reading the
            // XML does not keep either.
            if is_attribute_path(rest) {
                return Some((Cow::Borrowed(NOT_KEPT), section));
            }
            return Some((Cow::Borrowed(rest.trim_end_matches(".#text")), section));
        }
    }
    if let Some(rest) = path.strip_prefix("Event.UserData.") {
        if is_attribute_path(rest) {
            return Some((Cow::Borrowed(NOT_KEPT), Section::UserData));
        }
        let rest = rest.trim_end_matches(".#text");
        let name = rest.rsplit('.').next().unwrap_or(rest);
        return Some((Cow::Borrowed(name), Section::UserData));
    }
    if path.starts_with("Event.#attributes.") || path.starts_with("Event_attributes.") {
        return Some((Cow::Borrowed(NOT_KEPT), Section::System));
    }
    let rest = path.strip_prefix("Event.System.")?;
    // An element's attributes: `X.#attributes.Y` (evtx_dump's layout), `X_attributes.Y`
    // (Chainsaw's); the same as `attributes` keeps from the XML, under the same names.
    let attribute = rest
        .split_once(".#attributes.")
        .or_else(|| rest.split_once("_attributes."));
    let name = match attribute {
        Some(("Provider", "Name")) => "Provider",
        Some(("TimeCreated", "SystemTime")) => "SystemTime",
        Some(("Execution", "ProcessID")) => "ProcessID",
        Some(("Execution", "ThreadID")) => "ThreadID",
        Some(("Security", "UserID")) => "UserID",
        Some(("Correlation", "ActivityID")) => "ActivityID",
        Some(_) => NOT_KEPT,
        None => {
            let element = rest.strip_suffix(".#text").unwrap_or(rest);
            SYSTEM_TEXT
                .iter()
                .find(|n| **n == element)
                .copied()
                .unwrap_or(NOT_KEPT)
        }
    };
    Some((Cow::Borrowed(name), Section::System))
}

/// A JSON path through an element's attributes: `X.#attributes.Y` (evtx_dump's layout),
/// `X_attributes.Y` (Chainsaw's).
fn is_attribute_path(path: &str) -> bool {
    path.starts_with("#attributes.")
        || path.contains(".#attributes.")
        || path.contains("_attributes.")
}

/// A GUID-typed value as this reading of an EVTX record writes it, `{lower-case}`, from the way
/// an export wrote it: bare and in upper case (`evtx_dump`'s JSON), braced in upper case (OTRF,
/// Windows' own XML). None for anything else, and for a GUID held as text with lower-case
/// letters already (PowerShell's `ScriptBlockId`, which the EVTX too holds bare): a pivot on a
/// `ProcessGuid` finds the same process in every layout, a `ScriptBlockId` its script's parts.
pub fn windows_guid(value: &str) -> Option<String> {
    let bare = value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .unwrap_or(value);
    let normal = bare.len() == 36
        && crate::event::parse_guid(bare).is_some()
        && !bare.bytes().any(|b| b.is_ascii_lowercase());
    normal.then(|| format!("{{{}}}", bare.to_ascii_lowercase()))
}

/// Whether a name is one of the System values held as element text (`EventID`, `Channel`, …).
pub fn is_system_text(name: &str) -> bool {
    SYSTEM_TEXT.contains(&name)
}

/// The EVTX name of a System value as `Get-WinEvent`'s records name it (the properties that
/// `Export-Csv` and `ConvertTo-Json` write): `Id` is the `EventID`, `LogName` the `Channel`, so
/// that one query or rule reads an exported event as it reads the EVTX record.
pub fn winevent_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "Id" => "EventID",
        "RecordId" => "EventRecordID",
        "LogName" => "Channel",
        "ProviderName" => "Provider",
        "MachineName" => "Computer",
        "ProcessId" => "ProcessID",
        "ThreadId" => "ThreadID",
        "UserId" => "UserID",
        "ActivityId" => "ActivityID",
        "Version" => "Version",
        "Level" => "Level",
        "Task" => "Task",
        "Opcode" => "Opcode",
        "Keywords" => "Keywords",
        _ => return None,
    })
}

/// An event of a `Get-WinEvent` export read as the EVTX record: its System values under their
/// EVTX names, its `source` from its channel, its cmdlet read back from its message.
pub fn winevent(ev: &mut Event<'_>) {
    for (name, _) in &mut ev.attrs {
        if let Some(evtx_name) = winevent_name(name) {
            *name = Cow::Borrowed(evtx_name);
        }
    }
    if ev.attr("Computer").is_none()
        && let Some(host) = ev.host.clone()
    {
        ev.attrs.push((Cow::Borrowed("Computer"), host));
    }
    if let Some(channel) = ev.attr("Channel") {
        ev.source = Some(Cow::Borrowed(source_of(channel)));
    }
    cmdlet(ev);
}

/// Whether `name` is one of the System values this reading keeps (held as text or in an
/// attribute, or renamed beside an item of its name), rather than an EventData/UserData item.
pub fn is_system_name(name: &str) -> bool {
    is_system_text(name)
        || matches!(
            name,
            "Provider" | "ProcessID" | "ThreadID" | "UserID" | "ActivityID"
        )
        || name.starts_with("System.")
}

/// The name [`windows_name`] gives what reading the event's XML does not keep either (the
/// schema's namespace, the provider's GUID, an empty `Correlation`): such a value is dropped,
/// so the same event has the same fields from EVTX and from JSON.
pub const NOT_KEPT: &str = "";

/// The part of a Windows event a field comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    System,
    EventData,
    UserData,
}

impl Section {
    /// The section an element opens, if it opens one.
    fn of(element: &str) -> Option<Section> {
        match element {
            "System" => Some(Section::System),
            "EventData" => Some(Section::EventData),
            "UserData" => Some(Section::UserData),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::System => "System",
            Section::EventData => "EventData",
            Section::UserData => "UserData",
        }
    }
}

/// One name, one meaning, in an event exported as JSON as in an EVTX record (see
/// `push_item`): an item named like a System value is renamed, or the System value steps aside.
/// `sections[i]` is where `names[i]` comes from (`None`: not a Windows event's field).
pub fn separate_items(names: &mut [String], sections: &[Option<Section>]) {
    // The first System value of each name, by its name in lower case: one pass, so that a line
    // with a hundred thousand keys costs a hundred thousand lookups.
    let mut system: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if sections[i] == Some(Section::System) {
            system.entry(name.to_ascii_lowercase()).or_insert(i);
        }
    }
    if system.is_empty() {
        return;
    }
    for j in 0..names.len() {
        let Some(section @ (Section::EventData | Section::UserData)) = sections[j] else {
            continue;
        };
        let Some(&i) = system.get(&names[j].to_ascii_lowercase()) else {
            continue;
        };
        match renamed(&names[i], &names[j], section) {
            Renamed::System(aside) => names[i] = aside.to_string(),
            Renamed::Item(name) => names[j] = name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSMON: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
  <System>
    <Provider Name="Microsoft-Windows-Sysmon" Guid="{5770385f-c22a-43e0-bf4c-06f5698ffbd9}">
    </Provider>
    <EventID>1</EventID>
    <Level>4</Level>
    <TimeCreated SystemTime="2021-03-14T06:40:15.3380000Z">
    </TimeCreated>
    <EventRecordID>4711</EventRecordID>
    <Execution ProcessID="2920" ThreadID="3984">
    </Execution>
    <Channel>Microsoft-Windows-Sysmon/Operational</Channel>
    <Computer>MXS01.azsentinel.local</Computer>
    <Security UserID="S-1-5-18">
    </Security>
  </System>
  <EventData>
    <Data Name="Image">C:\Windows\System32\cmd.exe</Data>
    <Data Name="CommandLine">cmd /c whoami &amp; echo &quot;x&quot; &lt;y&gt;</Data>
    <Data Name="ParentImage">c:\windows\system32\inetsrv\w3wp.exe</Data>
    <Data Name="User">NT AUTHORITY\SYSTEM</Data>
    <Data Name="Empty"></Data>
  </EventData>
</Event>"#;

    #[test]
    fn sysmon_record() {
        let ev = parse(SYSMON).expect("parses");
        assert_eq!(
            crate::formats::time::format_ms(ev.ts_ms),
            "2021-03-14T06:40:15.338Z"
        );
        assert_eq!(ev.host.as_deref(), Some("MXS01.azsentinel.local"));
        assert_eq!(ev.source.as_deref(), Some("sysmon"));
        assert_eq!(ev.record_id, Some(4711));
        assert_eq!(ev.attr("EventID"), Some("1"));
        assert_eq!(ev.attr("Provider"), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(ev.attr("ProcessID"), Some("2920"));
        assert_eq!(ev.attr("UserID"), Some("S-1-5-18"));
        assert_eq!(
            ev.attr("CommandLine"),
            Some("cmd /c whoami & echo \"x\" <y>")
        );
        assert_eq!(
            ev.attr("ParentImage"),
            Some(r"c:\windows\system32\inetsrv\w3wp.exe")
        );
        assert_eq!(ev.attr("Empty"), Some(""));
        assert_eq!(ev.user.as_deref(), Some(r"NT AUTHORITY\SYSTEM"));
    }

    #[test]
    fn a_system_value_repeated_after_the_items_is_kept_once() {
        let items: String = (0..2000)
            .map(|i| format!("<Data Name=\"a{i}\">x</Data>"))
            .collect();
        let levels = "<Level>4</Level><Level>2</Level>".repeat(1000);
        let xml = format!(
            "<Event><EventData>{items}</EventData><System><Provider Name=\"X\"/><EventID>1</EventID><TimeCreated SystemTime=\"2021-03-05T10:00:00.000Z\"/><EventRecordID>7</EventRecordID><Channel>Application</Channel><Computer>MBX-A</Computer>{levels}</System></Event>"
        );
        let ev = parse(&xml).expect("parses");
        assert_eq!(ev.attrs.iter().filter(|(k, _)| k == "Level").count(), 1);
        assert_eq!(ev.attr("Level"), Some("4"));
        assert_eq!(ev.attr("a1999"), Some("x"));
        assert_eq!(ev.record_id, Some(7));
    }

    #[test]
    fn exchange_cmdlets_and_user_data() {
        let xml = r#"<Event><System><Provider Name="MSExchange CmdletLogs"/><EventID Qualifiers="16388">1</EventID><TimeCreated SystemTime="2021-03-14T06:40:12.987Z"/><EventRecordID>3229</EventRecordID><Channel>MSExchange Management</Channel><Computer>MXS01</Computer></System><EventData><Data>Set-OabVirtualDirectory</Data><Data>-ExternalUrl "http://f/&lt;script&gt;" -Identity "OAB"</Data><Data>corp/Users/admin</Data></EventData></Event>"#;
        let ev = parse(xml).expect("parses");
        assert_eq!(ev.source.as_deref(), Some("msexchange-management"));
        assert_eq!(ev.attr("Cmdlet"), Some("Set-OabVirtualDirectory"));
        assert_eq!(
            ev.attr("Parameters"),
            Some(r#"-ExternalUrl "http://f/<script>" -Identity "OAB""#)
        );
        assert_eq!(
            ev.attr("Message"),
            Some(
                r#"Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl "http://f/<script>" -Identity "OAB"."#
            )
        );
        assert_eq!(ev.attr("Data3"), Some("corp/Users/admin"));
        let cleared = r#"<Event><System><Provider Name="Microsoft-Windows-Eventlog"/><EventID>1102</EventID><TimeCreated SystemTime="2019-03-19T23:34:07.616911Z"/><Channel>Security</Channel><Computer>PC01</Computer></System><UserData><LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog"><SubjectUserName>IEUser</SubjectUserName><SubjectDomainName>PC01</SubjectDomainName></LogFileCleared></UserData></Event>"#;
        let ev = parse(cleared).expect("parses");
        assert_eq!(ev.attr("SubjectUserName"), Some("IEUser"));
        assert_eq!(ev.source.as_deref(), Some("security"));
    }

    /// Every value of an event under `name` (any case).
    fn all<'e>(ev: &'e Event<'_>, name: &str) -> Vec<&'e str> {
        ev.attrs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
            .collect()
    }

    #[test]
    fn items_named_like_system_values_keep_their_own_meaning() {
        // Security 1108 (the log service failed on an event): its UserData names the EventID
        // it failed on, which is not this event's.
        let failure = r#"<Event><System><Provider Name="Microsoft-Windows-Eventlog"/><EventID>1108</EventID><TimeCreated SystemTime="2015-08-24T07:14:19.218Z"/><EventRecordID>120</EventRecordID><Execution ProcessID="920" ThreadID="1860"/><Channel>Security</Channel><Computer>WIN-1</Computer></System><UserData><EventProcessingFailure><Error Code="15007"></Error><EventID>4616</EventID><PublisherID>Microsoft-Windows-Security-Auditing</PublisherID></EventProcessingFailure></UserData></Event>"#;
        let ev = parse(failure).expect("parses");
        assert_eq!(all(&ev, "EventID"), ["1108"]);
        assert_eq!(all(&ev, "UserData.EventID"), ["4616"]);
        assert_eq!(all(&ev, "ProcessID"), ["920"]);
        // The same whatever order a crafted record gives its sections in.
        let (head, rest) = failure.split_at(failure.find("<UserData>").unwrap());
        let body = rest.trim_end_matches("</Event>");
        let system_start = head.find("<System>").unwrap();
        let reordered = format!(
            "{}{body}{}</Event>",
            &head[..system_start],
            &head[system_start..]
        );
        let ev = parse(&reordered).expect("parses");
        let ids: Vec<(&str, &str)> = ev
            .attrs
            .iter()
            .filter(|(k, _)| k.ends_with("EventID"))
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(ids, [("EventID", "1108"), ("UserData.EventID", "4616")]);
        // Sysmon's `ProcessId` is the process the event is about; the writer's steps aside.
        let sysmon = SYSMON.replace(
            r#"<Data Name="Empty">"#,
            r#"<Data Name="ProcessId">7001</Data><Data Name="Empty">"#,
        );
        let ev = parse(&sysmon).expect("parses");
        assert_eq!(all(&ev, "ProcessId"), ["7001"]);
        assert_eq!(all(&ev, "System.ProcessID"), ["2920"]);
        assert_eq!(all(&ev, "EventID"), ["1"]);
    }

    #[test]
    fn logons_fill_user_and_address() {
        let xml = r#"<Event><System><EventID>4624</EventID><TimeCreated SystemTime="2021-03-14T06:40:12Z"/><Channel>Security</Channel><Computer>DC01</Computer></System><EventData><Data Name="TargetUserName">alice</Data><Data Name="TargetDomainName">CORP</Data><Data Name="IpAddress">::ffff:10.1.2.3</Data></EventData></Event>"#;
        let ev = parse(xml).expect("parses");
        assert_eq!(ev.user.as_deref(), Some(r"CORP\alice"));
        assert_eq!(ev.ip, "10.1.2.3".parse().ok());
    }

    #[test]
    fn broken_records_are_malformed_not_panics() {
        for bad in [
            "",
            "<Event>",
            "<Event><System></System></Event>",
            "<<<",
            "\u{0}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_borrow_from_the_record_unless_a_reference_is_resolved() {
        let ev = parse(SYSMON).expect("parses");
        let borrowed = |name: &str| {
            ev.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| matches!(v, Cow::Borrowed(_)))
        };
        assert_eq!(borrowed("Image"), Some(true));
        assert_eq!(borrowed("EventID"), Some(true));
        assert_eq!(borrowed("CommandLine"), Some(false));
    }

    #[test]
    fn xml_the_reader_meets() {
        // Prefixed names, a `>` and the other quote inside attribute values, a comment and a
        // declaration, CDATA, character references, CR LF in text.
        let xml = "<?xml version=\"1.0\"?><!-- c --><e:Event xmlns:e='x'><e:System><Provider Name='a>b \"q\"'/><TimeCreated SystemTime=\"2021-03-14T06:40:12Z\"/><Channel>Security</Channel></e:System><EventData><Data Name=\"A\"><![CDATA[<raw & text>]]></Data><Data Name=\"B\">x&#65;&#x42;&#0;&bogus;y</Data><Data Name=\"C\">l1\r\nl2\rl3</Data><Data Name=\"D\"/></EventData></e:Event>";
        let ev = parse(xml).expect("parses");
        assert_eq!(ev.attr("Provider"), Some("a>b \"q\""));
        assert_eq!(ev.attr("A"), Some("<raw & text>"));
        assert_eq!(ev.attr("B"), Some("xABy"));
        assert_eq!(ev.attr("C"), Some("l1\nl2\nl3"));
        assert_eq!(ev.attr("D"), Some(""));
        assert_eq!(ev.source.as_deref(), Some("security"));
    }

    #[test]
    fn xml_that_is_not_well_formed_is_an_error_with_why() {
        let time = "<TimeCreated SystemTime='2021-03-14T06:40:12Z'/>";
        for (bad, why) in [
            (format!("<Event><System>{time}</Event>"), "does not match"),
            (format!("<Event><System>{time}</System>"), "left open"),
            (
                format!("<Event><System>{time}</System></Event></Event>"),
                "without its start",
            ),
            (
                format!("<Event><System>{time}<Provider Name='x></System></Event>"),
                "not closed",
            ),
            (
                format!("<Event><System>{time}</System><!-- </Event>"),
                "not closed",
            ),
            (
                format!("<Event><System>{time}<Channel>&amp</Channel></System></Event>"),
                "not closed",
            ),
            (
                format!(
                    "<Event><System>{time}</System><EventData><Data Name>x</Data></EventData></Event>"
                ),
                "without a value",
            ),
            (
                format!("<Event><System>{time}</System>< /></Event>"),
                "without a name",
            ),
        ] {
            let err = parse(&bad).expect_err(&bad);
            assert!(err.0.contains(why), "{bad}: {}", err.0);
        }
    }

    #[test]
    fn json_layouts_name_fields_alike() {
        for (path, name) in [
            ("Event.System.EventID", "EventID"),
            ("Event.System.EventID.#text", "EventID"),
            ("Event.System.Provider.#attributes.Name", "Provider"),
            ("Event.System.Provider_attributes.Name", "Provider"),
            ("Event.EventData.CommandLine", "CommandLine"),
            (
                "Event.UserData.LogFileCleared.SubjectUserName",
                "SubjectUserName",
            ),
            ("winlog.event_data.ParentImage", "ParentImage"),
            ("winlog.event_id", "EventID"),
            ("SourceName", "Provider"),
            ("Event.System.Channel", "Channel"),
            ("Event.System.Execution.#attributes.ThreadID", "ThreadID"),
            (
                "Event.System.Correlation_attributes.ActivityID",
                "ActivityID",
            ),
            ("Event.System.Provider.#attributes.Guid", NOT_KEPT),
            ("Event.System.EventID_attributes.Qualifiers", NOT_KEPT),
            ("Event.System.Correlation", NOT_KEPT),
            ("Event.#attributes.xmlns", NOT_KEPT),
        ] {
            assert_eq!(
                windows_name(path).map(|(n, _)| n).as_deref(),
                Some(name),
                "{path}"
            );
        }
        assert_eq!(windows_name("url.path"), None);
        let section = |path: &str| windows_name(path).map(|(_, s)| s);
        assert_eq!(section("Event.System.EventID"), Some(Section::System));
        assert_eq!(
            section("Event.UserData.EventProcessingFailure.EventID"),
            Some(Section::UserData)
        );
        assert_eq!(
            section("winlog.event_data.ProcessId"),
            Some(Section::EventData)
        );
    }

    #[test]
    fn guids_are_written_as_this_reading_writes_them() {
        let g = "365ABB72-4A01-5CE7-0000-0010EE9DAC00";
        let want = Some("{365abb72-4a01-5ce7-0000-0010ee9dac00}".to_string());
        assert_eq!(windows_guid(g), want);
        assert_eq!(windows_guid(&format!("{{{g}}}")), want);
        // Held as text by Windows itself, bare and in lower case: left as written.
        assert_eq!(windows_guid("e60123ac-d637-4827-be60-3ed55801733d"), None);
        assert_eq!(windows_guid("{365abb72-4a01-5ce7-0000-0010ee9dac00}"), None);
        assert_eq!(windows_guid("not a guid"), None);
        assert_eq!(
            windows_guid("{{365ABB72-4A01-5CE7-0000-0010EE9DAC00}}"),
            None
        );
    }

    #[test]
    fn json_items_named_like_system_values_are_separated() {
        let mut names: Vec<String> = ["EventID", "ProcessID", "EventID", "ProcessId", "Image"]
            .map(String::from)
            .to_vec();
        let sections = [
            Some(Section::System),
            Some(Section::System),
            Some(Section::UserData),
            Some(Section::EventData),
            Some(Section::EventData),
        ];
        separate_items(&mut names, &sections);
        assert_eq!(
            names,
            [
                "EventID",
                "System.ProcessID",
                "UserData.EventID",
                "ProcessId",
                "Image"
            ]
        );
    }
}
