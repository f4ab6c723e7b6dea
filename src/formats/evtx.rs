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

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event as Xml};

use super::{Malformed, time};
use crate::event::{self, Event};

/// The first bytes of an EVTX file.
pub const MAGIC: &[u8] = b"ElfFile\0";

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

/// What one record's XML holds.
#[derive(Debug, Default)]
struct Record {
    system: Vec<(&'static str, String)>,
    data: Vec<(String, String)>,
    unnamed: Vec<String>,
    time: Option<String>,
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

/// Parses one record's XML into an event.
pub fn parse(xml: &str) -> Result<Event<'static>, Malformed> {
    let rec = read(xml).map_err(|e| Malformed(format!("unreadable event XML: {e}").into()))?;
    let mut ev = Event::default();
    let time = rec
        .time
        .as_deref()
        .ok_or(Malformed("event without TimeCreated".into()))?;
    ev.ts_ms = time::parse_iso(time, super::utc())
        .ok_or_else(|| Malformed(format!("unreadable TimeCreated '{time}'").into()))?
        .ms;
    let system = |name: &str| {
        rec.system
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    ev.host = system("Computer").map(|h| Cow::Owned(h.to_string()));
    ev.source = Some(Cow::Borrowed(source_of(system("Channel").unwrap_or(""))));
    ev.record_id = system("EventRecordID").and_then(|v| v.trim().parse().ok());
    let cmdlet = !rec.unnamed.is_empty()
        && system("Provider").is_some_and(|p| p.eq_ignore_ascii_case("MSExchange CmdletLogs"));
    let succeeded = system("EventID").is_some_and(|id| id.trim() == "1");
    // The values move into the event: one allocation each, made while reading.
    ev.attrs
        .reserve(rec.system.len() + rec.data.len() + rec.unnamed.len() + 3);
    for (name, value) in rec.system {
        ev.attrs.push((Cow::Borrowed(name), Cow::Owned(value)));
    }
    for (name, value) in rec.data {
        ev.attrs.push((Cow::Owned(name), Cow::Owned(value)));
    }
    if cmdlet {
        add_cmdlet(&mut ev, succeeded, &rec.unnamed);
    }
    for (i, value) in rec.unnamed.into_iter().enumerate() {
        ev.attrs
            .push((Cow::Owned(format!("Data{}", i + 1)), Cow::Owned(value)));
    }
    canonical(&mut ev);
    Ok(ev)
}

/// MSExchange Management event 1 (or 6, failed): the cmdlet, its parameters, and the message
/// as `Get-WinEvent` renders it, so that rules read the EVTX and the exported event alike.
fn add_cmdlet(ev: &mut Event<'static>, succeeded: bool, data: &[String]) {
    let cmdlet = data.first().map_or("", String::as_str).trim().to_string();
    let params = data.get(1).map_or("", String::as_str).trim().to_string();
    let outcome = if succeeded { "succeeded" } else { "failed" };
    let message = format!("Cmdlet {outcome}. Cmdlet {cmdlet}, parameters {params}.");
    ev.attrs
        .push((Cow::Borrowed("Message"), Cow::Owned(message)));
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

/// Where an element sits, as far as reading a record needs to know (element names are not
/// kept: an allocation for each of a record's forty-odd elements was a tenth of EVTX ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    System,
    EventData,
    UserData,
    Other,
}

impl Tag {
    fn of(name: &str) -> Tag {
        match name {
            "System" => Tag::System,
            "EventData" => Tag::EventData,
            "UserData" => Tag::UserData,
            _ => Tag::Other,
        }
    }
}

fn read(xml: &str) -> Result<Record, quick_xml::Error> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut rec = Record::default();
    // Elements from the root down.
    let mut path: Vec<Tag> = Vec::new();
    // The Data item being read: its name (None for unnamed) and text.
    let mut item: Option<(Option<String>, String)> = None;
    let mut text = String::new();
    loop {
        match reader.read_event()? {
            Xml::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                attributes(&e, name, &path, &mut rec);
                if is_item(name, &path) {
                    item = Some((data_name(&e, name), String::new()));
                }
                text.clear();
                path.push(Tag::of(name));
            }
            Xml::Empty(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                attributes(&e, name, &path, &mut rec);
                if is_item(name, &path) {
                    push_item(&mut rec, data_name(&e, name), String::new());
                }
            }
            Xml::Text(t) => {
                let s = t.xml10_content();
                match &mut item {
                    Some((_, v)) => v.push_str(&s),
                    None => text.push_str(&s),
                }
            }
            Xml::CData(t) => {
                let s = t.into_inner();
                match &mut item {
                    Some((_, v)) => v.push_str(&s),
                    None => text.push_str(&s),
                }
            }
            Xml::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match r.xml10_content().as_ref() {
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "amp" => Some('&'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                };
                if let Some(c) = c {
                    match &mut item {
                        Some((_, v)) => v.push(c),
                        None => text.push(c),
                    }
                }
            }
            Xml::End(e) => {
                path.pop();
                let name = e.local_name();
                let name = name.as_ref();
                if let Some((n, v)) = item.take_if(|_| is_item(name, &path)) {
                    push_item(&mut rec, n, v);
                } else if path.last() == Some(&Tag::System)
                    && let Some(k) = SYSTEM_TEXT.iter().find(|k| **k == name)
                {
                    rec.system.push((k, text.trim().to_string()));
                }
                text.clear();
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    Ok(rec)
}

/// Data items: `EventData/Data` (named or not), and the children of UserData's element.
fn is_item(name: &str, path: &[Tag]) -> bool {
    (path.last() == Some(&Tag::EventData) && (name == "Data" || name == "Binary"))
        || (path.len() >= 2 && path[path.len() - 2] == Tag::UserData)
}

fn data_name(e: &BytesStart<'_>, element: &str) -> Option<String> {
    if element != "Data" {
        return Some(element.to_string());
    }
    e.attributes().flatten().find_map(|a| {
        (a.key.local_name().as_ref() == "Name")
            .then(|| value(&a))
            .flatten()
    })
}

/// An attribute's value with its entities resolved.
fn value(a: &quick_xml::events::attributes::Attribute<'_>) -> Option<String> {
    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .ok()
        .map(|v| v.into_owned())
}

fn push_item(rec: &mut Record, name: Option<String>, value: String) {
    match name {
        Some(n) => rec.data.push((n, value)),
        None => rec.unnamed.push(value),
    }
}

/// System values held in attributes.
fn attributes(e: &BytesStart<'_>, name: &str, path: &[Tag], rec: &mut Record) {
    if path.last() != Some(&Tag::System) {
        return;
    }
    let wanted: &[(&str, &'static str)] = match name {
        "Provider" => &[("Name", "Provider")],
        "TimeCreated" => &[("SystemTime", "SystemTime")],
        "Execution" => &[("ProcessID", "ProcessID"), ("ThreadID", "ThreadID")],
        "Security" => &[("UserID", "UserID")],
        "Correlation" => &[("ActivityID", "ActivityID")],
        _ => return,
    };
    for a in e.attributes().flatten() {
        for (key, field) in wanted {
            if a.key.local_name().as_ref() == *key
                && let Some(v) = value(&a)
            {
                if *field == "SystemTime" {
                    rec.time = Some(v);
                } else {
                    rec.system.push((field, v));
                }
            }
        }
    }
}

/// The name a Windows event field has in trawl, from its path in the JSON layouts events are
/// exported in: `evtx_dump` (`Event.System.EventID`, `Event.EventData.Image`,
/// `Event.System.Provider.#attributes.Name`), Chainsaw's (`…Provider_attributes.Name`),
/// Winlogbeat/ECS (`winlog.event_data.Image`, `winlog.event_id`, `winlog.channel`) and flat
/// layouts (`SourceName`). `None` for other paths.
pub fn windows_name(path: &str) -> Option<Cow<'_, str>> {
    const ECS: [(&str, &str); 6] = [
        ("winlog.event_id", "EventID"),
        ("winlog.channel", "Channel"),
        ("winlog.computer_name", "Computer"),
        ("winlog.provider_name", "Provider"),
        ("winlog.record_id", "EventRecordID"),
        ("winlog.task", "Task"),
    ];
    if let Some((_, name)) = ECS.iter().find(|(p, _)| *p == path) {
        return Some(Cow::Borrowed(name));
    }
    if path == "SourceName" || path == "ProviderName" {
        return Some(Cow::Borrowed("Provider"));
    }
    for prefix in [
        "winlog.event_data.",
        "winlog.user_data.",
        "Event.EventData.",
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return Some(Cow::Borrowed(rest.trim_end_matches(".#text")));
        }
    }
    if let Some(rest) = path.strip_prefix("Event.UserData.") {
        return Some(Cow::Borrowed(rest.rsplit('.').next().unwrap_or(rest)));
    }
    let rest = path.strip_prefix("Event.System.")?;
    Some(Cow::Borrowed(match rest {
        "Provider.#attributes.Name" | "Provider_attributes.Name" => "Provider",
        "TimeCreated.#attributes.SystemTime" | "TimeCreated_attributes.SystemTime" => "SystemTime",
        "Execution.#attributes.ProcessID" | "Execution_attributes.ProcessID" => "ProcessID",
        "Security.#attributes.UserID" | "Security_attributes.UserID" => "UserID",
        "EventID" | "EventID.#text" => "EventID",
        other if other.starts_with("EventID") => "Qualifiers",
        other => other.split(['.', '_']).next().unwrap_or(other),
    }))
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
        ] {
            assert_eq!(windows_name(path).as_deref(), Some(name), "{path}");
        }
        assert_eq!(windows_name("url.path"), None);
    }
}
