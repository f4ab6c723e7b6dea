//! JSON lines: one object per line with a recognisable time field. Nested objects are flattened
//! to dotted names (`user_agent.original`), so every key stays searchable under its own name.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::columns::{self, Canon, TimeParts, ValueRules};
use super::evtx::Section;
use super::{Malformed, ParseCtx, time};
use crate::event::Event;

/// Parses one line.
pub fn parse<'a>(line: &'a str, ctx: &ParseCtx) -> Result<Event<'a>, Malformed> {
    let value: Value = serde_json::from_str(line.trim())
        .map_err(|e| Malformed(format!("invalid JSON: {e}").into()))?;
    let Value::Object(object) = value else {
        return Err(Malformed("JSON value is not an object".into()));
    };
    let mut flat = Vec::new();
    // Where an own export's source columns start in `flat`: they are the event's own items,
    // kept as written (a trailing space, an empty `UserName`) and never a canonical field's.
    let mut columns_from = None;
    let own_export = columns::is_own_export(|k| object.contains_key(k));
    if own_export {
        // trawl's own export: its canonical fields first (they win over a column of the source
        // feeding the same one), then the source's columns under their own names rather than
        // `fields.…`. The record it was read from and the rules that hit it are not the event's:
        // the line holds them, and rules run again.
        let mut columns = None;
        for (key, value) in &object {
            match (key.as_str(), value) {
                ("fields", Value::Object(inner)) => columns = Some(inner),
                ("raw" | "raw_bytes" | "rules", _) => {}
                // Its X-Forwarded-For as the header wrote it.
                ("xff", Value::Array(chain)) => {
                    let chain: Vec<String> = chain.iter().cloned().map(scalar_text).collect();
                    flat.push((key.clone(), Value::String(chain.join(", "))));
                }
                (_, Value::Object(inner)) => flatten(key, inner, &mut flat),
                _ => flat.push((key.clone(), value.clone())),
            }
        }
        if let Some(columns) = columns {
            columns_from = Some(flat.len());
            flatten("", columns, &mut flat);
        }
    } else {
        flatten("", &object, &mut flat);
    }
    let flat_windows = is_flat_windows(&object);
    let winevent = is_winevent(&object);
    // What names a `Get-WinEvent` export's unnamed `Properties` (see `eventschema`).
    let provider = object.get("ProviderName").and_then(Value::as_str);
    let event_id = object.get("Id").and_then(Value::as_u64);

    let mut ev = Event::default();
    let mut epoch = None;
    let mut names: Vec<String> = Vec::with_capacity(flat.len());
    let mut values: Vec<Cow<'a, str>> = Vec::with_capacity(flat.len());
    // Where in a Windows event each name comes from, if it is one's (see below).
    let mut sections = Vec::with_capacity(flat.len());
    for (j, (name, value)) in flat.into_iter().enumerate() {
        if columns_from.is_some_and(|from| j >= from) {
            let section = if super::evtx::is_system_text(&name) {
                Section::System
            } else {
                Section::EventData
            };
            let text = match value {
                Value::Null => String::new(),
                v => scalar_text(v),
            };
            sections.push(Some(section));
            names.push(name);
            values.push(Cow::Owned(text));
            continue;
        }
        // Windows events exported as JSON (evtx_dump, Chainsaw, Winlogbeat, flat layouts) take
        // the names an EVTX record's fields have, so one rule reads them all.
        let (name, section) = match super::evtx::windows_name(&name) {
            Some((n, _)) if n == super::evtx::NOT_KEPT => continue,
            Some((n, section)) => (n.into_owned(), Some(section)),
            None if flat_windows && !name.contains('.') => {
                let section = flat_section(&name);
                (name, section)
            }
            None if winevent && name == "Properties" => {
                // The event's items, unnamed, as `{"Value": …}` (`-Depth 3` and more); at the
                // default depth each is the text "System.Diagnostics.Eventing.Reader.
                // EventProperty", which says nothing.
                if let Value::Array(items) = value {
                    let props: Vec<Option<Value>> = items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(mut o) => o.remove("Value"),
                            _ => None,
                        })
                        .collect();
                    // A well-known event's values take its items' names, as in the EVTX,
                    // when every item has its value (a gap would shift the names after it);
                    // another's are `Data1`, `Data2`… by position, as unnamed items are.
                    let known = provider
                        .zip(event_id)
                        .filter(|_| props.iter().all(Option::is_some))
                        .and_then(|(p, id)| super::eventschema::item_names(p, id, props.len()));
                    for (i, v) in props.into_iter().enumerate() {
                        let Some(v) = v else {
                            continue;
                        };
                        names.push(match known {
                            Some(known) => known[i].to_string(),
                            None => format!("Data{}", i + 1),
                        });
                        sections.push(Some(Section::EventData));
                        values.push(Cow::Owned(match v {
                            Value::Null => String::new(),
                            v => scalar_text(v),
                        }));
                    }
                }
                continue;
            }
            None if winevent && !name.contains('.') => match super::evtx::winevent_name(&name) {
                Some(n) => (n.to_string(), Some(Section::System)),
                None => (name, None),
            },
            None => (name, None),
        };
        let item = matches!(section, Some(Section::EventData | Section::UserData));
        let value = match value {
            // An empty item (`<Data Name="X"/>`) is written `null`; other nulls say nothing.
            Value::Null if item => Value::String(String::new()),
            Value::Null => continue,
            // Unnamed items (MSExchange Management's, System's 7036…): `Data1`, `Data2`… as
            // the EVTX reading names them.
            Value::Array(data) if item && name == "Data" => {
                for (i, v) in data.into_iter().enumerate() {
                    names.push(format!("Data{}", i + 1));
                    sections.push(section);
                    values.push(Cow::Owned(match v {
                        Value::Null => String::new(),
                        v => scalar_text(v),
                    }));
                }
                continue;
            }
            other => other,
        };
        let name = if item && name == "Data" {
            "Data1".to_string()
        } else {
            name
        };
        sections.push(section);
        let last = name.rsplit('.').next().unwrap_or(&name);
        let is_time = columns::canon_for(&name).or_else(|| columns::canon_for(last));
        if epoch.is_none()
            && is_time == Some(Canon::DateTime)
            && let Value::Number(n) = &value
        {
            epoch = n.as_f64().and_then(time::parse_epoch);
        }
        names.push(name);
        let mut text = scalar_text(value);
        if section.is_some()
            && let Some(guid) = super::evtx::windows_guid(&text)
        {
            text = guid;
        }
        values.push(Cow::Owned(text));
    }
    super::evtx::separate_items(&mut names, &sections);
    let items: Vec<bool> = sections.iter().map(Option::is_some).collect();
    // An event's own items stay under their names, as an EVTX record's do: its `Status` is an
    // NTSTATUS code, its `Path` a script's, its `Computer` a full name, not a web request's
    // status, path or server. Only the event's time (`SystemTime`, else a time item) is read
    // as the time; Sysmon's `UtcTime` stays an item beside it. The other items are hidden from
    // the mapping, so that they take no canonical field from a column after them.
    let event_time = names
        .iter()
        .zip(&items)
        .position(|(n, item)| *item && n == "SystemTime");
    let is_time = |name: &str| columns::canon_for(name) == Some(Canon::DateTime);
    // Else a time column of the export's own (`@timestamp`, `TimeCreated`) before an item's.
    let plain_time = names
        .iter()
        .zip(&items)
        .any(|(n, item)| !item && is_time(n));
    let mapped: Vec<&str> = names
        .iter()
        .zip(&items)
        .enumerate()
        .map(|(j, (name, item))| {
            let is_time = match event_time {
                Some(i) => i == j,
                None => is_time(name) && !(*item && plain_time),
            };
            if *item && !is_time { "" } else { name.as_str() }
        })
        .collect();
    let map = if own_export {
        columns::ColumnMap::own_export(&mapped)
    } else {
        columns::ColumnMap::with_suffixes(&mapped)
    };
    let rules = ValueRules::default();
    // An item's value is kept as written, empty or with its spaces (`LogonProcessName` is
    // `NtLmSsp `), as the EVTX reading keeps it; the mapping would trim it or drop it.
    let mut kept = Vec::new();
    for (j, name) in mapped.iter().enumerate() {
        if name.is_empty() {
            kept.push((j, std::mem::take(&mut values[j])));
        }
    }
    let parts: TimeParts<'_> = columns::apply(&mut ev, &names, &map, values, rules);
    for (j, value) in kept {
        ev.attrs.push((Cow::Borrowed(names[j].as_str()), value));
    }
    let instant = match epoch {
        Some(i) => i,
        None => columns::resolve_time(&parts, None, ctx.tz, time::DateOrder::Auto, false)
            .map_err(|why| Malformed(why.into()))?,
    };
    ev.ts_ms = instant.ms;
    ev.ts_naive = instant.naive;
    if items.contains(&true) || ev.attr("EventID").is_some() {
        if ev.host.is_none() {
            ev.host = ev.attr("Computer").map(|c| Cow::Owned(c.to_string()));
        }
        super::evtx::canonical(&mut ev);
        super::evtx::cmdlet(&mut ev);
        // Named by channel like an EVTX record's, so `source:sysmon` reads both.
        let source = ev.attr("Channel").map(super::evtx::source_of);
        if let Some(source) = source {
            ev.source = Some(Cow::Borrowed(source));
        }
    }
    // Attribute names borrow from `names`, which dies here: own them.
    Ok(ev.into_owned())
}

fn flatten(prefix: &str, object: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten(&name, inner, out),
            other => out.push((name, other.clone())),
        }
    }
}

fn scalar_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// A flat export of a Windows event (OTRF's, NXLog's: `EventID` beside `Channel` or the
/// provider, and the event's items, side by side at the top) is read as an EVTX record is: its
/// System names are System values and its other top-level names items, so that `IpAddress`,
/// `User` or `Status` stay the event's own (`canonical` then derives `user` and `ip` as from an
/// EVTX record) instead of being taken for a web log's columns.
fn is_flat_windows(object: &Map<String, Value>) -> bool {
    object.contains_key("EventID")
        && ["Channel", "SourceName", "ProviderName"]
            .iter()
            .any(|k| object.contains_key(*k))
}

/// A Windows event as `Get-WinEvent | ConvertTo-Json` writes it: the record object's
/// properties (`Id`, `RecordId`, `LogName`, `ProviderName`, `TimeCreated`, `Message`), read under
/// the EVTX record's names (see [`super::evtx::winevent_name`]).
fn is_winevent(object: &Map<String, Value>) -> bool {
    object.contains_key("Id")
        && object.contains_key("RecordId")
        && object.contains_key("TimeCreated")
        && (object.contains_key("LogName") || object.contains_key("ProviderName"))
}

/// Where a top-level name of a flat Windows export comes from: the export's own time and host
/// columns stay mapped (None).
fn flat_section(name: &str) -> Option<Section> {
    if super::evtx::is_system_text(name) {
        return Some(Section::System);
    }
    match columns::canon_for(name) {
        Some(Canon::Host | Canon::Date | Canon::Time) => None,
        Some(Canon::DateTime) if !name.eq_ignore_ascii_case("UtcTime") => None,
        _ => Some(Section::EventData),
    }
}

/// True when a line is a JSON object with a time field this parser can read.
pub fn looks_like(line: &str, ctx: &ParseCtx) -> bool {
    line.trim_start().starts_with('{') && parse(line, ctx).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::time::format_ms;

    /// OTRF's and NXLog's flat layout: the event's items side by side with `EventID`.
    #[test]
    fn a_flat_windows_export_keeps_its_items_as_an_evtx_record_does() {
        let ev = parse(
            r#"{"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","Hostname":"MXS01.corp","EventID":4625,"@timestamp":"2021-03-14T01:39:59.076Z","UtcTime":"2021-03-14 06:39:59.076","TargetUserName":"admin","TargetDomainName":"CORP","IpAddress":"192.0.2.7","Status":"0xc000006d","Path":"C:\\x.ps1","User":"CORP\\svc"}"#,
            &ParseCtx::default(),
        )
        .expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-14T01:39:59.076Z");
        assert_eq!(ev.host.as_deref(), Some("MXS01.corp"));
        assert_eq!(ev.attr("IpAddress"), Some("192.0.2.7"));
        assert_eq!(ev.attr("Status"), Some("0xc000006d"));
        assert_eq!(ev.attr("Path"), Some(r"C:\x.ps1"));
        assert_eq!(ev.attr("User"), Some(r"CORP\svc"));
        assert_eq!(ev.attr("UtcTime"), Some("2021-03-14 06:39:59.076"));
        assert_eq!((ev.status, ev.path.as_deref()), (None, None));
        assert_eq!(ev.user.as_deref(), Some(r"CORP\admin"));
        assert_eq!(ev.ip.map(|ip| ip.to_string()).as_deref(), Some("192.0.2.7"));
        assert_eq!(ev.source.as_deref(), Some("security"));
        // Without `EventID` it is any JSON log: a `user` column is the user.
        let ev = parse(
            r#"{"ts":"2021-03-14T01:39:59Z","Channel":"x","user":"bob","Status":"404"}"#,
            &ParseCtx::default(),
        )
        .expect("parses");
        assert_eq!((ev.user.as_deref(), ev.status), (Some("bob"), Some(404)));
    }

    /// `Get-WinEvent | ConvertTo-Json`'s `Properties`: named by the event's template when every
    /// value is there, by position otherwise (a gap would shift every name after it).
    #[test]
    fn winevent_properties_take_names_only_when_whole() {
        let line = |values: &[&str]| {
            let props: Vec<String> = values
                .iter()
                .map(|v| match *v {
                    "GAP" => "{}".to_string(),
                    v => format!(r#"{{"Value":"{v}"}}"#),
                })
                .collect();
            format!(
                r#"{{"Id":4625,"RecordId":7,"TimeCreated":"/Date(1615704061123)/","LogName":"Security","ProviderName":"Microsoft-Windows-Security-Auditing","Properties":[{}]}}"#,
                props.join(",")
            )
        };
        let mut values = vec!["-"; 21];
        values[5] = "admin";
        values[19] = "203.0.113.9";
        let whole = line(&values);
        let ev = parse(&whole, &ParseCtx::default()).expect("parses");
        assert_eq!(ev.attr("TargetUserName"), Some("admin"));
        assert_eq!(ev.attr("IpAddress"), Some("203.0.113.9"));
        values[2] = "GAP";
        let gapped = line(&values);
        let ev = parse(&gapped, &ParseCtx::default()).expect("parses");
        assert_eq!(ev.attr("TargetUserName"), None);
        assert_eq!(ev.attr("Data6"), Some("admin"));
        assert_eq!(ev.attr("Data3"), None);
    }

    #[test]
    fn flat_and_nested() {
        let ev = parse(
            r#"{"@timestamp":"2021-03-05T17:42:19Z","source":{"ip":"192.0.2.7"},"url":{"path":"/ecp/y.js"},"user_agent":{"original":"curl/8"},"http":{"response":{"status_code":200}},"tags":["a","b"]}"#,
            &ParseCtx::default(),
        )
        .expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T17:42:19.000Z");
        assert_eq!(ev.ip, "192.0.2.7".parse().ok());
        assert_eq!(ev.path.as_deref(), Some("/ecp/y.js"));
        assert_eq!(ev.ua.as_deref(), Some("curl/8"));
        assert_eq!(ev.status, Some(200));
        assert_eq!(ev.attr("tags"), Some(r#"["a","b"]"#));
    }

    #[test]
    fn epoch_and_naive_times() {
        let ev = parse(r#"{"ts": 1614966139.5, "msg": "x"}"#, &ParseCtx::default()).expect("epoch");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T17:42:19.500Z");
        let ev = parse(
            r#"{"CreationTime":"2022-05-07T12:55:53","Operation":"x"}"#,
            &ParseCtx::default(),
        )
        .expect("naive");
        assert!(ev.ts_naive);
        assert_eq!(ev.attr("Operation"), Some("x"));
    }

    #[test]
    fn a_windows_events_items_stay_its_own_wherever_they_come() {
        // Sysmon's `UtcTime` before the event's `SystemTime`, a web-looking column after both.
        let ev = parse(
            r##"{"Event":{"EventData":{"UtcTime":"2021-03-05 10:00:00.000","Path":"C:\\x.ps1","Status":"0xc000006d"},"System":{"EventID":1,"Computer":"EX1.corp","TimeCreated":{"#attributes":{"SystemTime":"2021-03-05T10:00:05.000Z"}}}},"source":{"ip":"192.0.2.7"}}"##,
            &ParseCtx::default(),
        )
        .expect("parses");
        assert_eq!(format_ms(ev.ts_ms), "2021-03-05T10:00:05.000Z");
        assert_eq!(ev.attr("UtcTime"), Some("2021-03-05 10:00:00.000"));
        assert_eq!(ev.attr("Path"), Some(r"C:\x.ps1"));
        assert_eq!(ev.attr("Status"), Some("0xc000006d"));
        assert_eq!(ev.attr("Computer"), Some("EX1.corp"));
        assert_eq!((ev.path.as_deref(), ev.status), (None, None));
        assert_eq!(ev.host.as_deref(), Some("EX1.corp"));
        assert_eq!(ev.ip, "192.0.2.7".parse().ok());
    }

    #[test]
    fn rejects_non_objects_and_timeless() {
        assert!(parse("[1,2]", &ParseCtx::default()).is_err());
        assert!(parse(r#"{"msg":"no time"}"#, &ParseCtx::default()).is_err());
        assert!(parse(r#"{"ts": "#, &ParseCtx::default()).is_err());
    }
}
