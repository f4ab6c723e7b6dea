//! A case kept in ClickHouse (`--store clickhouse://HOST:PORT/DATABASE[?cluster=NAME]`), over
//! its HTTP interface, so that a fleet's logs and a team share one case.
//!
//! Tables, per case (`<case>` is the case's name, from `--case`):
//! * `<case>_events`: one row per event, ordered by (time, file, line). Each field holds the
//!   terms the local index holds for it (the same tokenizers write them), so a query lowered
//!   to SQL (`sql`) matches what it matches locally. With `cluster=`, `<case>_events_local` on
//!   every shard and a `Distributed` table over them.
//! * `<case>_commits`: each ingest commit: the ingesting machine (`part`), its sequence number,
//!   the batch id its rows carry, and its manifest. Rows are visible once their batch is
//!   committed there, and while their file is in the manifest: a killed ingest leaves rows
//!   nobody sees (removed by the next), a file changed in place leaves the manifest.
//! * `<case>_parts`: the ingesting machines and the file-id range each owns.
//!
//! Only SQL and types that Debian's ClickHouse 18.16 and current releases share: times as
//! Int64 milliseconds, addresses as 16 bytes (IPv4 mapped) compared as strings, no window
//! functions.

pub mod client;
pub mod ingest;
pub mod sql;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv6Addr;

use self::client::{Client, field, first, quote};
use super::{Selected, Store, rank_values};
use crate::case::Manifest;
use crate::error::{Error, QueryError, Result};
use crate::event::{EventKey, names};
use crate::query::Vocabulary;
use crate::selection::{Order, TopValues};
use crate::view::EventView;

/// Where the case is: a server, a database and, for a cluster, its name and shards.
#[derive(Debug, Clone)]
pub struct Spec {
    pub url: String,
    /// `host:port` of the HTTP interface every statement goes to.
    pub server: String,
    pub database: String,
    /// The cluster (`remote_servers` in the servers' config) the events are spread over.
    pub cluster: Option<String>,
    /// HTTP `host:port` of each shard, to create and clean their local tables (default: each
    /// shard's host from `system.clusters` on the entry server's port).
    pub shards: Vec<String>,
    /// `USER[:PASSWORD]@` before the server (ClickHouse's `default` user otherwise).
    pub user: Option<(String, String)>,
}

impl Spec {
    /// Parses `clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE[?cluster=NAME&shards=H:P,H:P]`.
    pub fn parse(url: &str) -> Result<Spec> {
        // The password never appears in messages.
        let (url, user) = match url.split_once("://").and_then(|(scheme, rest)| {
            let (auth, rest) = rest.split_once('@')?;
            Some((scheme, auth, rest))
        }) {
            Some((scheme, auth, rest)) => {
                let (name, password) = auth.split_once(':').unwrap_or((auth, ""));
                (
                    format!("{scheme}://{name}@{rest}"),
                    Some((name.to_string(), password.to_string())),
                )
            }
            None => (url.to_string(), None),
        };
        let url = url.as_str();
        let bad = |why: &str| {
            Error::Usage(format!(
                "--store {url}: {why} (expected clickhouse://HOST:PORT/DATABASE[?cluster=NAME])"
            ))
        };
        let rest = url
            .strip_prefix("clickhouse://")
            .ok_or_else(|| bad("not a clickhouse:// address"))?;
        let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let (server, database) = path.split_once('/').unwrap_or((path, "default"));
        let database = if database.is_empty() {
            "default"
        } else {
            database
        };
        if server.is_empty() {
            return Err(bad("no server"));
        }
        if !is_identifier(database) {
            return Err(bad("the database name must be letters, digits and _"));
        }
        let server = if server.contains(':') {
            server.to_string()
        } else {
            format!("{server}:8123")
        };
        let mut spec = Spec {
            url: url.to_string(),
            server,
            database: database.to_string(),
            cluster: None,
            shards: Vec::new(),
            user,
        };
        for pair in params.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cluster", name)) if is_identifier(name) => {
                    spec.cluster = Some(name.to_string());
                }
                Some(("shards", list)) => {
                    spec.shards = list.split(',').map(str::to_string).collect();
                }
                _ => return Err(bad(&format!("unknown parameter '{pair}'"))),
            }
        }
        Ok(spec)
    }
}

/// Microseconds since the epoch, now: the order of documents and journal entries.
pub fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A case's name as a table-name prefix: letters, digits and `_`.
pub fn table_prefix(case: &str) -> String {
    let mut out: String = case
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "case_");
    }
    out
}

/// The tables of one case.
#[derive(Debug, Clone)]
pub struct Tables {
    /// Where queries read events (the `Distributed` table on a cluster).
    pub events: String,
    /// The table on each shard, on a cluster.
    pub local: Option<String>,
    pub commits: String,
    pub parts: String,
    /// Documents kept with the case: detections, marks.
    pub docs: String,
}

impl Tables {
    fn new(prefix: &str, spec: &Spec) -> Tables {
        Tables {
            events: format!("{prefix}_events"),
            local: spec
                .cluster
                .as_ref()
                .map(|_| format!("{prefix}_events_local")),
            commits: format!("{prefix}_commits"),
            parts: format!("{prefix}_parts"),
            docs: format!("{prefix}_docs"),
        }
    }
}

/// The events table's columns; `schema::row` writes them in this order.
pub const EVENT_COLUMNS: &str = "part String, batch UInt64, ts Int64, file_id UInt64, line UInt64, layout UInt64, \
host Nullable(String), host_t Nullable(String), source String, method Nullable(String), method_t Nullable(String), \
path Nullable(String), ua Nullable(String), `user` Nullable(String), referer Nullable(String), \
ip Nullable(FixedString(16)), client Nullable(FixedString(16)), xff Array(FixedString(16)), \
status Nullable(UInt64), bytes Nullable(UInt64), duration_ms Nullable(UInt64), request_id Nullable(UInt64), \
winrec Nullable(UInt64), attr Array(String), query_w String, text_w String, raw String, raw_bytes Nullable(String)";

/// A case in ClickHouse, read as of its commits when opened; a handle that selections share.
#[derive(Clone)]
pub struct ClickHouse(std::sync::Arc<Inner>);

impl std::ops::Deref for ClickHouse {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl ClickHouse {
    /// Opens a case for reading.
    pub fn open(spec: &Spec, case: &str) -> Result<ClickHouse> {
        Inner::open(spec, case).map(|i| ClickHouse(std::sync::Arc::new(i)))
    }

    /// How many commits the case has had: what changes when one lands.
    pub fn commit_count(&self) -> Result<u64> {
        self.client
            .number(&format!("SELECT count() FROM {}", self.tables.commits))
    }
}

/// What an open ClickHouse case knows.
pub struct Inner {
    spec: Spec,
    client: Client,
    tables: Tables,
    /// Every part's manifest together: files of all parts, layouts one after the other.
    manifest: Manifest,
    /// Where each part's layouts start in `manifest.layouts`.
    layout_offsets: HashMap<String, u64>,
    /// Which rows are committed and of files in the manifests.
    visible: String,
    /// The local index's fields, to check queries as the local case checks them.
    fields: crate::schema::Fields,
}

impl Inner {
    fn open(spec: &Spec, case: &str) -> Result<Inner> {
        let client = Client::for_spec(&spec.server, spec);
        let tables = Tables::new(&table_prefix(case), spec);
        let exists = client.number(&format!(
            "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
            quote(&spec.database),
            quote(&tables.commits)
        ))?;
        if exists == 0 {
            return Err(Error::Usage(format!(
                "no case '{case}' in {} (run `trawl ingest --store {} --case {case} PATH…` first)",
                spec.url, spec.url
            )));
        }
        let snapshot = Snapshot::read(&client, &tables)?;
        let (manifest, layout_offsets, _) = snapshot.merged();
        let visible = snapshot.visible();
        Ok(Inner {
            spec: spec.clone(),
            client,
            tables,
            manifest,
            layout_offsets,
            visible,
            fields: crate::schema::build().1,
        })
    }

    fn event_of(&self, row: &[Vec<u8>]) -> Option<EventView> {
        let text = |i: usize| row.get(i).map(|b| String::from_utf8_lossy(b).into_owned());
        let part = text(0)?;
        let ts: i64 = field(row, 1)?;
        let (file_id, line, layout): (u64, u64, u64) =
            (field(row, 2)?, field(row, 3)?, field(row, 4)?);
        let layout = self
            .layout_offsets
            .get(&part)
            .copied()
            .unwrap_or(u64::MAX / 2)
            + layout;
        let mut view =
            crate::view::from_record(text(5)?, &self.manifest, ts, file_id, line, layout);
        view.client = row
            .get(6)
            .and_then(|h| ip_of_hex(h))
            .map(|ip| ip.to_string());
        Some(view)
    }

    /// The events of a GUID's bucket whose records carry it, as a condition.
    fn guid_condition(&self, id: u128) -> Result<String> {
        let bucket = crate::schema::request_id_bucket(id);
        let rows = self.client.rows(&format!(
            "SELECT part, file_id, line, layout, raw FROM {} WHERE {} AND request_id = {bucket}",
            self.tables.events, self.visible
        ))?;
        let mut keys = Vec::new();
        for row in rows {
            let text = |i: usize| row.get(i).map(|b| String::from_utf8_lossy(b).into_owned());
            let num = |i: usize| field::<u64>(&row, i);
            let (Some(part), Some(file), Some(line), Some(layout), Some(raw)) =
                (text(0), num(1), num(2), num(3), text(4))
            else {
                continue;
            };
            let Some(offset) = self.layout_offsets.get(&part) else {
                continue;
            };
            let layout = self.manifest.layouts.get((offset + layout) as usize);
            if layout.is_some_and(|l| crate::query::record_has_guid(l, &raw, id)) {
                keys.push(EventKey::new(file, line));
            }
        }
        Ok(sql::keys_condition(keys.into_iter()))
    }
}

impl Store for ClickHouse {
    fn name(&self) -> String {
        format!("{} ({})", self.spec.url, self.tables.events)
    }

    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn load_doc(&self, name: &str) -> Result<Option<String>> {
        let rows = self.client.rows(&format!(
            "SELECT text FROM {} WHERE name = {} ORDER BY at DESC LIMIT 1",
            self.tables.docs,
            quote(name)
        ))?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .map(|t| String::from_utf8_lossy(t).into_owned()))
    }

    fn save_doc(&self, name: &str, text: &str) -> Result<()> {
        let mut data = Vec::with_capacity(text.len() + 64);
        client::push_escaped(&mut data, name.as_bytes(), false);
        data.extend_from_slice(format!("\t{}\t", now_us()).as_bytes());
        client::push_escaped(&mut data, text.as_bytes(), false);
        data.push(b'\n');
        self.client.insert(
            &format!("INSERT INTO {} FORMAT TabSeparated", self.tables.docs),
            &data,
        )
    }

    fn append_entries(&self, journal: &str, entries: &[String]) -> Result<()> {
        let mut data = Vec::new();
        let at = now_us();
        for (i, e) in entries.iter().enumerate() {
            client::push_escaped(&mut data, journal.as_bytes(), false);
            // One responder's entries keep their order; others' interleave by time.
            data.extend_from_slice(format!("\t{}\t", at + i as u128).as_bytes());
            client::push_escaped(&mut data, e.as_bytes(), false);
            data.push(b'\n');
        }
        if data.is_empty() {
            return Ok(());
        }
        self.client.insert(
            &format!("INSERT INTO {} FORMAT TabSeparated", self.tables.docs),
            &data,
        )
    }

    fn entries(&self, journal: &str) -> Result<Vec<String>> {
        let rows = self.client.rows(&format!(
            "SELECT text FROM {} WHERE name = {} ORDER BY at",
            self.tables.docs,
            quote(journal)
        ))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next())
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .collect())
    }

    fn select(
        &self,
        text: &str,
        vocab: &Vocabulary,
    ) -> Result<std::result::Result<super::Owned, QueryError>> {
        let (plan, _) = match crate::query::plan_of(text, vocab) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        // What the local index refuses (a regex its automaton cannot build) is refused here too.
        if let Err(e) = crate::query::lower(&plan, &self.fields) {
            return Ok(Err(e));
        }
        let condition = sql::condition(&plan, &|id, _| self.guid_condition(id))?;
        let filter = format!("{} AND ({condition})", self.visible);
        let len = self.client.number(&format!(
            "SELECT count() FROM {} WHERE {filter}",
            self.tables.events
        ))?;
        Ok(Ok(Box::new(ChSelected {
            store: self.clone(),
            filter,
            len,
        })))
    }
}

/// A query's events in ClickHouse: the condition, counted once.
struct ChSelected {
    store: ClickHouse,
    filter: String,
    len: u64,
}

/// Events before a place in the order (time, file, line), as a condition.
fn before((t, f, l): super::Order3) -> String {
    format!("(ts < {t} OR (ts = {t} AND (file_id < {f} OR (file_id = {f} AND line < {l}))))")
}

/// The table's order, which is the local timeline's.
const ORDER: &str = "ORDER BY ts, file_id, line";

impl ChSelected {
    fn from(&self) -> String {
        format!("FROM {} WHERE {}", self.store.tables.events, self.filter)
    }

    /// `n` rows from rank `rank`, in time order. ClickHouse 18.16 does not read a table in its
    /// sort order, so `ORDER BY … LIMIT` would read every selected row's columns (the raw
    /// record included: 1.1 s for a page in the middle of ten million). Instead the times that
    /// bound the page are found from the time column alone, then only the rows in that range
    /// are read (time leads the primary key), skipping those before the rank at its first time.
    fn page(&self, rank: u64, n: usize, cols: &str) -> Result<Vec<Vec<Vec<u8>>>> {
        if n == 0 || rank >= self.len {
            return Ok(Vec::new());
        }
        let n = (n as u64).min(self.len - rank);
        let client = &self.store.client;
        let bounds = client.rows(&format!(
            "SELECT min(ts), max(ts) FROM (SELECT ts {} ORDER BY ts LIMIT {n} OFFSET {rank})",
            self.from()
        ))?;
        let (Some(lo), Some(hi)) = (first::<i64>(&bounds, 0), first::<i64>(&bounds, 1)) else {
            return Ok(Vec::new());
        };
        let skip = rank.saturating_sub(self.count_before(lo)?);
        client.rows(&format!(
            "SELECT {cols} {} AND ts >= {lo} AND ts <= {hi} {ORDER} LIMIT {n} OFFSET {skip}",
            self.from()
        ))
    }
}

impl Selected for ChSelected {
    fn rank_of(&self, order: super::Order3) -> Result<Option<u64>> {
        let (t, f, l) = order;
        let rows = self.store.client.rows(&format!(
            "SELECT countIf({}), countIf(ts = {t} AND file_id = {f} AND line = {l}) {}",
            before(order),
            self.from()
        ))?;
        Ok(match (first::<u64>(&rows, 0), first::<u64>(&rows, 1)) {
            (Some(rank), Some(n)) if n > 0 => Some(rank),
            _ => None,
        })
    }

    fn neighbour(&self, order: super::Order3, forward: bool) -> Result<Option<super::Order3>> {
        let (t, f, l) = order;
        let (cond, sort) = if forward {
            (
                format!(
                    "NOT ({}) AND NOT (ts = {t} AND file_id = {f} AND line = {l})",
                    before(order)
                ),
                "ORDER BY ts, file_id, line",
            )
        } else {
            (before(order), "ORDER BY ts DESC, file_id DESC, line DESC")
        };
        let rows = self.store.client.rows(&format!(
            "SELECT ts, file_id, line {} AND {cond} {sort} LIMIT 1",
            self.from()
        ))?;
        Ok(rows
            .first()
            .and_then(|r| Some((field(r, 0)?, field(r, 1)?, field(r, 2)?))))
    }

    fn restrict_to(&self, events: &crate::sets::EventSet) -> Result<super::Owned> {
        let filter = format!(
            "{} AND {}",
            self.filter,
            sql::keys_condition(events.iter().map(|(k, _)| k))
        );
        let len = self.store.client.number(&format!(
            "SELECT count() FROM {} WHERE {filter}",
            self.store.tables.events
        ))?;
        Ok(Box::new(ChSelected {
            store: self.store.clone(),
            filter,
            len,
        }))
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn span(&self) -> Result<Option<(i64, i64)>> {
        if self.len == 0 {
            return Ok(None);
        }
        let rows = self
            .store
            .client
            .rows(&format!("SELECT min(ts), max(ts) {}", self.from()))?;
        Ok(first::<i64>(&rows, 0).zip(first::<i64>(&rows, 1)))
    }

    fn count_before(&self, t: i64) -> Result<u64> {
        self.store.client.number(&format!(
            "SELECT count() FROM {} WHERE {} AND ts < {t}",
            self.store.tables.events, self.filter
        ))
    }

    fn events(&self, rank: u64, n: usize) -> Result<Vec<EventView>> {
        let rows = self.page(rank, n, "part, ts, file_id, line, layout, raw, hex(client)")?;
        Ok(rows.iter().filter_map(|r| self.store.event_of(r)).collect())
    }

    fn all_keys(&self) -> Result<Vec<(EventKey, i64)>> {
        let rows = self
            .store
            .client
            .rows(&format!("SELECT file_id, line, ts {} {ORDER}", self.from()))?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((EventKey::new(field(r, 0)?, field(r, 1)?), field(r, 2)?)))
            .collect())
    }

    fn each_event(&self, f: &mut dyn FnMut(EventView) -> Result<()>) -> Result<()> {
        const PAGE: u64 = 100_000;
        let mut rank = 0;
        while rank < self.len {
            for ev in self.events(rank, PAGE as usize)? {
                f(ev)?;
            }
            rank += PAGE;
        }
        Ok(())
    }

    fn histogram(&self, start_ms: i64, width_ms: i64, buckets: usize) -> Result<Vec<u64>> {
        let mut out = vec![0; buckets];
        if buckets == 0 || width_ms <= 0 {
            return Ok(out);
        }
        let end = start_ms.saturating_add(width_ms.saturating_mul(buckets as i64));
        let rows = self.store.client.rows(&format!(
            "SELECT intDiv(ts - {start_ms}, {width_ms}) AS b, count() FROM {} WHERE {} AND ts >= {start_ms} AND ts < {end} GROUP BY b",
            self.store.tables.events, self.filter
        ))?;
        for r in rows {
            if let (Some(b), Some(c)) = (field::<u64>(&r, 0), field::<u64>(&r, 1))
                && let Some(slot) = out.get_mut(b as usize)
            {
                *slot = c;
            }
        }
        Ok(out)
    }

    fn top_values(
        &self,
        field: &str,
        n: usize,
        order: Order,
        as_written: bool,
    ) -> Result<TopValues> {
        let Some((column, display)) = column_of(field) else {
            return Err(Error::Usage(format!(
                "top values of '{field}' are not kept in a ClickHouse case"
            )));
        };
        // Every distinct value is counted exactly, then ranked as the local case ranks them.
        let (value, present) = match field {
            names::XFF => ("hex(arrayJoin(xff))".to_string(), String::new()),
            names::IP | names::CLIENT => (
                format!("hex({column})"),
                format!(" AND {column} IS NOT NULL"),
            ),
            _ => (column.to_string(), format!(" AND {column} IS NOT NULL")),
        };
        let sql = format!(
            "SELECT {value} AS v, count() FROM {} WHERE {}{present} GROUP BY v",
            self.store.tables.events, self.filter
        );
        let counts = self.store.client.rows(&sql)?.into_iter().filter_map(|r| {
            let value = display(r.first()?);
            let count = client::field::<u64>(&r, 1)?;
            Some((value, count))
        });
        let mut merged: BTreeMap<String, u64> = BTreeMap::new();
        for (v, c) in counts {
            *merged.entry(v).or_default() += c;
        }
        let mut top = rank_values(field, merged, n, order);
        if as_written && matches!(field, names::PATH | names::UA | names::USER) {
            self.as_written(&mut top)?;
        }
        Ok(top)
    }
}

impl ChSelected {
    /// Each value as the first event holding it wrote it (as the local case shows them).
    fn as_written(&self, top: &mut TopValues) -> Result<()> {
        let Some((column, _)) = column_of(&top.field) else {
            return Ok(());
        };
        for v in &mut top.values {
            let rows = self.store.client.rows(&format!(
                "SELECT part, ts, file_id, line, layout, raw, hex(client) FROM {} WHERE {} AND {column} = {} {ORDER} LIMIT 1",
                self.store.tables.events,
                self.store.visible,
                quote(&v.value)
            ))?;
            let Some(event) = rows.first().and_then(|r| self.store.event_of(r)) else {
                continue;
            };
            let written = match top.field.as_str() {
                names::PATH => event.path,
                names::UA => event.ua,
                _ => event.user,
            };
            let normalise: fn(&str) -> String = if top.field == names::UA {
                crate::schema::normalize_user_agent
            } else {
                crate::schema::normalize_keyword
            };
            if let Some(w) = written.filter(|w| normalise(w) == v.value) {
                v.value = w;
            }
        }
        Ok(())
    }
}

/// How a column's value is shown.
type Display = fn(&[u8]) -> String;

/// The column holding a field whose values are counted, and how its values are shown (as the
/// local case shows them: addresses as text, host names and methods upper-case).
fn column_of(field: &str) -> Option<(&'static str, Display)> {
    let upper: Display = |b| String::from_utf8_lossy(b).to_uppercase();
    Some(match field {
        names::IP => ("ip", display_ip),
        names::CLIENT => ("client", display_ip),
        names::XFF => ("xff", display_ip),
        names::HOST => ("host_t", upper),
        names::METHOD => ("method_t", upper),
        names::SOURCE => ("source", lossy),
        names::PATH => ("path", lossy),
        names::UA => ("ua", lossy),
        names::USER => ("`user`", lossy),
        names::STATUS => ("status", lossy),
        names::BYTES => ("bytes", lossy),
        names::DURATION_MS => ("duration_ms", lossy),
        names::LINE => ("line", lossy),
        _ => return None,
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ip_of_hex(hex: &[u8]) -> Option<std::net::IpAddr> {
    let bytes = crate::input::unhex(std::str::from_utf8(hex).ok()?)?;
    let octets: [u8; 16] = bytes.try_into().ok()?;
    Some(crate::schema::v6_to_ip(Ipv6Addr::from(octets)))
}

fn display_ip(hex: &[u8]) -> String {
    ip_of_hex(hex).map_or_else(|| lossy(hex), |ip| ip.to_string())
}

/// What the commits table says: each part's committed batches and latest manifest.
#[derive(Debug, Default)]
struct Snapshot {
    batches: BTreeMap<String, Vec<u64>>,
    manifests: BTreeMap<String, Manifest>,
}

impl Snapshot {
    fn read(client: &Client, tables: &Tables) -> Result<Snapshot> {
        let mut snap = Snapshot::default();
        for row in client.rows(&format!("SELECT part, batch FROM {}", tables.commits))? {
            let (Some(part), Some(batch)) = (row.first(), field::<u64>(&row, 1)) else {
                continue;
            };
            snap.batches.entry(lossy(part)).or_default().push(batch);
        }
        let latest = client.rows(&format!(
            "SELECT part, manifest FROM {c} WHERE (part, seq) IN (SELECT part, max(seq) FROM {c} GROUP BY part)",
            c = tables.commits
        ))?;
        for row in latest {
            let (Some(part), Some(text)) = (row.first(), row.get(1)) else {
                continue;
            };
            let manifest: Manifest = serde_json::from_slice(text).map_err(|e| Error::Store {
                url: client.url().to_string(),
                message: format!("the manifest of part {} is not readable: {e}", lossy(part)),
            })?;
            snap.manifests.insert(lossy(part), manifest);
        }
        Ok(snap)
    }

    /// Which rows are committed and of files in the manifests, as a condition.
    pub(crate) fn visible(&self) -> String {
        let (_, _, files) = self.merged();
        let batches: Vec<String> = self
            .batches
            .values()
            .flatten()
            .map(u64::to_string)
            .collect();
        let files: Vec<String> = files.iter().map(u64::to_string).collect();
        if batches.is_empty() || files.is_empty() {
            "0".to_string()
        } else {
            format!(
                "batch IN ({}) AND file_id IN ({})",
                batches.join(","),
                files.join(",")
            )
        }
    }

    /// The parts' manifests as one, the offset of each part's layouts in it, and the files
    /// whose events are visible: a file two machines both ingested (the same content) counts
    /// once, from the first part in name order that holds it whole; while one machine is still
    /// reading a file another holds whole (same size, same first 4 KiB), its part of it is not
    /// counted either.
    fn merged(&self) -> (Manifest, HashMap<String, u64>, Vec<u64>) {
        let mut out = Manifest {
            schema_version: crate::schema::SCHEMA_VERSION,
            ..Manifest::default()
        };
        let mut offsets = HashMap::new();
        let mut whole: HashMap<(u64, String), &str> = HashMap::new();
        let mut heads: HashMap<(u64, &str), Vec<&str>> = HashMap::new();
        for (part, m) in &self.manifests {
            for f in m.files.iter().filter(|f| f.complete) {
                if let Some(sha) = &f.sha256 {
                    whole.entry((f.size, sha.clone())).or_insert(part);
                }
                if let Some(head) = &f.head_sha256 {
                    heads.entry((f.size, head)).or_default().push(part);
                }
            }
        }
        let mut visible = Vec::new();
        for (part, m) in &self.manifests {
            offsets.insert(part.clone(), out.layouts.len() as u64);
            out.layouts.extend(m.layouts.iter().cloned());
            for f in &m.files {
                let elsewhere = |size: u64, sha: &str| {
                    whole
                        .get(&(size, sha.to_string()))
                        .is_some_and(|owner| *owner != part.as_str())
                };
                let duplicate = match (&f.sha256, &f.head_sha256, f.complete) {
                    (Some(sha), _, true) => elsewhere(f.size, sha),
                    (_, Some(head), false) => heads
                        .get(&(f.size, head.as_str()))
                        .is_some_and(|parts| parts.iter().any(|p| *p != part.as_str())),
                    _ => false,
                };
                if duplicate {
                    continue;
                }
                visible.push(f.id);
                out.files.push(f.clone());
            }
            out.unrecognised.extend(m.unrecognised.iter().cloned());
            out.dynamic_attrs.extend(m.dynamic_attrs.iter().cloned());
            for c in &m.trusted_proxies {
                if !out.trusted_proxies.contains(c) {
                    out.trusted_proxies.push(*c);
                }
            }
        }
        out.files.sort_by(|a, b| a.path.cmp(&b.path));
        (out, offsets, visible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: u64, size: u64, sha: Option<&str>, head: &str) -> crate::case::FileRecord {
        let mut f: crate::case::FileRecord = serde_json::from_value(serde_json::json!({
            "id": id, "path": format!("f{id}"), "size": size, "mtime": 0, "sha256": sha,
            "format": "w3c", "source": "iis", "host": null, "lines": 10, "events": 10,
            "malformed": 0, "skipped": 0, "complete": sha.is_some(),
        }))
        .expect("file record");
        f.head_sha256 = Some(head.to_string());
        f
    }

    #[test]
    fn content_two_machines_hold_counts_once() {
        let mut snap = Snapshot::default();
        let manifest = |files| Manifest {
            files,
            ..Manifest::default()
        };
        snap.manifests
            .insert("a".into(), manifest(vec![file(1, 100, Some("x"), "hx")]));
        snap.manifests.insert(
            "b".into(),
            manifest(vec![
                file(2, 100, Some("x"), "hx"),
                file(3, 100, None, "hx"),
                file(4, 50, Some("y"), "hy"),
            ]),
        );
        snap.manifests
            .insert("c".into(), manifest(vec![file(5, 100, None, "hz")]));
        let (_, _, visible) = snap.merged();
        // 2: the same content as 1, which part a holds; 3: part b still reading what a holds.
        assert_eq!(visible, vec![1, 4, 5]);
    }

    #[test]
    fn store_addresses_parse() {
        let s = Spec::parse("clickhouse://10.0.0.5:8123/ir?cluster=fleet").expect("spec");
        assert_eq!(
            (s.server.as_str(), s.database.as_str()),
            ("10.0.0.5:8123", "ir")
        );
        assert_eq!(s.cluster.as_deref(), Some("fleet"));
        assert_eq!(
            Spec::parse("clickhouse://ch/").expect("spec").server,
            "ch:8123"
        );
        assert!(Spec::parse("http://ch/x").is_err());
        let s = Spec::parse("clickhouse://ir:s3cret@ch:9000/db").expect("spec");
        assert_eq!(s.user, Some(("ir".into(), "s3cret".into())));
        assert_eq!(
            (s.server.as_str(), s.url.as_str()),
            ("ch:9000", "clickhouse://ir@ch:9000/db")
        );
        assert!(Spec::parse("clickhouse://ch/x;drop").is_err());
        assert_eq!(table_prefix("trawl-case"), "trawl_case");
        assert_eq!(table_prefix("2021"), "case_2021");
    }
}
