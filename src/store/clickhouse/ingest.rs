//! Ingest into a ClickHouse case: the same pipeline as the local case (`crate::ingest`), with
//! rows written where a local ingest adds documents, and commits recorded in the commits table.
//!
//! Each ingesting machine is a *part* of the case (its host name, or `TRAWL_STORE_PART`): it
//! keeps its own manifest lineage and allocates file ids in a range of its own, so several
//! machines can ingest into one case at once. Exactly once, per part, as locally: a commit's
//! rows carry its batch id and become visible when the commit row naming the batch is written
//! (after the rows, which a `Distributed` table is told to deliver synchronously); a killed
//! ingest leaves rows of a batch no commit names, which nobody sees and the next ingest of that
//! part deletes. Across parts, content both ingested counts once (see `Snapshot::merged`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tantivy::TantivyDocument;
use tantivy::schema::Value;

use super::client::{Client, field, push_escaped, quote};
use super::{EVENT_COLUMNS, Snapshot, Spec, Tables, table_prefix};
use crate::case::Manifest;
use crate::error::{Error, Result};
use crate::ingest::{Destination, EventWriter, IngestReport, OnWebRow, WebRows, WindowsEvent};
use crate::schema::Fields;

/// File ids of a part: `part number << PART_SHIFT` onwards (an event's key keeps 24 bits of
/// file id: 63 parts of 262,143 files each).
const PART_SHIFT: u32 = 18;
const MAX_PARTS: u64 = (1 << (24 - PART_SHIFT)) - 1;

/// Rows are sent in inserts of about this many bytes.
const INSERT_BYTES: usize = 64 << 20;

/// A ClickHouse case as the destination of an ingest from this machine.
pub struct ClickHouseDestination {
    spec: Spec,
    client: Client,
    tables: Tables,
    part: String,
    part_no: u64,
    manifest: Manifest,
    /// This part's commits, shared with the writers (a followed log makes one per round).
    commits: std::sync::Arc<std::sync::Mutex<PartCommits>>,
    fields: Fields,
}

/// The commits of this machine's part: the next sequence number, and every batch committed.
#[derive(Debug, Default)]
struct PartCommits {
    seq: u64,
    batches: Vec<u64>,
}

/// This machine's name in the case.
fn part_name() -> String {
    if let Ok(p) = std::env::var("TRAWL_STORE_PART")
        && !p.is_empty()
    {
        return p;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl ClickHouseDestination {
    /// Opens (creating its tables if needed) a case for ingest from this machine.
    pub fn open(spec: &Spec, case: &str) -> Result<ClickHouseDestination> {
        let client = Client::for_spec(&spec.server, spec);
        let tables = Tables::new(&table_prefix(case), spec);
        create_tables(spec, &client, &tables)?;
        // Tables made by an earlier trawl lack columns rows now carry: said, not a parse error
        // from the server halfway through an ingest.
        let current = client.number(&format!(
            "SELECT count() FROM system.columns WHERE database = {} AND table = {} AND name = 'winrec'",
            quote(&spec.database),
            quote(&tables.events)
        ))?;
        if current == 0 {
            return Err(Error::Usage(format!(
                "case '{case}' in {} was made by an earlier trawl (its events table has no `winrec` column, which this trawl's schema, version {}, writes): ingest into a new case",
                spec.url,
                crate::schema::SCHEMA_VERSION
            )));
        }
        let part = part_name();
        let part_no = claim_part(&client, &tables, &part)?;
        let snap = Snapshot::read(&client, &tables)?;
        let manifest = snap
            .manifests
            .get(&part)
            .cloned()
            .unwrap_or_else(|| Manifest {
                schema_version: crate::schema::SCHEMA_VERSION,
                next_file_id: part_no << PART_SHIFT,
                ..Manifest::default()
            });
        let seq = client.number(&format!(
            "SELECT count() FROM {} WHERE part = {}",
            tables.commits,
            quote(&part)
        ))?;
        let batches = snap.batches.get(&part).cloned().unwrap_or_default();
        Ok(ClickHouseDestination {
            spec: spec.clone(),
            client,
            tables,
            part,
            part_no,
            manifest,
            commits: std::sync::Arc::new(std::sync::Mutex::new(PartCommits { seq, batches })),
            fields: crate::schema::build().1,
        })
    }

    /// Which machine this ingest is, in the case.
    pub fn part(&self) -> &str {
        &self.part
    }

    /// Deletes rows of batches no commit names (an ingest of this part killed before it
    /// committed them); nobody sees them meanwhile.
    fn remove_uncommitted(&self) -> Result<()> {
        let batches = self
            .commits
            .lock()
            .map(|c| c.batches.clone())
            .unwrap_or_default();
        let committed = if batches.is_empty() {
            "0".to_string()
        } else {
            batches
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        let orphans = format!(
            "part = {} AND batch NOT IN ({committed})",
            quote(&self.part)
        );
        let n = self.client.number(&format!(
            "SELECT count() FROM {} WHERE {orphans}",
            self.tables.events
        ))?;
        if n == 0 {
            return Ok(());
        }
        for (client, table) in shard_tables(&self.spec, &self.client, &self.tables)? {
            client.run(&format!("ALTER TABLE {table} DELETE WHERE {orphans}"))?;
        }
        Ok(())
    }
}

impl Destination for ClickHouseDestination {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    fn fields(&self) -> &Fields {
        &self.fields
    }

    fn own_dir(&self) -> Option<&std::path::Path> {
        None
    }

    fn prepare(&mut self, _report: &mut IngestReport) -> Result<()> {
        self.remove_uncommitted()
    }

    fn writer(&mut self, _threads: usize, _memory_budget: usize) -> Result<Box<dyn EventWriter>> {
        Ok(Box::new(ClickHouseWriter {
            client: self.client.clone(),
            tables: self.tables.clone(),
            part: self.part.clone(),
            part_end: (self.part_no + 1) << PART_SHIFT,
            batch: new_batch(),
            commits: std::sync::Arc::clone(&self.commits),
            fields: self.fields.clone(),
        }))
    }

    fn committed(&mut self, manifest: Manifest) -> Result<()> {
        self.manifest = manifest;
        Ok(())
    }
}

/// A batch id no other commit has: time and process, mixed.
fn new_batch() -> u64 {
    use sha2::{Digest, Sha256};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    h.update(part_name().as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    // Never 0: "no batch" in conditions.
    (u64::from_le_bytes(b) >> 1).max(1)
}

struct ClickHouseWriter {
    client: Client,
    tables: Tables,
    part: String,
    /// The first file id beyond this part's range.
    part_end: u64,
    batch: u64,
    commits: std::sync::Arc<std::sync::Mutex<PartCommits>>,
    fields: Fields,
}

impl ClickHouseWriter {
    fn send(&self, rows: &[u8]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.client.insert(
            &format!("INSERT INTO {} FORMAT TabSeparated", self.tables.events),
            rows,
        )
    }
}

impl EventWriter for ClickHouseWriter {
    fn windows_events(&self, except_files: &[u64]) -> Result<Vec<WindowsEvent>> {
        let visible = Snapshot::read(&self.client, &self.tables)?.visible();
        let except = if except_files.is_empty() {
            String::new()
        } else {
            let ids: Vec<String> = except_files.iter().map(u64::to_string).collect();
            format!(" AND file_id NOT IN ({})", ids.join(","))
        };
        let rows = self.client.rows(&format!(
            "SELECT winrec, ifNull(host, ''), ts FROM {} WHERE {visible} AND winrec IS NOT NULL{except}",
            self.tables.events
        ))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let host = String::from_utf8_lossy(row.get(1)?);
                Some(WindowsEvent::new(
                    field(row, 0)?,
                    Some(&host),
                    field(row, 2)?,
                ))
            })
            .collect())
    }

    fn web_rows(
        &self,
        _layouts: &[crate::formats::Layout],
        which: WebRows<'_>,
        each: &mut OnWebRow<'_>,
    ) -> Result<()> {
        let snapshot = Snapshot::read(&self.client, &self.tables)?;
        let (manifest, offsets, visible_files) = snapshot.merged();
        let visible = snapshot.visible();
        // File ids are the parts' own ranges: one id names one file in the whole case.
        let (files, condition): (Vec<&crate::case::FileRecord>, &str) = match which {
            // Every part's logs: another machine or responder may have ingested the front ends.
            WebRows::FrontEnds { except } => (
                manifest
                    .files
                    .iter()
                    .filter(|f| {
                        f.source == "w3c"
                            && visible_files.contains(&f.id)
                            && !except.contains(&f.id)
                    })
                    .collect(),
                " AND source = 'iis' AND request_id IS NOT NULL AND client IS NOT NULL",
            ),
            WebRows::Files(ids) => (
                manifest
                    .files
                    .iter()
                    .filter(|f| ids.contains(&f.id))
                    .collect(),
                "",
            ),
        };
        // A file's rows a window of lines at a time: the response is held whole in memory.
        const LINES: u64 = 100_000;
        for file in files {
            let mut from = 0;
            while from < file.lines {
                let rows = self.client.rows(&format!(
                    "SELECT part, layout, hex(client), raw FROM {} WHERE {visible} AND file_id = {} AND line > {from} AND line <= {}{condition}",
                    self.tables.events,
                    file.id,
                    from + LINES
                ))?;
                from += LINES;
                for row in rows {
                    let (Some(part), Some(layout), Some(raw)) =
                        (row.first(), field::<u64>(&row, 1), row.get(3))
                    else {
                        continue;
                    };
                    let client = row.get(2).and_then(|h| super::ip_of_hex(h));
                    let Some(offset) = offsets.get(String::from_utf8_lossy(part).as_ref()) else {
                        continue;
                    };
                    if let Some(layout) = manifest.layouts.get((offset + layout) as usize) {
                        each(file.id, layout, client, &String::from_utf8_lossy(raw));
                    }
                }
            }
        }
        Ok(())
    }

    fn add_sorted(&mut self, docs: Vec<TantivyDocument>, _fits_budget: bool) -> Result<()> {
        let mut rows = Vec::with_capacity(INSERT_BYTES.min(docs.len() * 600));
        for doc in &docs {
            row(&self.fields, doc, &self.part, self.batch, &mut rows);
            if rows.len() >= INSERT_BYTES {
                self.send(&rows)?;
                rows.clear();
            }
        }
        self.send(&rows)
    }

    fn delete_file(&mut self, _file_id: u64) -> Result<()> {
        // A file replaced leaves the manifest this commit writes: its rows are no longer
        // visible (its new events come under a new id).
        Ok(())
    }

    fn commit(&mut self, manifest: &Manifest) -> Result<()> {
        if manifest.next_file_id > self.part_end {
            return Err(Error::Usage(format!(
                "this machine's part of the case ({}) has used all its file ids: ingest the rest from another machine (TRAWL_STORE_PART=NAME)",
                self.part
            )));
        }
        let json = serde_json::to_string(manifest).map_err(|e| Error::Usage(e.to_string()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let mut commits = self
            .commits
            .lock()
            .map_err(|_| Error::Usage("the commit record is poisoned".into()))?;
        let mut data = Vec::with_capacity(json.len() + 128);
        push_escaped(&mut data, self.part.as_bytes(), false);
        data.extend_from_slice(format!("\t{}\t{}\t{now}\t", commits.seq, self.batch).as_bytes());
        push_escaped(&mut data, json.as_bytes(), false);
        data.push(b'\n');
        self.client.insert(
            &format!("INSERT INTO {} FORMAT TabSeparated", self.tables.commits),
            &data,
        )?;
        commits.batches.push(self.batch);
        commits.seq += 1;
        drop(commits);
        self.batch = new_batch();
        Ok(())
    }

    fn rollback(&mut self) {
        // The rows of the batch in progress are seen by nobody; the next ingest removes them.
    }

    fn finish(self: Box<Self>, _report: &mut IngestReport) -> Result<()> {
        Ok(())
    }
}

/// The tables every part of the case writes, created if missing.
fn create_tables(spec: &Spec, client: &Client, tables: &Tables) -> Result<()> {
    let merge_tree = format!("({EVENT_COLUMNS}) ENGINE = MergeTree ORDER BY (ts, file_id, line)");
    match (&spec.cluster, &tables.local) {
        (Some(cluster), Some(local)) => {
            for (shard, _) in shard_tables(spec, client, tables)? {
                shard.run(&format!("CREATE TABLE IF NOT EXISTS {local} {merge_tree}"))?;
            }
            client.run(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({EVENT_COLUMNS}) ENGINE = Distributed({cluster}, {}, {local}, rand())",
                tables.events, spec.database
            ))?;
        }
        _ => {
            client.run(&format!(
                "CREATE TABLE IF NOT EXISTS {} {merge_tree}",
                tables.events
            ))?;
        }
    }
    client.run(&format!(
        "CREATE TABLE IF NOT EXISTS {} (part String, seq UInt64, batch UInt64, at Int64, manifest String) ENGINE = MergeTree ORDER BY (part, seq)",
        tables.commits
    ))?;
    client.run(&format!(
        "CREATE TABLE IF NOT EXISTS {} (part String, no UInt64, at Int64) ENGINE = MergeTree ORDER BY (no, part)",
        tables.parts
    ))?;
    client.run(&format!(
        "CREATE TABLE IF NOT EXISTS {} (name String, at Int64, text String) ENGINE = MergeTree ORDER BY (name, at)",
        tables.docs
    ))?;
    Ok(())
}

/// The events table on each shard (on a single server: the table itself), with a client for
/// the server that holds it.
fn shard_tables(spec: &Spec, client: &Client, tables: &Tables) -> Result<Vec<(Client, String)>> {
    let (Some(cluster), Some(local)) = (&spec.cluster, &tables.local) else {
        return Ok(vec![(client.clone(), tables.events.clone())]);
    };
    let mut servers = spec.shards.clone();
    if servers.is_empty() {
        let port = spec.server.rsplit_once(':').map_or("8123", |(_, p)| p);
        for row in client.rows(&format!(
            "SELECT host_name FROM system.clusters WHERE cluster = {} AND replica_num = 1 ORDER BY shard_num",
            quote(cluster)
        ))? {
            if let Some(host) = row.first() {
                servers.push(format!("{}:{port}", String::from_utf8_lossy(host)));
            }
        }
    }
    if servers.is_empty() {
        return Err(Error::Usage(format!(
            "--store {}: the server knows no cluster '{cluster}' (remote_servers in its config)",
            spec.url
        )));
    }
    Ok(servers
        .iter()
        .map(|s| (Client::for_spec(s, spec), local.clone()))
        .collect())
}

/// This machine's part number: claimed as one more than the highest, then confirmed after the
/// others' claims have landed. Two machines claiming one number at once: the first name keeps
/// it, the other claims again.
fn claim_part(client: &Client, tables: &Tables, part: &str) -> Result<u64> {
    for _ in 0..20 {
        let claims = read_claims(client, tables)?;
        if let Some(no) = owner_map(&claims).get(part) {
            return Ok(*no);
        }
        let next = claims.iter().map(|(_, no)| *no).max().unwrap_or(0) + 1;
        if next > MAX_PARTS {
            return Err(Error::Usage(format!(
                "the case already has {MAX_PARTS} ingesting machines: ingest from one of them"
            )));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        client.run(&format!(
            "INSERT INTO {} VALUES ({}, {next}, {now})",
            tables.parts,
            quote(part)
        ))?;
        // Claims made at the same moment are all visible after this.
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(Error::Usage(
        "could not claim a part of the case (too many machines registering at once)".into(),
    ))
}

fn read_claims(client: &Client, tables: &Tables) -> Result<Vec<(String, u64)>> {
    Ok(client
        .rows(&format!(
            "SELECT part, no FROM {} ORDER BY no, part",
            tables.parts
        ))?
        .into_iter()
        .filter_map(|r| {
            let part = String::from_utf8_lossy(r.first()?).into_owned();
            let no = super::client::field(&r, 1)?;
            Some((part, no))
        })
        .collect())
}

/// Who owns which number: numbers in order, each to the first name (in name order) claiming it
/// that owns none yet.
fn owner_map(claims: &[(String, u64)]) -> std::collections::HashMap<String, u64> {
    let mut owned = std::collections::HashMap::new();
    let mut taken = std::collections::HashSet::new();
    let mut sorted = claims.to_vec();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    for (part, no) in sorted {
        if taken.contains(&no) || owned.contains_key(&part) {
            continue;
        }
        taken.insert(no);
        owned.insert(part, no);
    }
    owned
}

/// One event as a row of the events table, in [`EVENT_COLUMNS`] order: each field's terms as
/// the local index holds them (its tokenizers: keywords lower-cased whole, words split by
/// `schema::words_of`).
pub fn row(f: &Fields, doc: &TantivyDocument, part: &str, batch: u64, out: &mut Vec<u8>) {
    let text = |field| doc.get_first(field).and_then(|v| v.as_str());
    let num = |field| doc.get_first(field).and_then(|v| v.as_u64());
    let ip = |v: tantivy::schema::document::CompactDocValue<'_>| v.as_ip_addr().map(|a| a.octets());
    let tab = |out: &mut Vec<u8>| out.push(b'\t');
    let null = |out: &mut Vec<u8>| out.extend_from_slice(b"\\N");
    let opt = |out: &mut Vec<u8>, v: Option<&str>| match v {
        Some(v) => push_escaped(out, v.as_bytes(), false),
        None => null(out),
    };
    let opt_num = |out: &mut Vec<u8>, v: Option<u64>| match v {
        Some(v) => out.extend_from_slice(v.to_string().as_bytes()),
        None => null(out),
    };
    let lower = |v: Option<&str>| v.map(str::to_lowercase);
    push_escaped(out, part.as_bytes(), false);
    let ts = doc
        .get_first(f.ts)
        .and_then(|v| v.as_datetime())
        .map_or(0, |d| d.into_timestamp_millis());
    out.extend_from_slice(
        format!(
            "\t{batch}\t{ts}\t{}\t{}\t{}\t",
            num(f.file_id).unwrap_or(0),
            num(f.line).unwrap_or(0),
            num(f.layout).unwrap_or(0)
        )
        .as_bytes(),
    );
    opt(out, text(f.host));
    tab(out);
    opt(out, lower(text(f.host)).as_deref());
    tab(out);
    push_escaped(
        out,
        lower(text(f.source)).unwrap_or_default().as_bytes(),
        false,
    );
    tab(out);
    opt(out, text(f.method));
    tab(out);
    opt(out, lower(text(f.method)).as_deref());
    // Paths, agents and users are normalised by `schema::document` already (raw tokenizer).
    for field in [f.path, f.ua, f.user] {
        tab(out);
        opt(out, text(field));
    }
    tab(out);
    opt(out, lower(text(f.referer)).as_deref());
    for field in [f.ip, f.client] {
        tab(out);
        match doc.get_first(field).and_then(ip) {
            Some(bytes) => push_escaped(out, &bytes, false),
            None => null(out),
        }
    }
    tab(out);
    out.push(b'[');
    for (i, bytes) in doc.get_all(f.xff).filter_map(ip).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'\'');
        push_escaped(out, &bytes, true);
        out.push(b'\'');
    }
    out.push(b']');
    for field in [f.status, f.bytes, f.duration_ms, f.request_id, f.winrec] {
        tab(out);
        opt_num(out, num(field));
    }
    tab(out);
    out.push(b'[');
    for (i, term) in doc
        .get_all(f.attr)
        .filter_map(|v| v.as_str())
        .filter(|t| t.len() <= MAX_TERM)
        .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'\'');
        push_escaped(out, term.to_lowercase().as_bytes(), true);
        out.push(b'\'');
    }
    out.push(b']');
    for field in [f.query, f.text] {
        tab(out);
        let values: Vec<String> = doc
            .get_all(field)
            .filter_map(|v| v.as_str())
            .map(words_line)
            .collect();
        push_escaped(out, values.join("\n").as_bytes(), false);
    }
    tab(out);
    push_escaped(out, text(f.raw).unwrap_or_default().as_bytes(), false);
    tab(out);
    match doc.get_first(f.raw_bytes).and_then(|v| v.as_bytes()) {
        Some(b) => push_escaped(out, b, false),
        None => null(out),
    }
    out.push(b'\n');
}

/// tantivy skips terms longer than this (its postings cannot hold them).
const MAX_TERM: usize = 65_530;

/// A value's words as the words tokenizer gives them, each between spaces: a phrase is then a
/// substring of one value's line.
fn words_line(value: &str) -> String {
    let mut line = String::from(" ");
    for (a, b) in crate::schema::words_of(value) {
        line.push_str(&value[a..b].to_lowercase());
        line.push(' ');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_number_has_one_owner() {
        let claims = vec![
            ("b".to_string(), 1),
            ("a".to_string(), 1),
            ("b".to_string(), 2),
            ("c".to_string(), 3),
        ];
        let owners = owner_map(&claims);
        assert_eq!(owners.get("a"), Some(&1));
        assert_eq!(owners.get("b"), Some(&2));
        assert_eq!(owners.get("c"), Some(&3));
    }

    #[test]
    fn words_lines_hold_phrases_between_spaces() {
        assert_eq!(
            words_line("Set-OabVirtualDirectory -Identity"),
            " set oabvirtualdirectory identity "
        );
    }
}
