//! What one event looks like to a reader: the stored raw record, parsed again with the layout it
//! was ingested with, plus its provenance. Used by `search`, the timeline and exports.

use serde::Serialize;
use serde_json::{Map, Value};
use tantivy::columnar::Column;
use tantivy::schema::Value as _;
use tantivy::{DocAddress, Searcher, TantivyDocument};

use crate::case::Manifest;
use crate::error::Result;
use crate::event::{self, names};
use crate::formats::{self, ParseCtx};
use crate::schema::Fields;

/// An event ready to show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventView {
    pub ts: String,
    #[serde(skip)]
    pub ts_ms: i64,
    pub host: Option<String>,
    pub source: String,
    pub ip: Option<String>,
    /// Where the request really came from (see `attribution`): `ip`, or behind a proxy the
    /// address X-Forwarded-For names, or the front-end request's client for HttpProxy and
    /// back-end rows.
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub xff: Vec<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub query: Option<String>,
    pub status: Option<u64>,
    pub ua: Option<String>,
    pub user: Option<String>,
    pub referer: Option<String>,
    pub bytes: Option<u64>,
    pub duration_ms: Option<u64>,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bookmark: bool,
    pub file: String,
    pub line: u64,
    #[serde(skip)]
    pub file_id: u64,
    /// Source-specific columns in the source's order.
    #[serde(serialize_with = "attrs_as_object")]
    pub fields: Vec<(String, String)>,
    pub raw: String,
    /// The record's bytes when they are not UTF-8 (`raw` shows them lossily), in base64 in
    /// JSON; read back from a local case.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "bytes_as_base64"
    )]
    pub raw_bytes: Option<Vec<u8>>,
    /// Set when the record could not be parsed again (it parsed at ingest, so this means the
    /// case and this trawl disagree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

fn bytes_as_base64<S: serde::Serializer>(
    bytes: &Option<Vec<u8>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&crate::sanitize::base64(b)),
        None => s.serialize_none(),
    }
}

fn attrs_as_object<S: serde::Serializer>(
    attrs: &[(String, String)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let map: Map<String, Value> = attrs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    map.serialize(s)
}

impl EventView {
    /// Canonical fields as (name, value) pairs, in display order, skipping empty ones.
    pub fn canonical(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![(names::TS, self.ts.clone())];
        let mut push = |name: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((name, v));
            }
        };
        push(names::HOST, self.host.clone());
        push(names::SOURCE, Some(self.source.clone()));
        push(names::IP, self.ip.clone());
        push(names::CLIENT, self.client.clone());
        push(
            names::XFF,
            (!self.xff.is_empty()).then(|| self.xff.join(", ")),
        );
        push(names::METHOD, self.method.clone());
        push(names::PATH, self.path.clone());
        push(names::QUERY, self.query.clone());
        push(names::STATUS, self.status.map(|s| s.to_string()));
        push(names::UA, self.ua.clone());
        push(names::USER, self.user.clone());
        push(names::REFERER, self.referer.clone());
        push(names::BYTES, self.bytes.map(|s| s.to_string()));
        push(names::DURATION_MS, self.duration_ms.map(|s| s.to_string()));
        push(names::REQUEST_ID, self.request_id.clone());
        push(
            names::RULE,
            (!self.rules.is_empty()).then(|| self.rules.join(", ")),
        );
        push("tag", (!self.tags.is_empty()).then(|| self.tags.join(", ")));
        push("note", self.note.clone());
        push("bookmarked", self.bookmark.then(|| "true".to_string()));
        push(names::FILE, Some(self.file.clone()));
        push(names::LINE, Some(self.line.to_string()));
        out
    }

    /// The address to show for the event: its client, followed by the connecting address when
    /// that is a proxy (`203.0.113.9 via 10.0.0.5`).
    pub fn address(&self) -> String {
        match (&self.client, &self.ip) {
            (Some(c), Some(ip)) if c != ip => format!("{c} via {ip}"),
            (Some(c), _) => c.clone(),
            (None, Some(ip)) => ip.clone(),
            (None, None) => "-".into(),
        }
    }

    /// A one-line account of a Windows event (an event log record, or one exported as JSON
    /// lines or CSV), from its fields: `4688 w3wp.exe → cmd.exe: cmd /c whoami`. `None` for
    /// events that are not Windows events.
    pub fn windows_summary(&self) -> Option<String> {
        let id = self.value_of("EventID").or_else(|| self.value_of("Id"))?;
        let f = |name: &str| {
            self.value_of(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty() && v != "-")
        };
        let base = |path: Option<String>| {
            path.map(|p| p.rsplit(['\\', '/']).next().unwrap_or(&p).to_string())
                .unwrap_or_else(|| "?".into())
        };
        let image = f("Image").or_else(|| f("NewProcessName"));
        let text = if let Some(cmdlet) = f("Cmdlet") {
            format!("{cmdlet} {}", f("Parameters").unwrap_or_default())
        } else {
            match id.trim() {
                "1" | "4688" if image.is_some() => format!(
                    "{} → {}: {}",
                    base(f("ParentImage").or_else(|| f("ParentProcessName"))),
                    base(image),
                    f("CommandLine").unwrap_or_default()
                ),
                "11" | "15" if f("TargetFilename").is_some() => format!(
                    "file {} written by {}",
                    f("TargetFilename").unwrap_or_default(),
                    base(image)
                ),
                "4624" | "4625" => format!(
                    "logon {} type {} from {}",
                    self.user.clone().unwrap_or_else(|| "?".into()),
                    f("LogonType").unwrap_or_else(|| "?".into()),
                    self.ip
                        .clone()
                        .or_else(|| f("WorkstationName"))
                        .unwrap_or_else(|| "-".into())
                ),
                // Explicit credentials: who used whose, to reach what (no logon type here).
                "4648" => format!(
                    "explicit credentials: {} as {} to {} from {}",
                    f("SubjectUserName").unwrap_or_else(|| "?".into()),
                    self.user.clone().unwrap_or_else(|| "?".into()),
                    f("TargetServerName").unwrap_or_else(|| "-".into()),
                    self.ip.clone().unwrap_or_else(|| "-".into())
                ),
                "7045" => format!(
                    "service {}: {}",
                    f("ServiceName").unwrap_or_default(),
                    f("ImagePath").unwrap_or_default()
                ),
                "4104" => format!(
                    "script block: {}",
                    f("ScriptBlockText")
                        .unwrap_or_default()
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
                "1102" | "104" => format!(
                    "log cleared by {}",
                    f("SubjectUserName").unwrap_or_else(|| "?".into())
                ),
                _ => {
                    let mut parts = vec![
                        f("Provider")
                            .or_else(|| f("ProviderName"))
                            .unwrap_or_default(),
                    ];
                    parts.extend(
                        self.fields
                            .iter()
                            .filter(|(k, v)| {
                                !WINDOWS_SYSTEM.contains(&k.as_str())
                                    && !v.trim().is_empty()
                                    && v.trim() != "-"
                            })
                            .take(3)
                            .map(|(k, v)| format!("{k}={}", v.trim())),
                    );
                    parts.join(" ")
                }
            }
        };
        Some(format!("{} {}", id.trim(), text.trim()))
    }

    /// What the table and one-line outputs show for an event without a path: a Windows event's
    /// summary, else its message.
    pub fn summary(&self) -> Option<String> {
        self.windows_summary().or_else(|| {
            self.fields
                .iter()
                .find(|(k, _)| {
                    ["message", "cmd", "anchormailbox"].contains(&k.to_ascii_lowercase().as_str())
                })
                .map(|(_, v)| v.clone())
        })
    }

    /// `file:line`, the evidence pointer.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The value of a canonical field or source column by name.
    pub fn value_of(&self, field: &str) -> Option<String> {
        if let Some((_, v)) = self.canonical().into_iter().find(|(n, _)| *n == field) {
            return Some(v);
        }
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(field))
            .map(|(_, v)| v.clone())
    }
}

/// System values of Windows events, left out of a summary's data.
const WINDOWS_SYSTEM: [&str; 21] = [
    "EventID",
    "Id",
    "Provider",
    "ProviderName",
    "Level",
    "LevelDisplayName",
    "Task",
    "Opcode",
    "Keywords",
    "EventRecordID",
    "Channel",
    "LogName",
    "Computer",
    "ProcessID",
    "ThreadID",
    "UserID",
    "Version",
    // The writing process's, when an item has the name (see `formats::evtx::push_item`).
    "System.ProcessID",
    "System.ThreadID",
    "System.UserID",
    "System.ActivityID",
];

/// Loads and parses the event at `addr`. To load many events of one searcher, a [`Loader`]
/// opens each segment's columns once.
pub fn load(
    searcher: &Searcher,
    fields: &Fields,
    manifest: &Manifest,
    addr: DocAddress,
) -> Result<EventView> {
    Loader::new(searcher, fields, manifest).load(addr)
}

/// The columns `load` reads, for one segment.
struct Columns {
    ts: Column<tantivy::DateTime>,
    file_id: Column<u64>,
    line: Column<u64>,
    layout: Column<u64>,
    client: Option<Column<std::net::Ipv6Addr>>,
}

/// Loads events of one searcher. Opening a column decodes its block index, which costs far more
/// than reading one value, so the columns of each segment are opened once and kept.
pub struct Loader<'a> {
    searcher: &'a Searcher,
    fields: &'a Fields,
    manifest: &'a Manifest,
    columns: Vec<Option<Columns>>,
}

impl<'a> Loader<'a> {
    pub fn new(searcher: &'a Searcher, fields: &'a Fields, manifest: &'a Manifest) -> Loader<'a> {
        Loader {
            searcher,
            fields,
            manifest,
            columns: Vec::new(),
        }
    }

    fn columns(&mut self, segment: usize) -> Result<&Columns> {
        if self.columns.len() <= segment {
            self.columns.resize_with(segment + 1, || None);
        }
        let slot = &mut self.columns[segment];
        if slot.is_none() {
            let ff = self.searcher.segment_reader(segment as u32).fast_fields();
            *slot = Some(Columns {
                ts: ff.date(names::TS)?,
                file_id: ff.u64(crate::schema::fields::FILE_ID)?,
                line: ff.u64(names::LINE)?,
                layout: ff.u64(crate::schema::fields::LAYOUT)?,
                client: ff.ip_addr(names::CLIENT).ok(),
            });
        }
        slot.as_ref()
            .ok_or_else(|| crate::error::Error::Usage("segment columns".into()))
    }

    /// Loads and parses the event at `addr`.
    pub fn load(&mut self, addr: DocAddress) -> Result<EventView> {
        let (searcher, fields, manifest) = (self.searcher, self.fields, self.manifest);
        let cols = self.columns(addr.segment_ord as usize)?;
        let ts_ms = cols
            .ts
            .first(addr.doc_id)
            .map_or(0, |d| d.into_timestamp_millis());
        let file_id = cols.file_id.first(addr.doc_id).unwrap_or(u64::MAX);
        let line = cols.line.first(addr.doc_id).unwrap_or(0);
        let layout_id = cols.layout.first(addr.doc_id).unwrap_or(u64::MAX);
        let client = cols
            .client
            .as_ref()
            .and_then(|c| c.first(addr.doc_id))
            .map(|v6| crate::schema::v6_to_ip(v6).to_string());
        let doc: TantivyDocument = searcher.doc(addr)?;
        let raw = doc
            .get_first(fields.raw)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let mut view = from_record(raw, manifest, ts_ms, file_id, line, layout_id);
        view.client = client;
        view.raw_bytes = doc
            .get_first(fields.raw_bytes)
            .and_then(|v| v.as_bytes())
            .map(<[u8]>::to_vec);
        Ok(view)
    }
}

/// An event from its stored record, parsed again with the layout it was read with (any store
/// keeps these, and the client it attributed).
pub fn from_record(
    raw: String,
    manifest: &Manifest,
    ts_ms: i64,
    file_id: u64,
    line: u64,
    layout_id: u64,
) -> EventView {
    let file = manifest.file(file_id);
    let mut view = EventView {
        ts: formats::time::format_ms(ts_ms),
        ts_ms,
        file: file.map_or_else(|| format!("<file #{file_id}>"), |f| f.path.clone()),
        line,
        file_id,
        raw,
        ..EventView::default()
    };
    let Some(layout) = manifest.layouts.get(layout_id as usize) else {
        view.problem = Some("layout missing from the case manifest".into());
        return view;
    };
    view.source = layout.source().to_string();
    let raw = view.raw.clone();
    match formats::parse(layout, &raw, &ParseCtx::default()) {
        Ok(ev) => {
            view.host = crate::schema::host_of(&ev, file.and_then(|f| f.host.as_deref()));
            if let Some(source) = &ev.source {
                view.source = source.to_string();
            }
            view.ip = ev.ip.map(|i| i.to_string());
            view.xff = ev.xff.iter().map(ToString::to_string).collect();
            view.method = ev.method.map(|v| v.into_owned());
            view.path = ev.path.map(|v| v.into_owned());
            view.query = ev.query.map(|v| v.into_owned());
            view.status = ev.status;
            view.ua = ev.ua.map(|v| v.into_owned());
            view.user = ev.user.map(|v| v.into_owned());
            view.referer = ev.referer.map(|v| v.into_owned());
            view.bytes = ev.bytes;
            view.duration_ms = ev.duration_ms;
            view.request_id = ev.request_id.map(event::format_guid);
            view.fields = ev
                .attrs
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        }
        Err(why) => {
            view.host = file.and_then(|f| f.host.clone());
            view.problem = Some(format!(
                "could not parse the stored record again: {}",
                why.0
            ));
        }
    }
    view
}
