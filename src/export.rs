//! Exports other tools read: CSV and JSON lines with the canonical fields, Timesketch's import
//! format (CSV or JSONL with `message`, `datetime`, `timestamp_desc`), and Elastic Common Schema
//! JSON lines for Elasticsearch or OpenSearch bulk loading.
//!
//! Exports stream: events are read from the index a page at a time in time order, so exporting
//! ten million events holds one page in memory.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::event::EventKey;
use crate::marks::Annotations;
use crate::progress::{OnProgress, Progress, Unit};
use crate::store::Selected;
use crate::view::EventView;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CSV with the canonical fields, tags, notes, rule hits and the raw record.
    Csv,
    /// JSON lines with the canonical fields and every source column.
    Jsonl,
    /// Timesketch's CSV import format.
    TimesketchCsv,
    /// Timesketch's JSONL import format.
    TimesketchJsonl,
    /// Elastic Common Schema JSON lines.
    Ecs,
}

impl Format {
    /// The name the command line uses for it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::TimesketchCsv => "timesketch-csv",
            Format::TimesketchJsonl => "timesketch-jsonl",
            Format::Ecs => "ecs",
        }
    }

    /// Parses a format name as the command line spells it (`timesketch-csv`, `ecs`…).
    pub fn parse(name: &str) -> std::result::Result<Format, String> {
        <Format as clap::ValueEnum>::from_str(name, true).map_err(|_| {
            format!("unknown format '{name}' (csv, jsonl, timesketch-csv, timesketch-jsonl, ecs)")
        })
    }

    /// Guesses the format from a file name (`.csv`, `.jsonl`, `.ecs.jsonl`, `.timesketch.csv`).
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        Some(if lower.ends_with(".timesketch.csv") {
            Format::TimesketchCsv
        } else if lower.ends_with(".timesketch.jsonl") {
            Format::TimesketchJsonl
        } else if lower.ends_with(".ecs.jsonl") || lower.ends_with(".ecs.json") {
            Format::Ecs
        } else if lower.ends_with(".csv") {
            Format::Csv
        } else if lower.ends_with(".jsonl")
            || lower.ends_with(".json")
            || lower.ends_with(".ndjson")
        {
            Format::Jsonl
        } else {
            return None;
        })
    }
}

/// Columns of the CSV exports, in order.
pub const CSV_COLUMNS: [&str; 25] = [
    "ts",
    "host",
    "source",
    "ip",
    "client",
    "xff",
    "method",
    "path",
    "query",
    "status",
    "ua",
    "user",
    "referer",
    "bytes",
    "duration_ms",
    "request_id",
    // A Windows event's ID and one-line summary (as the timeline shows it; a log message else):
    // what a spreadsheet reader sorts and reads where a web request has method and path.
    "event_id",
    "summary",
    "rules",
    "tags",
    "note",
    "bookmark",
    "file",
    "line",
    "raw",
];

/// What travels with each event besides its fields.
struct Extra<'a> {
    tags: Vec<&'a str>,
    note: Option<&'a str>,
    bookmark: bool,
    rules: Vec<&'a str>,
}

fn opt_num(v: Option<u64>) -> String {
    v.map_or(String::new(), |n| n.to_string())
}

fn csv_row(ev: &EventView, x: &Extra<'_>) -> Vec<String> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        ev.ts.clone(),
        s(&ev.host),
        ev.source.clone(),
        s(&ev.ip),
        s(&ev.client),
        ev.xff.join(", "),
        s(&ev.method),
        s(&ev.path),
        s(&ev.query),
        opt_num(ev.status),
        s(&ev.ua),
        s(&ev.user),
        s(&ev.referer),
        opt_num(ev.bytes),
        opt_num(ev.duration_ms),
        s(&ev.request_id),
        ev.value_of("EventID").unwrap_or_default(),
        ev.summary().unwrap_or_default(),
        x.rules.join(" "),
        x.tags.join(" "),
        x.note.unwrap_or_default().to_string(),
        if x.bookmark {
            "true".into()
        } else {
            String::new()
        },
        ev.file.clone(),
        ev.line.to_string(),
        ev.raw.clone(),
    ]
}

/// A spreadsheet would run a cell starting with `=`, `+`, `-` or `@` as a formula: attacker text
/// is prefixed with `'`.
fn defuse(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn json_event(ev: &EventView, x: &Extra<'_>) -> Value {
    let mut v = serde_json::to_value(ev).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("rules".into(), json!(x.rules));
        if !x.tags.is_empty() {
            map.insert("tags".into(), json!(x.tags));
        }
        if let Some(note) = x.note {
            map.insert("note".into(), json!(note));
        }
        if x.bookmark {
            map.insert("bookmark".into(), json!(true));
        }
    }
    v
}

/// Timesketch wants a human message per event.
fn message(ev: &EventView) -> String {
    match (&ev.method, &ev.path) {
        (Some(m), Some(p)) => {
            let q = ev
                .query
                .as_deref()
                .map_or(String::new(), |q| format!("?{q}"));
            format!(
                "{} {m} {p}{q} {} {}",
                ev.address(),
                ev.status.map_or("-".into(), |s| s.to_string()),
                ev.ua.as_deref().unwrap_or("-")
            )
        }
        // A Windows event's one-line summary, as the timeline shows it (its record as XML is
        // no message: it stays in `raw` and ECS's `event.original`).
        _ => ev.windows_summary().unwrap_or_else(|| {
            ev.fields
                .iter()
                .find(|(k, _)| {
                    ["message", "cmd", "eventdata"].contains(&k.to_ascii_lowercase().as_str())
                })
                .map_or_else(|| ev.raw.clone(), |(_, v)| v.clone())
        }),
    }
}

fn timesketch_fields(ev: &EventView, x: &Extra<'_>) -> Vec<(String, String)> {
    let columns = CSV_COLUMNS.iter().map(|c| c.to_string());
    let mut fields: Vec<(String, String)> = std::iter::once(("message".to_string(), message(ev)))
        .chain(std::iter::once(("datetime".to_string(), ev.ts.clone())))
        .chain(std::iter::once((
            "timestamp_desc".to_string(),
            format!("{} event time", ev.source),
        )))
        .chain(std::iter::once((
            "timestamp".to_string(),
            (ev.ts_ms * 1000).to_string(),
        )))
        .collect();
    fields.extend(columns.zip(csv_row(ev, x)).filter(|(c, _)| c != "ts"));
    fields
}

fn ecs_event(ev: &EventView, x: &Extra<'_>) -> Value {
    // Nested objects (`{"source":{"ip":…}}`), as ECS documents are written; Elasticsearch
    // would also expand dotted keys, but jq and other readers would not.
    let mut doc = Map::new();
    let mut put = |path: &str, value: Value| {
        if value.is_null() {
            return;
        }
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap_or(path);
        let mut obj = &mut doc;
        for part in parts {
            let slot = obj
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(inner) = slot else {
                return;
            };
            obj = inner;
        }
        obj.insert(last.to_string(), value);
    };
    put("@timestamp", json!(ev.ts));
    put("message", json!(message(ev)));
    put("event.original", json!(ev.raw));
    put("event.dataset", json!(format!("trawl.{}", ev.source)));
    put("event.module", json!("trawl"));
    put("host.name", json!(ev.host));
    put("source.ip", json!(ev.ip));
    put("source.address", json!(ev.ip));
    put("http.request.method", json!(ev.method));
    put("url.path", json!(ev.path));
    put("url.query", json!(ev.query));
    put("http.response.status_code", json!(ev.status));
    put("http.response.body.bytes", json!(ev.bytes));
    put("http.request.referrer", json!(ev.referer));
    put("user_agent.original", json!(ev.ua));
    put("user.name", json!(ev.user));
    put(
        "event.duration",
        // Nanoseconds; a duration too large to say so (logs are attacker-written) is left out.
        json!(ev.duration_ms.and_then(|ms| ms.checked_mul(1_000_000))),
    );
    put("http.request.id", json!(ev.request_id));
    put("log.file.path", json!(ev.file));
    // ECS's log.offset is a byte offset; the line number is trawl's own.
    put("trawl.line", json!(ev.line));
    // The attributed client (see `attribution`); the left-most X-Forwarded-For entry could be
    // forged.
    put("client.ip", json!(ev.client));
    if ev.client.is_some() && ev.client != ev.ip {
        put("network.forwarded_ip", json!(ev.client));
    }
    // A Windows event as Winlogbeat writes one, so Kibana's Windows views read it.
    let field = |name: &str| ev.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if let Some(id) = field("EventID") {
        put("event.code", json!(id));
        for (path, name) in [
            ("winlog.event_id", "EventID"),
            ("winlog.channel", "Channel"),
            ("winlog.provider_name", "Provider"),
            ("winlog.computer_name", "Computer"),
            ("winlog.record_id", "EventRecordID"),
            ("process.executable", "Image"),
            ("process.executable", "NewProcessName"),
            ("process.command_line", "CommandLine"),
            ("process.parent.executable", "ParentImage"),
            ("process.parent.executable", "ParentProcessName"),
            ("process.parent.command_line", "ParentCommandLine"),
            ("file.path", "TargetFilename"),
            ("powershell.file.script_block_text", "ScriptBlockText"),
        ] {
            if let Some(v) = field(name) {
                put(path, json!(v));
            }
        }
    }
    if !x.tags.is_empty() {
        put("tags", json!(x.tags));
    }
    if !x.rules.is_empty() {
        put("rule.id", json!(x.rules));
    }
    if let Some(note) = x.note {
        put("trawl.note", json!(note));
    }
    if x.bookmark {
        put("trawl.bookmark", json!(true));
    }
    let columns: Map<String, Value> = ev
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !columns.is_empty() {
        // The source is in event.dataset; a source named like another trawl key cannot clash.
        put("trawl.columns", Value::Object(columns));
    }
    Value::Object(doc)
}

/// Calls `f` for each event of a selection in time order, with its marks and rule hits.
fn each_event(
    sel: &dyn Selected,
    annotations: &Annotations,
    progress: OnProgress<'_>,
    mut f: impl FnMut(&EventView, &Extra<'_>) -> Result<()>,
) -> Result<u64> {
    let any_rule = annotations.any_rule();
    let mut written = 0u64;
    let total = sel.len();
    let tell = |written: u64| {
        progress(Progress {
            done: written,
            total,
            unit: Unit::Events,
            events: written,
            ..Progress::default()
        });
    };
    sel.each_event(&mut |ev| {
        let key = EventKey::new(ev.file_id, ev.line);
        let mark = annotations.marks.marks.get(&key);
        let extra = Extra {
            tags: mark.map_or(Vec::new(), |m| m.tags.iter().map(String::as_str).collect()),
            note: mark.and_then(|m| m.note.as_deref()),
            bookmark: mark.is_some_and(|m| m.bookmark),
            rules: if any_rule.contains(key, ev.ts_ms) {
                annotations.rules_of(key, ev.ts_ms)
            } else {
                Vec::new()
            },
        };
        f(&ev, &extra)?;
        written += 1;
        if written.is_multiple_of(2048) {
            tell(written);
        }
        Ok(())
    })?;
    tell(written);
    Ok(written)
}

/// Writes the events of a query, in time order; returns how many. `progress` is told the count
/// and the total after every page.
/// Exports into a file, a FIFO, a device or `-` (see [`crate::sink`]): a regular file is
/// written under a temporary name beside it and renamed when complete, so that a failed or
/// interrupted export never leaves a truncated file under the name asked.
pub fn export_to_file(
    sel: &dyn Selected,
    annotations: &Annotations,
    format: Format,
    path: &std::path::Path,
    keep: &crate::sink::Keep,
    progress: OnProgress<'_>,
) -> Result<u64> {
    let mut sink = crate::sink::Sink::open(path, keep)?;
    let n = export(sel, annotations, format, &mut sink, progress)?;
    sink.finish()?;
    Ok(n)
}

/// Streams the events of a query, in time order, in a format.
pub fn export(
    sel: &dyn Selected,
    annotations: &Annotations,
    format: Format,
    out: &mut dyn Write,
    progress: OnProgress<'_>,
) -> Result<u64> {
    let io = |e: std::io::Error| Error::io("<export>", e);
    let csv_error = |e: csv::Error| Error::Usage(format!("csv: {e}"));
    let written = match format {
        Format::Csv | Format::TimesketchCsv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            let header: Vec<String> = match format {
                Format::TimesketchCsv => ["message", "datetime", "timestamp_desc", "timestamp"]
                    .into_iter()
                    .chain(CSV_COLUMNS.iter().copied().filter(|c| *c != "ts"))
                    .map(str::to_string)
                    .collect(),
                _ => CSV_COLUMNS.iter().map(|c| c.to_string()).collect(),
            };
            w.write_record(&header).map_err(csv_error)?;
            let n = each_event(sel, annotations, progress, |ev, extra| {
                let row: Vec<String> = match format {
                    Format::TimesketchCsv => timesketch_fields(ev, extra)
                        .into_iter()
                        .map(|(_, v)| defuse(v))
                        .collect(),
                    _ => csv_row(ev, extra).into_iter().map(defuse).collect(),
                };
                w.write_record(&row).map_err(csv_error)
            })?;
            w.flush().map_err(io)?;
            n
        }
        Format::Jsonl | Format::TimesketchJsonl | Format::Ecs => {
            each_event(sel, annotations, progress, |ev, extra| {
                let value = match format {
                    Format::Jsonl => json_event(ev, extra),
                    Format::Ecs => ecs_event(ev, extra),
                    _ => Value::Object(
                        timesketch_fields(ev, extra)
                            .into_iter()
                            .filter(|(_, v)| !v.is_empty())
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect(),
                    ),
                };
                let mut line = crate::sanitize::json_escape_unsafe(
                    serde_json::to_string(&value).map_err(|e| Error::Usage(e.to_string()))?,
                );
                line.push('\n');
                out.write_all(line.as_bytes()).map_err(io)
            })?
        }
    };
    out.flush().map_err(io)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell_request() -> EventView {
        EventView {
            ts: "2021-03-05T17:43:02.000Z".into(),
            source: "iis".into(),
            host: Some("MBX-A".into()),
            ip: Some("198.51.100.144".into()),
            method: Some("POST".into()),
            path: Some("/aspnet_client/discover.aspx".into()),
            status: Some(200),
            ua: Some("python-requests/2.25.1".into()),
            duration_ms: Some(187),
            file: "u_ex210305.log".into(),
            line: 2574,
            fields: vec![("s-ip".into(), "172.16.4.21".into())],
            raw: "2021-03-05 17:43:02 …".into(),
            ..EventView::default()
        }
    }

    #[test]
    fn ecs_documents_are_nested_objects() {
        let extra = Extra {
            tags: vec!["webshell"],
            note: Some("first POST"),
            bookmark: true,
            rules: vec!["webshell-known-name"],
        };
        let doc = ecs_event(&shell_request(), &extra);
        assert_eq!(doc["source"]["ip"], "198.51.100.144");
        assert_eq!(doc["url"]["path"], "/aspnet_client/discover.aspx");
        assert_eq!(doc["http"]["request"]["method"], "POST");
        assert_eq!(doc["http"]["response"]["status_code"], 200);
        assert_eq!(doc["event"]["duration"], 187_000_000u64);
        assert_eq!(doc["trawl"]["line"], 2574);
        assert_eq!(doc["trawl"]["note"], "first POST");
        assert_eq!(doc["trawl"]["columns"]["s-ip"], "172.16.4.21");
        assert_eq!(doc["rule"]["id"], json!(["webshell-known-name"]));
        assert!(doc.get("url.path").is_none(), "no dotted keys");
        assert!(
            doc["url"].get("query").is_none(),
            "absent values are left out"
        );
    }

    #[test]
    fn spreadsheet_formulas_are_defused() {
        assert_eq!(
            defuse("=HYPERLINK(\"http://x\")".into()),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(defuse("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(defuse("/owa/auth/x.aspx".into()), "/owa/auth/x.aspx");
    }

    #[test]
    fn formats_from_names_and_paths() {
        assert_eq!(Format::parse("timesketch-csv"), Ok(Format::TimesketchCsv));
        assert!(Format::parse("xml").is_err());
        assert_eq!(
            Format::from_path("out.timesketch.jsonl"),
            Some(Format::TimesketchJsonl)
        );
        assert_eq!(Format::from_path("OUT.ECS.JSONL"), Some(Format::Ecs));
        assert_eq!(Format::from_path("out.csv"), Some(Format::Csv));
        assert_eq!(Format::from_path("out.txt"), None);
    }
}
