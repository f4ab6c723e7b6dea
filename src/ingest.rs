//! The ingest pipeline: evidence in, one document per event out, exactly once.
//!
//! ```text
//!  readers (N threads)          parsers (N threads)         writer (1 thread)
//!  sniff, hash, decode,   →     parse records, build   →    reorder per file, add documents,
//!  frame records, track         documents                   track per-file progress, commit
//!  headers: chunks                                          with the manifest as payload
//! ```
//!
//! Time order: every segment must hold its events in time order (the timeline reads segments
//! as sorted runs). Rather than have tantivy sort each segment as it writes it (a remap of every
//! posting list, column and stored document, a fifth of the cost of indexing), the writer keeps
//! the events since the last commit, sorts them by time, adds them, and commits: each indexing
//! thread receives a subsequence of one sorted run, and the commit seals its segment. tantivy's
//! merges would concatenate segments out of order, so trawl merges only small segments that
//! follow each other in time (a log that grew between two ingests), in time order.
//!
//! Exactly once: each file's chunks are added in file order, and every commit carries the
//! manifest saying how many lines of each file it contains. After a crash the case opens at its
//! last commit and the next run skips exactly the lines that commit holds. A file that grew is
//! read past its old end; a file changed in place has its old events deleted in the same commit
//! that adds the new ones.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use tantivy::indexer::UserOperation;
use tantivy::query::RangeQuery;
use tantivy::schema::Value;
use tantivy::{IndexWriter, TantivyDocument, Term};

use crate::attribution::{RequestClients, TrustedProxies};
use crate::case::{
    Case, FileRecord, MALFORMED_EXAMPLES, MalformedLine, Manifest, SkippedFile, host_from_path,
};
use crate::error::{Error, Result};
use crate::formats::{self, FormatKind, Frame, Framer, Layout, ParseCtx};
use crate::input::{self, EvidenceFile, HashingReader, Records};
use crate::progress::{OnProgress, Progress, Unit};
use crate::schema::{self, Fields, Provenance};

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Zone for timestamps written without one.
    pub tz: formats::time::Zone,
    /// Day and month order of dates written as a culture writes them (`3/5/2021`).
    pub date_order: formats::time::DateOrder,
    /// Host for files whose records and folders name none.
    pub host: Option<String>,
    /// Commit after this many new events (and at the end).
    pub commit_every: u64,
    /// Also commit when the documents waiting to be sorted by time (see the module notes) take
    /// about this much memory.
    pub sort_buffer_bytes: u64,
    /// Reader and parser threads each.
    pub threads: usize,
    /// Indexing memory budget in bytes (split between tantivy's threads).
    pub memory_budget: usize,
    /// Proxies whose X-Forwarded-For is believed (see `attribution`).
    pub proxies: TrustedProxies,
    /// Also commit by time, so that readers of a case being written (the live timeline,
    /// `search` in another terminal) see events soon: half a second after the start, then at
    /// intervals doubling up to this one. Readers see the first events at once, and a long
    /// ingest does not commit (seal a segment, stall its indexing threads) every few seconds:
    /// measured on 10M lines with a 2 s interval, the ingest beside the timeline took 25%
    /// longer than alone.
    pub commit_interval: Option<Duration>,
    /// Following logs still being written: an unfinished last line (no line ending yet: the
    /// writer is mid-line) is left for a later round instead of read as a malformed record,
    /// which would make the file read again whole once the line is finished.
    pub hold_partial_lines: bool,
    /// The front ends' clients by request GUID read in earlier rounds of a followed case (its
    /// IIS and HttpProxy rows of one request come in different rounds), shared by its rounds.
    pub earlier_clients: Option<std::sync::Arc<std::sync::Mutex<RequestClients>>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            tz: formats::utc(),
            date_order: formats::time::DateOrder::Auto,
            host: None,
            commit_every: 1_000_000,
            sort_buffer_bytes: 384 << 20,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8)),
            memory_budget: 200 << 20,
            proxies: TrustedProxies::default(),
            commit_interval: None,
            hold_partial_lines: false,
            earlier_clients: None,
        }
    }
}

/// What an ingest did.
#[derive(Debug, Default, Clone)]
pub struct IngestReport {
    pub new_files: u64,
    pub grown_files: u64,
    pub replaced_files: u64,
    pub resumed_files: u64,
    pub unchanged_files: u64,
    /// Paths whose content was already in the case (another spelling, a link, a copy, an
    /// older copy of a log that has grown since): recorded as aliases, not read again.
    pub duplicate_files: u64,
    pub new_events: u64,
    pub new_malformed: u64,
    /// Malformed records found by this run, with their file.
    pub malformed_examples: Vec<(String, MalformedLine)>,
    pub unrecognised: Vec<SkippedFile>,
    pub unreadable: Vec<SkippedFile>,
    pub bytes_read: u64,
    pub elapsed: Duration,
    /// Files touched by this run, by format name.
    pub files_by_format: BTreeMap<String, u64>,
    pub read_errors: Vec<(String, String)>,
    /// Problems that did not stop the ingest.
    pub warnings: Vec<String>,
    /// HttpProxy and back-end rows that took their client from the front-end request.
    pub inherited_clients: u64,
    /// Windows events already in the case, or read twice in this run (another copy of the same
    /// log): not added again.
    pub duplicate_events: u64,
    /// HttpProxy and back-end logs already in the case whose rows a front end read in this run
    /// names another client for (they came before it): read again at once when given in this
    /// run, otherwise marked to be when next given.
    pub to_attribute: Vec<String>,
    /// Of those, the logs read again, and their events.
    pub reattributed_files: u64,
    pub reattributed_events: u64,
}

/// What to do with one piece of evidence.
#[derive(Debug, Clone)]
struct Task {
    evidence: EvidenceFile,
    file_id: u64,
    /// Lines already in the index for this file id.
    skip_lines: u64,
    /// The record to continue (grown or resumed files).
    previous: Option<FileRecord>,
    /// Events of this file id to delete first (a file changed in place).
    replaces: Option<u64>,
    host: Option<String>,
    /// SHA-256 of the file's first 4 KiB, for a new record.
    head_sha256: Option<String>,
    /// Other paths found with the same content in this run.
    aliases: Vec<String>,
    /// Earlier sizes of this content known under other paths (a copy taken before the log
    /// grew), for a new record.
    checkpoints: Vec<crate::case::Checkpoint>,
    /// Where to go on reading a followed log that grew (its old bytes are not read again).
    resume: Option<crate::case::ResumePoint>,
    /// A front end's IIS log (see `FileRecord::front_end`).
    front_end: bool,
}

impl Task {
    /// A file that goes on with the record `previous` (grown, continued or resumed): its lines
    /// up to the record's are not indexed again.
    fn going_on(previous: FileRecord, evidence: EvidenceFile, host: Option<String>) -> Task {
        Task {
            file_id: previous.id,
            skip_lines: previous.lines,
            previous: Some(previous),
            replaces: None,
            evidence,
            host,
            head_sha256: None,
            aliases: Vec::new(),
            checkpoints: Vec::new(),
            resume: None,
            front_end: false,
        }
    }

    /// A file read from its start under a new id (new to the case, or replacing `replaces`),
    /// with the hash of its first bytes (`EvidenceFile::head_sha256`).
    fn whole(
        file_id: u64,
        evidence: EvidenceFile,
        host: Option<String>,
        head_sha256: Option<String>,
        replaces: Option<u64>,
    ) -> Task {
        Task {
            evidence,
            file_id,
            skip_lines: 0,
            previous: None,
            replaces,
            host,
            head_sha256,
            aliases: Vec::new(),
            checkpoints: Vec::new(),
            resume: None,
            front_end: false,
        }
    }
}

/// A run of records sharing one layout, on its way to a parser.
struct Chunk {
    /// Last physical line covered by the chunk's records.
    end_line: u64,
    layout: Arc<Layout>,
    layout_id: u64,
    /// (first line, lines spanned, start, end) of each record in `buf`.
    records: Vec<(u64, u64, usize, usize)>,
    buf: Vec<u8>,
}

/// Messages for one file, numbered so the writer can apply them in file order.
enum Payload {
    Start {
        format: FormatKind,
        source: String,
    },
    Chunk(Chunk),
    Docs(Parsed),
    /// Lines that carry no event up to `end_line` (directives, malformed framing).
    Progress {
        end_line: u64,
        skipped: u64,
        continuation: u64,
        malformed: Vec<MalformedLine>,
    },
    End {
        end_line: u64,
        size: u64,
        sha256: Option<String>,
        ends_with_newline: bool,
        error: Option<String>,
        /// The file's size and time when its unfinished last line was left for later.
        held_back: Option<crate::case::HeldBack>,
        /// Where a later round can go on reading (a followed log).
        resume: Option<crate::case::ResumePoint>,
    },
    Unrecognised {
        reason: String,
    },
}

struct Message {
    task: usize,
    seq: u64,
    payload: Payload,
}

struct Parsed {
    /// (time in ms, document).
    docs: Vec<(i64, TantivyDocument)>,
    /// Memory the documents take, roughly (see [`approx_memory`]).
    doc_bytes: u64,
    /// Column names met in records of layouts whose columns vary.
    dynamic_attrs: std::collections::BTreeSet<String>,
    end_line: u64,
    continuation: u64,
    /// Torn records followed on their line by a whole one (see `FileRecord::torn_records`).
    torn: u64,
    malformed: Vec<MalformedLine>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    naive: u64,
    /// Events carrying Sysmon's `UtcTime`, by how far their time is from it (see [`ClockCheck`]).
    clock: ClockCheck,
    /// (request GUID, client, time) of front-end requests, for the rows that inherit their client.
    joins: Vec<(u128, std::net::IpAddr, i64)>,
    inherited: u64,
    /// Windows events among `docs` (by index), as copies of them are told apart.
    windows: Vec<(usize, WindowsEvent)>,
}

/// What parsers need to attribute events to their clients.
struct Attribution<'a> {
    proxies: &'a TrustedProxies,
    /// Clients of the front-end requests ingested in the first phase.
    joins: Option<&'a RequestClients>,
    /// Collect front-end requests' clients (first phase).
    collect: bool,
}

/// Shared registry of layouts, so every event can point at its layout by number.
#[derive(Default)]
struct Layouts {
    by_json: HashMap<String, u64>,
    list: Vec<Layout>,
    /// The ingest's `--date-order`, kept in each new CSV layout so that a record is read again
    /// (shown, exported, checked by a rule) as it was read first.
    date_order: formats::time::DateOrder,
}

impl Layouts {
    fn from_manifest(m: &Manifest) -> Self {
        let mut l = Layouts::default();
        for layout in &m.layouts {
            l.intern(layout);
        }
        l
    }

    fn intern(&mut self, layout: &Layout) -> u64 {
        let key = serde_json::to_string(layout).unwrap_or_default();
        if let Some(id) = self.by_json.get(&key) {
            return *id;
        }
        let id = self.list.len() as u64;
        self.list.push(layout.clone());
        self.by_json.insert(key, id);
        id
    }
}

/// The first commit of an ingest read while it runs (see `IngestOptions::commit_interval`).
const FIRST_COMMIT_AFTER: Duration = Duration::from_millis(500);

/// The front ends' requests a followed case keeps the clients of from round to round (12 bytes
/// each, see `RequestClients`): past this, the next round starts the count again from its own.
const EARLIER_CLIENTS: usize = 2_000_000;

const CHUNK_RECORDS: usize = 4096;
/// Where an ingest puts events and keeps its manifest: the local case (below), or another
/// store (`crate::store`). The pipeline, the exactly-once bookkeeping and the manifest are the
/// same for every destination; each only stores what it is given.
pub trait Destination {
    /// The manifest of the last commit.
    fn manifest(&self) -> &Manifest;
    fn manifest_mut(&mut self) -> &mut Manifest;
    /// The schema documents are built for.
    fn fields(&self) -> &Fields;
    /// A directory the walk of the evidence must not enter (the case's own).
    fn own_dir(&self) -> Option<&std::path::Path>;
    /// Checks the destination can be written, and repairs what a crash may have left.
    fn prepare(&mut self, report: &mut IngestReport) -> Result<()>;
    /// A writer for one ingest: `threads` indexing threads within `memory_budget` bytes.
    fn writer(&mut self, threads: usize, memory_budget: usize) -> Result<Box<dyn EventWriter>>;
    /// The ingest has committed this manifest last.
    fn committed(&mut self, manifest: Manifest) -> Result<()>;
}

/// A Windows event as an ingest tells copies of it apart: its identity (channel and record
/// number, `formats::evtx::record_identity`), its host and its second. Two events alike in all
/// three are one event read twice; a log cleared and started again numbers its records anew,
/// but at other times. The second, not the millisecond: `Export-Csv` writes whole seconds, and
/// its rows are the EVTX's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowsEvent {
    identity: u64,
    host: u64,
    second: i64,
}

impl WindowsEvent {
    /// The key of an event as indexed (its host as the document holds it).
    pub fn new(identity: u64, host: Option<&str>, ts_ms: i64) -> WindowsEvent {
        let mut h = formats::evtx::Fnv1a::default();
        for b in host.unwrap_or_default().bytes() {
            h.byte(b.to_ascii_lowercase());
        }
        WindowsEvent {
            identity,
            host: h.0,
            second: ts_ms.div_euclid(1000),
        }
    }
}

/// What [`EventWriter::web_rows`] calls with each row: its file, layout, client and record.
pub type OnWebRow<'a> = dyn FnMut(u64, &Layout, Option<std::net::IpAddr>, &str) + 'a;

/// Which committed rows [`EventWriter::web_rows`] reads.
#[derive(Debug, Clone, Copy)]
pub enum WebRows<'a> {
    /// Every IIS row (of every part of a store case), but those of these files of the case.
    FrontEnds { except: &'a [u64] },
    /// Every row of these files of the case.
    Files(&'a [u64]),
}

/// Adds events and commits them with the manifest, all or nothing per commit.
pub trait EventWriter: Send {
    /// The Windows events committed so far, but those of the files listed (being replaced).
    fn windows_events(&self, except_files: &[u64]) -> Result<Vec<WindowsEvent>>;
    /// Committed web rows, each with its file, its layout (from `layouts`, the manifest's, or
    /// the store's own) and its client as indexed: the front ends' clients an ingest's HttpProxy
    /// and back-end rows inherit when their front end's log came earlier, and the rows of older
    /// files that a front end read now would attribute otherwise (see `front_end_clients` and `attributed_otherwise`).
    fn web_rows(
        &self,
        layouts: &[Layout],
        which: WebRows<'_>,
        each: &mut OnWebRow<'_>,
    ) -> Result<()>;
    /// Adds events given in time order; `fits_budget`: they fit the writer's memory budget.
    fn add_sorted(&mut self, docs: Vec<TantivyDocument>, fits_budget: bool) -> Result<()>;
    /// Deletes the events of a file (in the same commit as what replaces them).
    fn delete_file(&mut self, file_id: u64) -> Result<()>;
    /// Makes what was added and deleted since the last commit visible, with this manifest.
    fn commit(&mut self, manifest: &Manifest) -> Result<()>;
    /// Drops what was added since the last commit.
    fn rollback(&mut self);
    /// After the last commit: compacts what can be compacted.
    fn finish(self: Box<Self>, report: &mut IngestReport) -> Result<()>;
}

impl Destination for Case {
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
        Some(&self.dir)
    }

    fn prepare(&mut self, report: &mut IngestReport) -> Result<()> {
        if self.read_only {
            return Err(Error::Case {
                path: self.dir.clone(),
                message: "on read-only media: it can be searched, not added to (copy it to ingest)"
                    .into(),
            });
        }
        repair_damaged_segments(self, report)
    }

    fn writer(&mut self, threads: usize, memory_budget: usize) -> Result<Box<dyn EventWriter>> {
        let writer: IndexWriter = self.index.writer_with_num_threads(threads, memory_budget)?;
        // Merging concatenates segments, which would break their time order (see above).
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        Ok(Box::new(LocalWriter {
            writer,
            index: self.index.clone(),
            fields: self.fields.clone(),
            indexing_threads: threads,
        }))
    }

    fn committed(&mut self, manifest: Manifest) -> Result<()> {
        self.manifest = manifest;
        self.write_manifest_copy()
    }
}

/// The local case's writer: tantivy's, with the manifest as each commit's payload.
struct LocalWriter {
    writer: IndexWriter,
    index: tantivy::Index,
    fields: Fields,
    indexing_threads: usize,
}

impl EventWriter for LocalWriter {
    fn windows_events(&self, except_files: &[u64]) -> Result<Vec<WindowsEvent>> {
        let reader = self
            .index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let except: std::collections::HashSet<u64> = except_files.iter().copied().collect();
        let mut out = Vec::new();
        for segment in searcher.segment_readers() {
            let columns = segment.fast_fields();
            let Some(identity) = columns.column_opt::<u64>(schema::fields::WINREC)? else {
                continue;
            };
            let ts = columns.date(crate::event::names::TS)?;
            let file = columns.u64(schema::fields::FILE_ID)?;
            let host = columns.str(crate::event::names::HOST)?;
            let alive = segment.alive_bitset();
            // Host names repeat: each looked up in the column's dictionary once.
            let mut hosts: HashMap<Option<u64>, Option<String>> = HashMap::new();
            let mut name = String::new();
            for doc in 0..segment.max_doc() {
                let Some(id) = identity.first(doc) else {
                    continue;
                };
                if alive.is_some_and(|a| a.is_deleted(doc))
                    || file.first(doc).is_some_and(|f| except.contains(&f))
                {
                    continue;
                }
                let ord = host.as_ref().and_then(|h| h.term_ords(doc).next());
                let host_name = hosts.entry(ord).or_insert_with(|| {
                    let (Some(h), Some(ord)) = (&host, ord) else {
                        return None;
                    };
                    name.clear();
                    h.ord_to_str(ord, &mut name).ok()?.then(|| name.clone())
                });
                let ms = ts.first(doc).map_or(0, |d| d.into_timestamp_millis());
                out.push(WindowsEvent::new(id, host_name.as_deref(), ms));
            }
        }
        Ok(out)
    }

    fn web_rows(
        &self,
        layouts: &[Layout],
        which: WebRows<'_>,
        each: &mut OnWebRow<'_>,
    ) -> Result<()> {
        let (files, listed_only) = match which {
            WebRows::FrontEnds { except } => (except, false),
            WebRows::Files(files) => (files, true),
        };
        let files: std::collections::HashSet<u64> = files.iter().copied().collect();
        let reader = self
            .index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        for segment in searcher.segment_readers() {
            let columns = segment.fast_fields();
            let Some(source) = columns.str(crate::event::names::SOURCE)? else {
                continue;
            };
            let iis = source
                .dictionary()
                .term_ord("iis")
                .map_err(tantivy::TantivyError::from)?;
            if !listed_only && iis.is_none() {
                continue;
            }
            // Only rows with a request GUID (its 16-bit bucket is indexed) give or inherit a
            // client; the others' stored records are not read.
            let with_guid = {
                let index = segment.inverted_index(self.fields.request_id)?;
                let mut docs = Vec::new();
                let mut terms = index
                    .terms()
                    .stream()
                    .map_err(tantivy::TantivyError::from)?;
                while terms.advance() {
                    let mut postings = index
                        .read_postings_from_terminfo(
                            terms.value(),
                            tantivy::schema::IndexRecordOption::Basic,
                        )
                        .map_err(tantivy::TantivyError::from)?;
                    let mut doc = tantivy::DocSet::doc(&postings);
                    while doc != tantivy::TERMINATED {
                        docs.push(doc);
                        doc = tantivy::DocSet::advance(&mut postings);
                    }
                }
                crate::sets::BitSet::of(&docs, segment.max_doc())
            };
            let client = columns.column_opt::<std::net::Ipv6Addr>(crate::event::names::CLIENT)?;
            let file = columns.u64(schema::fields::FILE_ID)?;
            let layout = columns.u64(schema::fields::LAYOUT)?;
            let alive = segment.alive_bitset();
            // Only the rows asked for have their stored records read: a case's other events
            // cost a look at their columns.
            let store = segment
                .get_store_reader(16)
                .map_err(tantivy::TantivyError::from)?;
            for doc in 0..segment.max_doc() {
                let Some(file_id) = file.first(doc) else {
                    continue;
                };
                let wanted = with_guid.contains(doc)
                    && if listed_only {
                        files.contains(&file_id)
                    } else {
                        !files.contains(&file_id) && source.term_ords(doc).next() == iis
                    };
                if !wanted || alive.is_some_and(|a| a.is_deleted(doc)) {
                    continue;
                }
                let Some(layout) = layout.first(doc).and_then(|l| layouts.get(l as usize)) else {
                    continue;
                };
                let ip = client
                    .as_ref()
                    .and_then(|c| c.first(doc))
                    .map(schema::v6_to_ip);
                let stored: TantivyDocument = store.get(doc)?;
                if let Some(raw) = stored.get_first(self.fields.raw).and_then(|v| v.as_str()) {
                    each(file_id, layout, ip, raw);
                }
            }
        }
        Ok(())
    }

    /// A run that fits in tantivy's memory budget (the end of an ingest, or a log that grew
    /// since the last one) is cut into one contiguous slice per indexing thread, each sent as
    /// one batch that one thread indexes whole: the segments then cover consecutive stretches of
    /// time, and can be merged with segments before or after them (see
    /// [`merge_consecutive_small_segments`]). A larger run is spread document by document, which
    /// keeps every thread busy and within its share of the budget; each thread's segment is
    /// still a subsequence of the run, in time order.
    fn add_sorted(&mut self, docs: Vec<TantivyDocument>, fits_budget: bool) -> Result<()> {
        if fits_budget {
            let per_slice = docs.len().div_ceil(self.indexing_threads).max(1);
            let mut docs = docs.into_iter();
            loop {
                let batch: Vec<UserOperation> = docs
                    .by_ref()
                    .take(per_slice)
                    .map(UserOperation::Add)
                    .collect();
                if batch.is_empty() {
                    break;
                }
                self.writer.run(batch)?;
            }
        } else {
            for doc in docs {
                self.writer.add_document(doc)?;
            }
        }
        Ok(())
    }

    fn delete_file(&mut self, file_id: u64) -> Result<()> {
        delete_file(&self.writer, &self.fields, file_id)
    }

    fn commit(&mut self, manifest: &Manifest) -> Result<()> {
        let payload = serde_json::to_string(manifest).map_err(|e| Error::Usage(e.to_string()))?;
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        Ok(())
    }

    fn rollback(&mut self) {
        let _ = self.writer.rollback();
    }

    fn finish(mut self: Box<Self>, report: &mut IngestReport) -> Result<()> {
        // Everything is committed: a merge that fails leaves the index as it is, only less
        // compact.
        if let Err(e) = merge_consecutive_small_segments(&self.index, &mut self.writer) {
            report
                .warnings
                .push(format!("segments were not merged: {e}"));
        }
        self.writer.wait_merging_threads()?;
        Ok(())
    }
}

const CHUNK_BYTES: usize = 2 << 20;
const SNIFF_BYTES: usize = 64 << 10;

/// Ingests the evidence under `inputs` into the case.
pub fn ingest(
    dest: &mut dyn Destination,
    inputs: &[PathBuf],
    opts: &IngestOptions,
    on_progress: OnProgress<'_>,
) -> Result<IngestReport> {
    let mut report = ingest_once(dest, inputs, opts, on_progress)?;
    if report.to_attribute.is_empty() {
        return Ok(report);
    }
    // Logs whose rows the front ends read now attribute otherwise are marked to be read again,
    // and are at once where their path still holds what was read (given in this run or an
    // earlier one, from where it was given): inheriting their clients from the front ends now
    // in the case. Only they are given to the second pass: the run's own inputs are read.
    let flagged: Vec<&FileRecord> = dest
        .manifest()
        .files
        .iter()
        .filter(|f| f.recheck && report.to_attribute.contains(&f.path))
        .collect();
    let (again, elsewhere): (Vec<&FileRecord>, Vec<&FileRecord>) =
        flagged.into_iter().partition(|f| main_path_holds(f));
    for f in elsewhere {
        report.warnings.push(format!(
            "{}: a front end read now names other clients (behind a balancer) for some of its requests than it does, and its path no longer holds what was read (moved, changed, or inside an archive): give it again to attribute them",
            f.path
        ));
    }
    if again.is_empty() {
        return Ok(report);
    }
    let again_inputs: Vec<PathBuf> = again.iter().map(|f| PathBuf::from(&f.path)).collect();
    match ingest_once(dest, &again_inputs, opts, on_progress) {
        Ok(again) => {
            report.reattributed_files = again.replaced_files;
            report.reattributed_events = again.new_events;
            report.bytes_read += again.bytes_read;
            report.elapsed += again.elapsed;
            report.inherited_clients += again.inherited_clients;
            report.read_errors.extend(again.read_errors);
            for w in again.warnings {
                if !report.warnings.contains(&w) {
                    report.warnings.push(w);
                }
            }
        }
        // What the first pass committed stands; the files stay marked for the next ingest.
        Err(e) => report.warnings.push(format!(
            "the HttpProxy and back-end logs to attribute again were not read again ({e}): they are when next given"
        )),
    }
    Ok(report)
}

/// One pass of [`ingest`].
fn ingest_once(
    dest: &mut dyn Destination,
    inputs: &[PathBuf],
    opts: &IngestOptions,
    on_progress: OnProgress<'_>,
) -> Result<IngestReport> {
    let started = Instant::now();
    let mut report = IngestReport::default();
    dest.prepare(&mut report)?;
    let (mut evidence, unreadable) = input::discover(inputs, dest.own_dir());
    // A file given twice (by itself and in its folder) is one piece of evidence.
    let mut paths = std::collections::HashSet::new();
    evidence.retain(|e| paths.insert(e.path.clone()));
    report.unreadable = unreadable
        .into_iter()
        .map(|u| SkippedFile {
            path: u.path,
            size: 0,
            reason: u.reason,
        })
        .collect();
    let aliases = |m: &Manifest| m.files.iter().map(|f| f.aliases.len()).sum::<usize>();
    let before = aliases(dest.manifest());
    let mut tasks = plan(dest.manifest_mut(), evidence, opts, &mut report);
    if tasks.is_empty() {
        // New aliases alone are committed too: the manifest lists every path evidence was
        // found under.
        if aliases(dest.manifest()) != before {
            let manifest = dest.manifest().clone();
            let mut writer = dest.writer(1, 15_000_000)?;
            writer.commit(&manifest)?;
            writer.finish(&mut report)?;
            dest.committed(manifest)?;
        }
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    let total_bytes: u64 = tasks.iter().map(|t| t.evidence.size).sum();
    let progress = Counters::new(total_bytes, tasks.len() as u64, on_progress);

    let mut layouts = Layouts::from_manifest(dest.manifest());
    layouts.date_order = opts.date_order;
    let layouts = std::sync::Mutex::new(layouts);
    let ctx = ParseCtx { tz: opts.tz };
    let threads = opts.threads.max(1);
    let indexing_threads = threads.min(4);
    let mut writer = dest.writer(indexing_threads, opts.memory_budget)?;
    let stop = AtomicBool::new(false);

    // Front-end IIS logs first: their requests' clients are what the HttpProxy and back-end
    // rows of the same requests inherit (see `attribution`).
    let (mut front, mut rest) = (Vec::new(), Vec::new());
    // The front ends' clients are only kept when some row can inherit them.
    let mut joins_needed = false;
    for (i, task) in tasks.iter_mut().enumerate() {
        let head = task.evidence.head(SNIFF_BYTES).unwrap_or_default();
        if task.host.is_none() {
            // A W3C log nothing names the server of (copied out of its folders) is named by
            // the server's own address, one name for the whole file.
            let addresses = formats::w3c::server_addresses(&head);
            task.host = addresses.first().map(ToString::to_string);
            if addresses.len() > 1 {
                let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                report.warnings.push(format!(
                    "{}: its rows name several server addresses ({}): read as one server's log, the host {}; if it merges several servers' logs, give each server's rows in a file of their own",
                    task.evidence.path,
                    list.join(", "),
                    list[0]
                ));
            }
        }
        if formats::w3c::is_iis_front_end(&head) {
            task.front_end = true;
            front.push(i);
        } else {
            joins_needed |= formats::w3c::may_inherit_client(&head);
            rest.push(i);
        }
    }
    // HttpProxy and back-end logs already in the case, whose rows a front end read now may name
    // another client for (they came before it).
    let older_rows: Vec<u64> = if front.is_empty() || opts.earlier_clients.is_some() {
        Vec::new()
    } else {
        let read_now: std::collections::HashSet<u64> = tasks
            .iter()
            .flat_map(|t| [Some(t.file_id), t.replaces])
            .flatten()
            .collect();
        dest.manifest()
            .files
            .iter()
            .filter(|f| {
                matches!(f.source.as_str(), "w3c" | "exchange-csv") && f.events > 0 && !f.front_end
            })
            .map(|f| f.id)
            .filter(|id| !read_now.contains(id))
            .collect()
    };
    let mut manifest = dest.manifest().clone();
    if manifest.trusted_proxies != opts.proxies.declared {
        if manifest.totals().0 > 0 {
            let list = |c: &[crate::attribution::Cidr]| {
                let v: Vec<String> = c.iter().map(ToString::to_string).collect();
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            report.warnings.push(format!(
                "trusted proxies changed from [{}] to [{}]: events already in the case keep the client attributed under the old list (ingest into a new case to attribute everything alike)",
                list(&manifest.trusted_proxies),
                list(&opts.proxies.declared)
            ));
        }
        manifest.trusted_proxies = opts.proxies.declared.clone();
    }
    let mut state = WriterState {
        manifest,
        tasks: &tasks,
        records: HashMap::new(),
        since_commit: 0,
        run: Vec::new(),
        run_bytes: 0,
        report: &mut report,
        fields: dest.fields(),
        opts,
        progress: &progress,
        joins: RequestClients::default(),
        commit_due: opts
            .commit_interval
            .map(|i| started + i.min(FIRST_COMMIT_AFTER)),
        commit_gap: FIRST_COMMIT_AFTER,
        windows: None,
    };
    let mut outcome = Ok(());
    let mut joins = RequestClients::default();
    for (phase, indices) in [front, rest].into_iter().enumerate() {
        if indices.is_empty() {
            continue;
        }
        if phase == 1 {
            // The writer collected the front ends' clients during the first phase.
            joins = with_earlier(std::mem::take(&mut state.joins), opts);
            if joins_needed && !joins.has_case {
                // The front ends' logs may have come in an earlier ingest (or one killed after
                // they were committed): their rows in the case are read for their clients.
                // Files read whole now (their clients collected as they were read) and the
                // files they replace (their rows go with this ingest's commit).
                let read_now: Vec<u64> = tasks
                    .iter()
                    .filter(|t| t.previous.is_none())
                    .flat_map(|t| [Some(t.file_id), t.replaces])
                    .flatten()
                    .collect();
                let list = layouts.lock().map(|l| l.list.clone()).unwrap_or_default();
                match front_end_clients(writer.as_ref(), &list, &read_now, &mut joins) {
                    Ok(()) => joins.has_case = true,
                    Err(e) => state.report.warnings.push(format!(
                        "the clients of front-end requests already in the case could not be read ({e}): HttpProxy and back-end rows of those requests keep the address they logged"
                    )),
                }
            }
            joins.finish();
        }
        let attribution = Attribution {
            proxies: &opts.proxies,
            joins: (phase == 1).then_some(&joins),
            collect: phase == 0
                && (joins_needed || opts.earlier_clients.is_some() || !older_rows.is_empty()),
        };
        outcome = run_phase(
            &indices,
            &tasks,
            &mut state,
            writer.as_mut(),
            &layouts,
            &ctx,
            &attribution,
            &stop,
        );
        if outcome.is_err() {
            break;
        }
    }
    if outcome.is_ok() && !older_rows.is_empty() {
        finish_without_second_phase(&mut joins, &mut state.joins, opts);
        let list = layouts.lock().map(|l| l.list.clone()).unwrap_or_default();
        match attributed_otherwise(writer.as_ref(), &list, &older_rows, &joins) {
            Ok(files) => {
                for f in state.manifest.files.iter_mut() {
                    if files.contains(&f.id) {
                        f.recheck = true;
                        state.report.to_attribute.push(f.path.clone());
                    }
                }
            }
            Err(e) => state.report.warnings.push(format!(
                "the HttpProxy and back-end rows already in the case could not be checked against the front ends read now ({e}): ingest into a new case, front ends and all, to attribute them behind balancers"
            )),
        }
    }
    if let Some(earlier) = opts.earlier_clients.as_ref() {
        finish_without_second_phase(&mut joins, &mut state.joins, opts);
        if let Ok(mut earlier) = earlier.lock() {
            *earlier = std::mem::take(&mut joins);
        }
    }
    drop(joins);
    let outcome = outcome
        .and_then(|()| state.commit(writer.as_mut(), &layouts))
        .map(|()| state.manifest);
    let manifest = match outcome {
        Ok(m) => m,
        Err(e) => {
            // The store stays at its last commit; the next run resumes from there.
            writer.rollback();
            return Err(e);
        }
    };
    writer.finish(&mut report)?;
    zones_apart(&manifest, &tasks, &mut report);
    dest.committed(manifest)?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A time without a zone is read once, with the zone of its ingest: when this ingest read such
/// times in another zone than files already in the case, the summary says which zones.
fn zones_apart(manifest: &Manifest, tasks: &[Task], report: &mut IngestReport) {
    let read_now: std::collections::HashSet<u64> = tasks.iter().map(|t| t.file_id).collect();
    let mut zones: BTreeMap<&str, (u64, bool)> = BTreeMap::new();
    for f in manifest.files.iter().filter(|f| f.naive_times > 0) {
        if let Some(tz) = f.tz.as_deref() {
            let zone = zones.entry(tz).or_default();
            zone.0 += 1;
            zone.1 |= read_now.contains(&f.id);
        }
    }
    if zones.len() > 1 && zones.values().any(|(_, now)| *now) {
        let list: Vec<String> = zones
            .iter()
            .map(|(tz, (n, _))| format!("{tz} ({n} file(s))"))
            .collect();
        report.warnings.push(format!(
            "times without a zone in this case were read in different zones: {}; each file keeps the zone it was read with (ingest into a new case with one --tz to read them alike)",
            list.join(", ")
        ));
    }
}

/// A segment whose files cannot be opened (a copy cut short, a truncated file): the case
/// cannot be read at all while the commit lists it. It is dropped from the commit, the files
/// whose events it held lose the rest of them too and leave the manifest, and this ingest (or
/// the next that is given them) reads them again whole. Said in the report.
fn repair_damaged_segments(case: &mut Case, report: &mut IngestReport) -> Result<()> {
    if case.reader().is_ok() {
        return Ok(());
    }
    let metas = case.index.load_metas()?;
    let (good, bad): (Vec<_>, Vec<_>) =
        metas.segments.iter().cloned().partition(|meta| {
            tantivy::SegmentReader::open(&case.index.segment(meta.clone())).is_ok()
        });
    if bad.is_empty() {
        // Something else is wrong: say it as it is.
        case.reader()?;
        return Ok(());
    }
    let lost: u64 = bad.iter().map(|m| u64::from(m.num_docs())).sum();
    let mut repaired = metas.clone();
    repaired.segments = good;
    let mut bytes = serde_json::to_vec(&repaired).map_err(|e| Error::Usage(e.to_string()))?;
    bytes.push(b'\n');
    tantivy::directory::Directory::atomic_write(
        case.index.directory(),
        std::path::Path::new("meta.json"),
        &bytes,
    )
    .map_err(|e| Error::io(case.dir.join("index/meta.json"), e))?;
    let dir = case.dir.clone();
    *case = Case::open(&dir)?;
    // The files that lost events: the rest of theirs go, and they are read again whole.
    let searcher = case.reader()?.searcher();
    let mut damaged = Vec::new();
    for f in &case.manifest.files {
        let held =
            searcher.search(&file_query(&case.fields, f.id), &tantivy::collector::Count)? as u64;
        if held < f.events {
            damaged.push(f.id);
        }
    }
    let mut writer: IndexWriter = case.index.writer_with_num_threads(1, 15_000_000)?;
    for id in &damaged {
        delete_file(&writer, &case.fields, *id)?;
    }
    let mut manifest = case.manifest.clone();
    let paths: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| damaged.contains(&f.id))
        .map(|f| f.path.clone())
        .collect();
    manifest.files.retain(|f| !damaged.contains(&f.id));
    let payload = serde_json::to_string(&manifest).map_err(|e| Error::Usage(e.to_string()))?;
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&payload);
    prepared.commit()?;
    writer.wait_merging_threads()?;
    case.manifest = manifest;
    case.write_manifest_copy()?;
    const SHOWN: usize = 10;
    let more = match paths.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more (trawl stats lists the case's files)"),
    };
    report.warnings.push(format!(
        "the index had {} damaged segment(s) ({lost} events): dropped, with the other events of the {} file(s) they held, which are read again whole when given: {}{more}",
        bad.len(),
        paths.len(),
        paths[..paths.len().min(SHOWN)].join(", ")
    ));
    Ok(())
}

/// Runs readers, parsers and the writer over some of the tasks.
#[allow(clippy::too_many_arguments)]
fn run_phase(
    indices: &[usize],
    tasks: &[Task],
    state: &mut WriterState<'_>,
    writer: &mut dyn EventWriter,
    layouts: &std::sync::Mutex<Layouts>,
    ctx: &ParseCtx,
    attribution: &Attribution<'_>,
    stop: &AtomicBool,
) -> Result<()> {
    let threads = state.opts.threads.max(1);
    let (task_tx, task_rx) = bounded::<usize>(indices.len());
    for &i in indices {
        let _ = task_tx.send(i);
    }
    drop(task_tx);
    let (chunk_tx, chunk_rx) = bounded::<Message>(threads * 4);
    let (done_tx, done_rx) = bounded::<Message>(threads * 4);
    let progress = state.progress;
    let fields = state.fields;
    let hold = state.opts.hold_partial_lines;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (task_rx, chunk_tx) = (task_rx.clone(), chunk_tx.clone());
            scope.spawn(move || {
                while let Ok(i) = task_rx.recv() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    read_task(i, &tasks[i], layouts, ctx, &chunk_tx, progress, hold);
                }
            });
        }
        drop(chunk_tx);
        for _ in 0..threads {
            let (chunk_rx, done_tx) = (chunk_rx.clone(), done_tx.clone());
            scope.spawn(move || parse_worker(&chunk_rx, &done_tx, tasks, fields, ctx, attribution));
        }
        drop(done_tx);
        let result = state.run(writer, &done_rx, layouts);
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
            // Drain so that readers and parsers blocked on full channels can finish.
            while done_rx.recv().is_ok() {}
        }
        result
    })
}

/// Segments with fewer events than this are merged when they follow each other in time.
const SMALL_SEGMENT: u32 = 300_000;
/// A merge stops growing at this many events.
const MERGED_SEGMENT_MAX: u32 = 1_000_000;

/// Merges runs of small segments in which each ends no later than the next begins: their
/// concatenation, which is what a merge writes, is in time order. Repeated ingests of growing
/// logs would otherwise leave one more small segment each time.
fn merge_consecutive_small_segments(
    index: &tantivy::Index,
    writer: &mut IndexWriter,
) -> Result<()> {
    let reader: tantivy::IndexReader = index
        .reader_builder()
        .reload_policy(tantivy::ReloadPolicy::Manual)
        .try_into()?;
    let searcher = reader.searcher();
    // (first time, last time, events, segment) of each small segment, in time order.
    let mut spans = Vec::new();
    for segment in searcher.segment_readers() {
        let max_doc = segment.max_doc();
        if max_doc == 0 || segment.num_docs() >= SMALL_SEGMENT {
            continue;
        }
        let ts = segment
            .fast_fields()
            .date(crate::event::names::TS)?
            .first_or_default_col(tantivy::DateTime::MIN);
        let (first, last) = (ts.get_val(0), ts.get_val(max_doc - 1));
        spans.push((first, last, segment.num_docs(), segment.segment_id()));
    }
    spans.sort_by_key(|&(first, last, _, _)| (first, last));
    let mut chains: Vec<Vec<tantivy::index::SegmentId>> = Vec::new();
    let mut chain_end = None;
    let mut chain_docs = 0;
    for (first, last, docs, id) in spans {
        let follows = chain_end.is_some_and(|end| end <= first);
        match chains.last_mut() {
            Some(chain) if follows && chain_docs + docs <= MERGED_SEGMENT_MAX => {
                chain.push(id);
                chain_docs += docs;
            }
            _ => {
                chains.push(vec![id]);
                chain_docs = docs;
            }
        }
        chain_end = Some(last);
    }
    for chain in chains.into_iter().filter(|c| c.len() > 1) {
        writer.merge(&chain).wait()?;
    }
    Ok(())
}

/// Compares the evidence found with the manifest and decides what to read. Evidence is known
/// by its content, not its path: a path never seen before whose content is already in the case
/// (another spelling of a folder, a symbolic link, a copy, a copy taken before the log grew)
/// is recorded as an alias and not read again; one whose content continues an ingested file
/// (the same log collected again later) adds only its new lines.
fn plan(
    manifest: &mut Manifest,
    evidence: Vec<EvidenceFile>,
    opts: &IngestOptions,
    report: &mut IngestReport,
) -> Vec<Task> {
    let by_path: HashMap<String, usize> = manifest
        .files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.paths().map(move |p| (p.to_string(), i)))
        .collect();
    let mut by_head: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in manifest.files.iter().enumerate() {
        if let Some(h) = &f.head_sha256 {
            by_head.entry(h.clone()).or_default().push(i);
        }
    }
    // Complete records shorter than the head hashed (`input::HEAD_BYTES`): their head hash is
    // their whole content's, never a longer copy's head, so a log first collected with a few
    // rows and again grown is looked for among them by size.
    let mut small: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, f) in manifest.files.iter().enumerate() {
        if f.complete && f.size < crate::input::HEAD_BYTES && f.sha256.is_some() {
            small.entry(f.size).or_default().push(i);
        }
    }
    // Records by the file names they were read under: an older copy under 512 bytes given after
    // a longer one has a head of its own, so the longer one is looked for by its log's name.
    let name_of = |p: &str| p.rsplit(['/', '\\']).next().unwrap_or(p).to_string();
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in manifest.files.iter().enumerate() {
        for p in f.paths() {
            by_name.entry(name_of(p)).or_default().push(i);
        }
    }
    // New files of this run by (head, size), to catch the same content twice in one run.
    let mut planned: HashMap<(String, u64), Vec<Twin>> = HashMap::new();
    let mut new_aliases: Vec<(usize, String)> = Vec::new();
    let mut tasks: Vec<Task> = Vec::new();
    // Files met unchanged that hold Windows events as copies of other files' (see below).
    let mut unchanged_with_copies: HashMap<u64, (EvidenceFile, Option<String>)> = HashMap::new();
    // Records a task of this run goes on with (grown, continued or completed), by manifest
    // index: another copy of the same log is folded into that task, never read beside it.
    let mut claimed: HashMap<usize, usize> = HashMap::new();
    let given: std::collections::HashSet<String> =
        evidence.iter().map(|e| e.path.clone()).collect();
    for ev in evidence {
        let host = host_from_path(&ev.path).or_else(|| opts.host.clone());
        let mut new_id = || {
            let id = manifest.next_file_id;
            manifest.next_file_id += 1;
            id
        };
        let Some(&known) = by_path.get(&ev.path) else {
            let known_unrecognised = manifest
                .unrecognised
                .iter()
                .any(|u| u.path == ev.path && u.size == ev.size);
            if known_unrecognised {
                report.unchanged_files += 1;
                continue;
            }
            let head = ev.head_sha256().ok();
            if let Some(head) = &head {
                // The record of an ingest stopped midway, given under another spelling of its
                // path (`./ev` for `ev`, a link): the same file, so it goes on from where it
                // stopped. Read whole as new, it doubled what had been committed.
                let in_progress = by_head.get(head).and_then(|c| {
                    c.iter().copied().find(|&i| {
                        let f = &manifest.files[i];
                        !f.complete && f.size == ev.size && f.mtime == ev.mtime
                    })
                });
                if let Some(i) = in_progress.filter(|i| claimed.contains_key(i)) {
                    // Resumed under its own path in this run: this spelling is the same file.
                    report.unchanged_files += 1;
                    new_aliases.push((i, ev.path.clone()));
                    continue;
                }
                if let Some(i) = in_progress {
                    report.resumed_files += 1;
                    let mut previous = manifest.files[i].clone();
                    if !previous.paths().any(|p| p == ev.path) {
                        previous.aliases.push(ev.path.clone());
                    }
                    claimed.insert(i, tasks.len());
                    tasks.push(Task::going_on(previous, ev, host));
                    continue;
                }
                let mut candidates = by_head.get(head).cloned().unwrap_or_default();
                candidates.extend(small.range(..ev.size).flat_map(|(_, i)| i.iter().copied()));
                let identity = same_content(&manifest.files, Some(&candidates), &ev);
                if let Some(Identity::Continues(i) | Identity::Completes(i)) = identity
                    && let Some(&t) = claimed.get(&i)
                {
                    match fold_copy(&mut tasks[t], ev) {
                        Ok(()) => report.duplicate_files += 1,
                        Err(ev) => {
                            report.new_files += 1;
                            tasks.push(Task::whole(new_id(), ev, host, Some(head.clone()), None));
                        }
                    }
                    continue;
                }
                match identity {
                    // A record to be read again, given whole under another path: read there.
                    Some(Identity::Contained(i))
                        if manifest.files[i].recheck
                            && manifest.files[i].size == ev.size
                            && !claimed.contains_key(&i) =>
                    {
                        let old = &manifest.files[i];
                        report.replaced_files += 1;
                        claimed.insert(i, tasks.len());
                        tasks.push(Task {
                            aliases: old.paths().map(str::to_string).collect(),
                            ..Task::whole(new_id(), ev, host, Some(head.clone()), Some(old.id))
                        });
                        continue;
                    }
                    Some(Identity::Contained(i)) => {
                        report.duplicate_files += 1;
                        new_aliases.push((i, ev.path.clone()));
                        continue;
                    }
                    Some(Identity::Continues(i)) => {
                        let old = &manifest.files[i];
                        report.grown_files += 1;
                        let mut previous = grown_from(old);
                        // The copy holds every line, the old ones at their numbers: all are
                        // cited there, and the old path names what the log was.
                        let old_path = std::mem::replace(&mut previous.path, ev.path.clone());
                        previous.aliases.retain(|a| *a != ev.path);
                        previous.aliases.push(old_path);
                        claimed.insert(i, tasks.len());
                        tasks.push(Task::going_on(previous, ev, host));
                        continue;
                    }
                    Some(Identity::Completes(i)) => {
                        // Its old last line was cut, so the old events cannot be continued
                        // from: they are replaced by this whole copy, read from its start.
                        let old = &manifest.files[i];
                        report.replaced_files += 1;
                        let mut checkpoints = old.checkpoints.clone();
                        if let Some(sha) = &old.sha256 {
                            checkpoints.push(crate::case::Checkpoint {
                                size: old.size,
                                sha256: sha.clone(),
                            });
                        }
                        claimed.insert(i, tasks.len());
                        tasks.push(Task {
                            aliases: old.paths().map(str::to_string).collect(),
                            checkpoints,
                            ..Task::whole(new_id(), ev, host, Some(head.clone()), Some(old.id))
                        });
                        continue;
                    }
                    None => {
                        let mut longer = by_head.get(head).cloned().unwrap_or_default();
                        if ev.size < crate::input::HEAD_BYTES {
                            longer.extend(by_name.get(&name_of(&ev.path)).into_iter().flatten());
                            longer.sort_unstable();
                            longer.dedup();
                        }
                        if let Some((i, sha256)) =
                            beginning_of_a_record(&manifest.files, Some(&longer), &ev)
                        {
                            // An older copy given after the longer one was read: its size is
                            // now one the record had.
                            report.duplicate_files += 1;
                            let checkpoint = crate::case::Checkpoint {
                                size: ev.size,
                                sha256,
                            };
                            // A task of this run writes the record: it carries them, or they
                            // would be lost when it does.
                            match claimed.get(&i).map(|&t| &mut tasks[t]) {
                                Some(Task {
                                    previous: Some(previous),
                                    ..
                                }) => {
                                    previous.checkpoints.push(checkpoint);
                                    previous.aliases.push(ev.path.clone());
                                }
                                Some(task) => {
                                    task.checkpoints.push(checkpoint);
                                    task.aliases.push(ev.path.clone());
                                }
                                None => {
                                    manifest.files[i].checkpoints.push(checkpoint);
                                    new_aliases.push((i, ev.path.clone()));
                                }
                            }
                            continue;
                        }
                    }
                }
                // Files of this run with the same first bytes and size are compared whole,
                // each hashed once (copies of one log: 120 of them hashed each other's whole
                // content again for every comparison, 4 s of ingest became 112).
                let twins = planned.entry((head.clone(), ev.size)).or_default();
                let mut own = None;
                if !twins.is_empty() {
                    own = ev.prefix_sha256(ev.size).ok();
                    let mut same = None;
                    for (t, sha) in twins.iter_mut() {
                        let evidence = &tasks[*t].evidence;
                        let sha =
                            sha.get_or_insert_with(|| evidence.prefix_sha256(evidence.size).ok());
                        if own.is_some() && *sha == own {
                            same = Some(*t);
                            break;
                        }
                    }
                    if let Some(t) = same {
                        report.duplicate_files += 1;
                        tasks[t].aliases.push(ev.path.clone());
                        continue;
                    }
                }
                twins.push((tasks.len(), own.map(Some)));
            }
            report.new_files += 1;
            tasks.push(Task::whole(new_id(), ev, host, head, None));
            continue;
        };
        let old = manifest.files[known].clone();
        let same_stat = ev.size == old.size && ev.mtime == old.mtime;
        // Its copies of Windows events went with a file replaced since: read it again.
        let unchanged = !old.recheck;
        // Followed, a file whose unfinished last line was left for later is unchanged until
        // it changes again.
        let held_as_is = opts.hold_partial_lines
            && old
                .held_back
                .is_some_and(|h| h.size == ev.size && h.mtime == ev.mtime);
        if unchanged && old.complete && (same_stat || held_as_is) {
            report.unchanged_files += 1;
            if old.duplicate_events > 0 && ev.path == old.path {
                unchanged_with_copies.insert(old.id, (ev, host));
            }
            continue;
        }
        // Another path of a record still being read (an ingest stopped midway): the record's
        // own path carries its content on; read as itself, it would replace the record.
        if !old.complete && ev.path != old.path {
            report.unchanged_files += 1;
            if !given.contains(&old.path) {
                // It may hold lines the stopped ingest had not reached: said, not lost silently.
                report.warnings.push(format!(
                    "{} is a copy of {}, which an interrupted ingest left midway: give {} again to complete it",
                    ev.path, old.path, old.path
                ));
            }
            continue;
        }
        // A copy with another time stamp, or an alias still at a size the file had: the same
        // content, whatever its time stamp says.
        if unchanged
            && old.complete
            && ev.size <= old.size
            && ev
                .prefix_sha256(ev.size)
                .is_ok_and(|sha| old.contains(ev.size, &sha))
        {
            report.unchanged_files += 1;
            if old.duplicate_events > 0 && ev.size == old.size {
                unchanged_with_copies.insert(old.id, (ev, host));
            }
            continue;
        }
        let resumable = !old.complete && same_stat;
        // Resumed already under another spelling of its path in this run.
        if resumable && claimed.contains_key(&known) {
            report.unchanged_files += 1;
            continue;
        }
        // A record to be read again is read whole, not continued.
        let may_have_grown = old.complete
            && !old.recheck
            && old.read_error.is_none()
            && old.ends_with_newline
            && ev.size > old.size
            && old.sha256.is_some();
        // Following, a log that grew is read on from where the last round stopped, its old
        // bytes neither read nor hashed again: its last 4 KiB before the old end being as they
        // were is taken as proof that it only grew (a whole-file check costs a second per
        // 500 MB, every round). Otherwise the whole old content is compared.
        let resume = (opts.hold_partial_lines && may_have_grown)
            .then(|| old.resume.clone())
            .flatten()
            .filter(|r| {
                r.offset == old.size
                    && ev.tail_sha256(old.size).ok().flatten().as_deref()
                        == Some(r.tail_sha256.as_str())
            });
        let grown =
            may_have_grown && (resume.is_some() || ev.prefix_sha256(old.size).ok() == old.sha256);
        if grown && let Some(&t) = claimed.get(&known) {
            match fold_copy(&mut tasks[t], ev) {
                Ok(()) => report.duplicate_files += 1,
                Err(ev) => {
                    report.new_files += 1;
                    let head = ev.head_sha256().ok();
                    tasks.push(Task::whole(new_id(), ev, host, head, None));
                }
            }
            continue;
        }
        if resumable || grown {
            if resumable {
                report.resumed_files += 1;
            } else {
                report.grown_files += 1;
            }
            let mut previous = if grown { grown_from(&old) } else { old.clone() };
            // Grown under another of its paths: that path holds every line now.
            if grown && ev.path != previous.path {
                let old_path = std::mem::replace(&mut previous.path, ev.path.clone());
                previous.aliases.retain(|a| *a != ev.path);
                previous.aliases.push(old_path);
            }
            claimed.insert(known, tasks.len());
            tasks.push(Task {
                resume: if grown { resume } else { None },
                ..Task::going_on(previous, ev, host)
            });
        } else if old.recheck
            && ev.path != old.path
            && ev.size == old.size
            && ev
                .prefix_sha256(ev.size)
                .is_ok_and(|sha| old.contains(ev.size, &sha))
        {
            // A record to be read again, given under another of its paths: read again there.
            report.replaced_files += 1;
            let head = ev.head_sha256().ok();
            let mut task = Task::whole(new_id(), ev, host, head, Some(old.id));
            task.aliases = old.paths().map(str::to_string).collect();
            tasks.push(task);
        } else if ev.path != old.path && main_path_holds(&old) {
            // Another content under one of its other paths, while its own path still holds
            // it: that path is a file of its own now, and the record keeps its events.
            manifest.files[known].aliases.retain(|a| *a != ev.path);
            report.new_files += 1;
            let head = ev.head_sha256().ok();
            tasks.push(Task::whole(new_id(), ev, host, head, None));
        } else {
            report.replaced_files += 1;
            // Its old aliases held the old content; they are recognised again by theirs.
            let head = ev.head_sha256().ok();
            tasks.push(Task::whole(new_id(), ev, host, head, Some(old.id)));
        }
    }
    for (i, alias) in &new_aliases {
        let record = &mut manifest.files[*i];
        if !record.paths().any(|p| p == alias) {
            record.aliases.push(alias.clone());
        }
        // A task of this run writes the record from its own copy of it.
        if let Some(&t) = claimed.get(i) {
            let task = &mut tasks[t];
            let read = task.evidence.path == *alias;
            match &mut task.previous {
                Some(previous) => {
                    if !read && !previous.paths().any(|p| p == alias) {
                        previous.aliases.push(alias.clone());
                    }
                }
                None => {
                    if !read && !task.aliases.contains(alias) {
                        task.aliases.push(alias.clone());
                    }
                }
            }
        }
    }
    keep_rotated(manifest, &new_aliases, &mut tasks, report);
    fold_earlier_copies(&mut tasks, report);
    reread_copies_of_replaced(manifest, unchanged_with_copies, &mut tasks, report);
    tasks
}

/// A file whose Windows events were not added, being copies of events another file holds,
/// depends on that file: when a file is replaced (a log collected again at its path), the
/// events it held go, and the copies must come back from the files that had them. Those met
/// in this ingest are read again (their old events replaced); the others are marked to be read
/// again when next given, and the summary says so.
fn reread_copies_of_replaced(
    manifest: &mut Manifest,
    mut unchanged: HashMap<u64, (EvidenceFile, Option<String>)>,
    tasks: &mut Vec<Task>,
    report: &mut IngestReport,
) {
    let replaced: std::collections::HashSet<u64> =
        tasks.iter().filter_map(|t| t.replaces).collect();
    if replaced.is_empty() {
        return;
    }
    let read: std::collections::HashSet<u64> = tasks.iter().map(|t| t.file_id).collect();
    for f in manifest.files.iter_mut() {
        if f.duplicate_events == 0 || replaced.contains(&f.id) || read.contains(&f.id) {
            continue;
        }
        match unchanged.remove(&f.id) {
            Some((evidence, host)) => {
                report.unchanged_files -= 1;
                report.replaced_files += 1;
                let id = manifest.next_file_id;
                manifest.next_file_id += 1;
                let head = evidence.head_sha256().ok();
                tasks.push(Task {
                    aliases: f.aliases.clone(),
                    checkpoints: f.checkpoints.clone(),
                    ..Task::whole(id, evidence, host, head, Some(f.id))
                });
            }
            None => {
                f.recheck = true;
                report.warnings.push(format!(
                    "{}: {} Windows event(s) it holds as copies of another file's may have gone with a file this ingest replaces: give it again to read them back",
                    f.path, f.duplicate_events
                ));
            }
        }
    }
}

/// Whether a record's own path, a file on disk, still begins with the content the record holds.
fn main_path_holds(old: &FileRecord) -> bool {
    let Some(sha) = &old.sha256 else {
        return false;
    };
    let path = std::path::Path::new(&old.path);
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() < old.size {
        return false;
    }
    let ev = EvidenceFile {
        path: old.path.clone(),
        location: input::Location::File(path.to_path_buf()),
        size: meta.len(),
        mtime: 0,
    };
    ev.prefix_sha256(old.size).is_ok_and(|s| s == *sha)
}

/// Another copy of a log that `task` already goes on with in this run (both continue, or
/// complete, one record of the case: collected on day 2 and day 3 of a log ingested on day 1).
/// The larger copy is read; the smaller, being its beginning, becomes an alias of the record
/// with a checkpoint at its size. A copy that is not the other's beginning is another log:
/// given back, to be read as a file of its own. Read side by side, the lines both hold were
/// indexed twice.
fn fold_copy(task: &mut Task, ev: EvidenceFile) -> std::result::Result<(), EvidenceFile> {
    let (small, large) = if ev.size > task.evidence.size {
        (&task.evidence, &ev)
    } else {
        (&ev, &task.evidence)
    };
    let whole = small.prefix_sha256(small.size).ok();
    let prefix = large.prefix_sha256(small.size).ok();
    let Some(sha256) = whole.filter(|w| Some(w) == prefix.as_ref()) else {
        return Err(ev);
    };
    let size = small.size;
    let smaller_path = if ev.size > task.evidence.size {
        let earlier = std::mem::replace(&mut task.evidence, ev);
        if task.head_sha256.is_some() {
            task.head_sha256 = task.evidence.head_sha256().ok();
        }
        earlier.path
    } else {
        ev.path
    };
    let read_path = task.evidence.path.clone();
    let checkpoint =
        (size < task.evidence.size).then_some(crate::case::Checkpoint { size, sha256 });
    match &mut task.previous {
        // Continued: the record is known by the path read, every other path an alias.
        Some(previous) => {
            if previous.path != read_path {
                let was = std::mem::replace(&mut previous.path, read_path.clone());
                previous.aliases.push(was);
            }
            previous.aliases.push(smaller_path);
            previous.aliases.retain(|a| *a != read_path);
            previous.aliases.sort();
            previous.aliases.dedup();
            previous.checkpoints.extend(checkpoint);
        }
        // Completed: read whole as a new record that takes the old one's paths.
        None => {
            task.aliases.push(smaller_path);
            task.aliases.retain(|a| *a != read_path);
            task.checkpoints.extend(checkpoint);
        }
    }
    Ok(())
}

/// Two copies of one log in one run, the earlier taken before it grew: the later holds every
/// line of the earlier, which is read once, as the later's (the earlier's path an alias of it,
/// at the size it had). Only new files sharing their first bytes (`input::HEAD_BYTES`) are
/// compared.
fn fold_earlier_copies(tasks: &mut Vec<Task>, report: &mut IngestReport) {
    let mut by_head: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        if t.previous.is_none()
            && t.replaces.is_none()
            && let Some(head) = &t.head_sha256
        {
            by_head.entry(head).or_default().push(i);
        }
    }
    // (earlier task, later task, the earlier's SHA-256)
    let mut folds: Vec<(usize, usize, String)> = Vec::new();
    for group in by_head.values().filter(|g| g.len() > 1) {
        let mut group = group.clone();
        group.sort_by_key(|&i| std::cmp::Reverse(tasks[i].evidence.size));
        let mut folded = std::collections::HashSet::new();
        for (n, &later) in group.iter().enumerate() {
            if folded.contains(&later) {
                continue;
            }
            let mut earlier: Vec<usize> = group[n + 1..]
                .iter()
                .copied()
                .filter(|i| {
                    !folded.contains(i) && tasks[*i].evidence.size < tasks[later].evidence.size
                })
                .collect();
            earlier.sort_by_key(|&i| tasks[i].evidence.size);
            earlier.dedup_by_key(|i| tasks[*i].evidence.size);
            if earlier.is_empty() {
                continue;
            }
            let sizes: Vec<u64> = earlier.iter().map(|&i| tasks[i].evidence.size).collect();
            let Ok(prefixes) = tasks[later].evidence.prefix_sha256s(&sizes) else {
                continue;
            };
            for (&e, prefix) in earlier.iter().zip(prefixes) {
                let Some(prefix) = prefix else { continue };
                let whole = tasks[e].evidence.prefix_sha256(tasks[e].evidence.size).ok();
                if whole.as_ref() == Some(&prefix) {
                    folded.insert(e);
                    folds.push((e, later, prefix));
                }
            }
        }
    }
    // Copies shorter than the head hashed are found by their whole hash among the longer
    // copies' beginnings (their heads differ).
    let mut folded: std::collections::HashSet<usize> = folds.iter().map(|f| f.0).collect();
    let eligible =
        |t: &Task| t.previous.is_none() && t.replaces.is_none() && t.head_sha256.is_some();
    let mut short: HashMap<(u64, &str), Vec<usize>> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        if eligible(t)
            && t.evidence.size < crate::input::HEAD_BYTES
            && !folded.contains(&i)
            && let Some(head) = &t.head_sha256
        {
            short.entry((t.evidence.size, head)).or_default().push(i);
        }
    }
    if !short.is_empty() {
        let mut sizes: Vec<u64> = short.keys().map(|k| k.0).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut longer: Vec<usize> = (0..tasks.len()).filter(|&i| eligible(&tasks[i])).collect();
        longer.sort_by_key(|&i| std::cmp::Reverse(tasks[i].evidence.size));
        for later in longer {
            if folded.contains(&later) {
                continue;
            }
            let size = tasks[later].evidence.size;
            let want: Vec<u64> = sizes.iter().copied().filter(|&s| s < size).collect();
            if want.is_empty() {
                continue;
            }
            let Ok(prefixes) = tasks[later].evidence.prefix_sha256s(&want) else {
                continue;
            };
            for (s, prefix) in want.into_iter().zip(prefixes) {
                let Some(prefix) = prefix else { continue };
                for &e in short.get(&(s, prefix.as_str())).into_iter().flatten() {
                    if e != later && folded.insert(e) {
                        folds.push((e, later, prefix.clone()));
                    }
                }
            }
        }
    }
    if folds.is_empty() {
        return;
    }
    let mut gone = Vec::new();
    for (earlier, later, sha) in folds {
        let (path, size) = (
            tasks[earlier].evidence.path.clone(),
            tasks[earlier].evidence.size,
        );
        let mut aliases = std::mem::take(&mut tasks[earlier].aliases);
        let t = &mut tasks[later];
        t.aliases.push(path);
        t.aliases.append(&mut aliases);
        t.checkpoints
            .push(crate::case::Checkpoint { size, sha256: sha });
        gone.push(earlier);
        report.new_files -= 1;
        report.duplicate_files += 1;
    }
    gone.sort_unstable();
    for i in gone.into_iter().rev() {
        tasks.remove(i);
    }
}

/// A log rotated under its name: the old content renamed away (`HttpProxy.LOG` to
/// `HttpProxy.LOG.1`, perhaps grown first) and a new log started under the old name. Above, the
/// new content at the old path looks like a file changed in place, and the old content under its
/// new path like an alias or a continuation of the same record. The old events must stay: the
/// record is known by its new path from now on, and the content at the old path is a new file,
/// replacing nothing.
fn keep_rotated(
    manifest: &mut Manifest,
    new_aliases: &[(usize, String)],
    tasks: &mut [Task],
    report: &mut IngestReport,
) {
    // File ids whose content was found this run under another path than the one it had.
    let mut lives_on: HashMap<u64, String> = new_aliases
        .iter()
        .map(|(i, path)| (manifest.files[*i].id, path.clone()))
        .collect();
    let paths: HashMap<u64, &str> = manifest
        .files
        .iter()
        .map(|f| (f.id, f.path.as_str()))
        .collect();
    // (the replaced record, the task completing it)
    let mut completed: HashMap<u64, usize> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        if t.previous.is_some()
            && let Some(path) = paths.get(&t.file_id)
            && *path != t.evidence.path
        {
            lives_on.insert(t.file_id, t.evidence.path.clone());
        }
        // A copy completing a record whose last line was cut carries its content on.
        if let Some(id) = t.replaces
            && let Some(path) = paths.get(&id)
            && *path != t.evidence.path
            && t.aliases.iter().any(|a| a == path)
        {
            lives_on.insert(id, t.evidence.path.clone());
            completed.insert(id, i);
        }
    }
    let mut moved: Vec<(u64, String, String)> = Vec::new();
    for (i, t) in tasks.iter_mut().enumerate() {
        if let Some(id) = t.replaces
            && let Some(now_at) = lives_on.get(&id)
            && completed.get(&id) != Some(&i)
        {
            t.replaces = None;
            report.replaced_files -= 1;
            report.new_files += 1;
            moved.push((id, t.evidence.path.clone(), now_at.clone()));
        }
    }
    let rename = |record: &mut FileRecord, from: &str, to: &str| {
        if record.path == from {
            record.path = to.to_string();
        }
        record.aliases.retain(|a| a != from && *a != record.path);
    };
    for (id, from, to) in &moved {
        for record in manifest.files.iter_mut().filter(|f| f.id == *id) {
            rename(record, from, to);
        }
        for t in tasks.iter_mut().filter(|t| t.file_id == *id) {
            if let Some(prev) = &mut t.previous {
                rename(prev, from, to);
            }
        }
        // The copy completing it no longer has the old path's content.
        for t in tasks.iter_mut().filter(|t| t.replaces == Some(*id)) {
            t.aliases.retain(|a| a != from);
        }
    }
}

/// A file planned in this run, and its whole content's SHA-256 once computed (see `plan`).
type Twin = (usize, Option<Option<String>>);

/// How a path never seen before relates to content in the case.
enum Identity {
    /// Its content is a file's, now or at an earlier size (index into the manifest's files).
    Contained(usize),
    /// It starts with a file's whole content and goes on: that log, grown.
    Continues(usize),
    /// It starts with a file's whole content, whose last line was cut (a copy of a log being
    /// written), and goes on: that log, complete.
    Completes(usize),
}

/// A shorter copy of a log given after the longer one was read (day 1's collection arriving
/// after day 3's): its content is the beginning of a record with the same first bytes. The
/// record's checkpoints only know the sizes met before, so its file is read where it was read,
/// when it is still there as it was (same size and time). Returns the record and the copy's
/// SHA-256. An event log is rewritten as it grows, never a beginning of its later self.
fn beginning_of_a_record(
    files: &[FileRecord],
    candidates: Option<&Vec<usize>>,
    ev: &EvidenceFile,
) -> Option<(usize, String)> {
    let mut whole = None;
    for &i in candidates? {
        let f = &files[i];
        if !f.complete || f.size <= ev.size || f.format == FormatKind::Evtx {
            continue;
        }
        for path in f.paths() {
            // A zip member is found through its archive (`archive.zip/member/path`).
            let file = std::path::Path::new(path)
                .ancestors()
                .find(|p| p.is_file())
                .map(std::path::Path::to_path_buf);
            let Some(file) = file else { continue };
            let (found, _) = crate::input::discover(&[file], None);
            let Some(read) = found
                .into_iter()
                .find(|r| r.path == path && r.size == f.size && r.mtime == f.mtime)
            else {
                continue;
            };
            if whole.is_none() {
                whole = Some(ev.prefix_sha256(ev.size).ok()?);
            }
            let sha = whole.as_ref()?;
            if read.prefix_sha256(ev.size).ok().as_ref() == Some(sha) {
                return Some((i, sha.clone()));
            }
            break;
        }
    }
    None
}

/// Checks the files whose first bytes hash like this evidence's (`candidates`), hashing the
/// evidence at every candidate's size in one read. Content already in the case wins over a
/// continuation; of continuations, the longest.
fn same_content(
    files: &[FileRecord],
    candidates: Option<&Vec<usize>>,
    ev: &EvidenceFile,
) -> Option<Identity> {
    let candidates: Vec<usize> = candidates?
        .iter()
        .copied()
        .filter(|&i| files[i].complete && files[i].read_error.is_none())
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let mut sizes: Vec<u64> = candidates
        .iter()
        .map(|&i| files[i].size)
        .filter(|&s| s <= ev.size)
        .chain(std::iter::once(ev.size))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let hashes: HashMap<u64, String> = sizes
        .iter()
        .copied()
        .zip(ev.prefix_sha256s(&sizes).ok()?)
        .filter_map(|(size, sha)| Some((size, sha?)))
        .collect();
    let whole = hashes.get(&ev.size)?;
    if let Some(&i) = candidates
        .iter()
        .find(|&&i| ev.size <= files[i].size && files[i].contains(ev.size, whole))
    {
        return Some(Identity::Contained(i));
    }
    candidates
        .iter()
        .copied()
        .filter(|&i| {
            let f = &files[i];
            f.size < ev.size && f.sha256.as_ref() == hashes.get(&f.size)
        })
        // An event log is rewritten as it is written, never appended to as text is.
        .filter(|&i| files[i].ends_with_newline || files[i].format != FormatKind::Evtx)
        .max_by_key(|&i| files[i].size)
        .map(|i| {
            if files[i].ends_with_newline {
                Identity::Continues(i)
            } else {
                Identity::Completes(i)
            }
        })
}

/// The record of a complete file about to grow: what it was is kept as a checkpoint.
fn grown_from(old: &FileRecord) -> FileRecord {
    /// A followed log grows every round: the first checkpoint (often the first collection)
    /// and the latest ones are kept, not one per round for ever.
    const CHECKPOINTS: usize = 32;
    let mut record = old.clone();
    if let Some(sha) = &old.sha256 {
        record.checkpoints.push(crate::case::Checkpoint {
            size: old.size,
            sha256: sha.clone(),
        });
        if record.checkpoints.len() > CHECKPOINTS {
            record.checkpoints.remove(1);
        }
    }
    record
}

/// Reads one file into numbered messages.
fn read_task(
    task_index: usize,
    task: &Task,
    layouts: &std::sync::Mutex<Layouts>,
    ctx: &ParseCtx,
    out: &Sender<Message>,
    progress: &Counters<'_>,
    hold_partial_line: bool,
) {
    let mut seq = 0u64;
    let mut send = |payload: Payload| {
        let _ = out.send(Message {
            task: task_index,
            seq,
            payload,
        });
        seq += 1;
    };
    let head = task.evidence.head(SNIFF_BYTES).map_err(|e| e.to_string());
    let format = match head
        .as_deref()
        .map_err(Clone::clone)
        .and_then(|head| formats::sniff(head, ctx))
    {
        Ok(f) => f,
        Err(reason) => {
            progress
                .bytes
                .fetch_add(task.evidence.size, Ordering::Relaxed);
            send(Payload::Unrecognised { reason });
            return;
        }
    };
    if format == FormatKind::Evtx {
        read_evtx(task, layouts, &mut send, progress);
        return;
    }
    // An export's own dates choose the order of day and month for the whole file, when the
    // ingest leaves it to them (see `formats::time::date_order_of`).
    let dates = match (&head, format) {
        (Ok(head), FormatKind::CsvExport) => formats::time::date_order_of(head),
        _ => None,
    };
    // The file as far as its last line ending, when its last line is unfinished.
    let complete = if hold_partial_line {
        task.evidence.complete_lines_len().ok().flatten()
    } else {
        None
    };
    // A followed log that grew goes on from where the last round stopped (see `plan`).
    let resumed = task.resume.as_ref().and_then(|r| {
        let framer = Framer::resumed(format, &r.framer)?;
        let layout = match r.layout {
            Some(id) => {
                let layout = layouts.lock().ok()?.list.get(id as usize)?.clone();
                Some((Arc::new(layout), id))
            }
            None => None,
        };
        Some((r, framer, layout))
    });
    let counter = Arc::clone(&progress.bytes);
    let mut read = |raw: &mut dyn std::io::Read,
                    from: Option<(&crate::case::ResumePoint, Framer, Current)>|
     -> std::io::Result<((u64, String), String, FrameOutcome)> {
        let offset = from.as_ref().map_or(0, |(r, ..)| r.offset);
        let mut limited;
        let raw: &mut dyn std::io::Read = match complete {
            Some(len) => {
                limited = std::io::Read::take(&mut *raw, len.saturating_sub(offset));
                &mut limited
            }
            None => raw,
        };
        let (mut hashing, framing) = match from {
            Some((r, framer, layout)) => (
                HashingReader::resumed(raw, &r.sha_state, r.offset)
                    .ok_or_else(|| std::io::Error::other("an unreadable resume point"))?,
                Some((framer, layout)),
            ),
            None => (HashingReader::new(raw), None),
        };
        hashing = hashing.counting(Arc::clone(&counter));
        let outcome = frame_records(
            task,
            format,
            dates,
            &mut hashing,
            layouts,
            &mut send,
            framing,
        );
        let state = hashing.state();
        Ok((hashing.finish(), state, outcome))
    };
    let mut result = None;
    if let Some((r, framer, layout)) = resumed {
        // Not a plain text file any more: read from the start, as without a resume point.
        result = task
            .evidence
            .with_plain_from(r.offset, |raw| read(raw, Some((r, framer, layout))))
            .transpose();
    }
    let result = match result {
        Some(r) => r,
        None => task.evidence.with_raw(|raw| read(raw, None)),
    };
    let ((size, sha), sha_state, (end_line, ends_with_newline, framer, layout, error)) =
        match result {
            Ok(((size, sha), state, Ok((end, nl, framer, layout)))) => (
                (size, Some(sha)),
                Some(state),
                (end, nl, framer, layout, None),
            ),
            Ok(((size, _), _, Err((end, e)))) => {
                ((size, None), None, (end, false, None, None, Some(e)))
            }
            Err(e) => (
                (0, None),
                None,
                (task.skip_lines, false, None, None, Some(e.to_string())),
            ),
        };
    // Where the next round can go on, when following (a few hundred bytes of manifest per
    // file, not worth keeping for evidence that does not grow): a plain text log of line
    // records, read to a line end.
    let resume = match (sha_state, framer) {
        (Some(sha_state), Some(framer))
            if hold_partial_line
                && ends_with_newline
                && error.is_none()
                && !format.quoted_records() =>
        {
            task.evidence
                .tail_sha256(size)
                .ok()
                .flatten()
                .map(|tail_sha256| crate::case::ResumePoint {
                    offset: size,
                    sha_state,
                    tail_sha256,
                    framer,
                    layout,
                })
        }
        _ => None,
    };
    send(Payload::End {
        end_line,
        size,
        sha256: sha,
        ends_with_newline,
        error,
        held_back: complete.map(|_| crate::case::HeldBack {
            size: task.evidence.size,
            mtime: task.evidence.mtime,
        }),
        resume,
    });
}

/// Event logs up to this size are read into memory once (see `read_evtx`). Windows' default
/// maximum sizes are 1 MB to 64 MB (Security and System 20 MB, Sysmon 64 MB).
const EVTX_IN_MEMORY: u64 = 64 << 20;

/// An event log: each record rendered as XML by the `evtx` crate is one record of the pipeline,
/// numbered in the order the file gives them (a record's `EventRecordID` becomes its line once
/// parsed). A chunk or record that cannot be read is a malformed record with its chunk and why;
/// reading goes on past it.
fn read_evtx(
    task: &Task,
    layouts: &std::sync::Mutex<Layouts>,
    send: &mut dyn FnMut(Payload),
    progress: &Counters<'_>,
) {
    send(Payload::Start {
        format: FormatKind::Evtx,
        source: "evtx".into(),
    });
    let layout = Layout::Evtx;
    let layout_id = layouts.lock().map(|mut l| l.intern(&layout)).unwrap_or(0);
    let layout = Arc::new(layout);
    let mut pending = Pending::default();
    let mut ordinal = 0u64;
    let mut parse = |source: Box<dyn input::ReadSeek + '_>| -> std::io::Result<()> {
        let settings = evtx::ParserSettings::new()
            .num_threads(0)
            .validate_checksums(false)
            .indent(false);
        let mut parser = evtx::EvtxParser::from_read_seek(source)
            .map_err(|e| std::io::Error::other(crate::error::chain(&e)))?
            .with_configuration(settings);
        // As bytes: the parsers check them as UTF-8 (a second check here was 3% of EVTX ingest).
        for record in parser.records_bytes() {
            ordinal += 1;
            // Records a previous run committed are not sent again.
            if ordinal <= task.skip_lines {
                continue;
            }
            match record {
                Ok(r) => {
                    if pending.has_notes() {
                        pending.flush(ordinal - 1, send);
                    }
                    let c = pending.chunk.get_or_insert_with(|| Chunk {
                        end_line: ordinal,
                        layout: Arc::clone(&layout),
                        layout_id,
                        records: Vec::with_capacity(CHUNK_RECORDS),
                        buf: Vec::with_capacity(CHUNK_BYTES + 4096),
                    });
                    let start = c.buf.len();
                    c.buf.extend_from_slice(&r.data);
                    c.records.push((ordinal, 1, start, c.buf.len()));
                    c.end_line = ordinal;
                    if c.records.len() >= CHUNK_RECORDS || c.buf.len() >= CHUNK_BYTES {
                        pending.flush(ordinal, send);
                    }
                }
                Err(e) => {
                    pending.flush(ordinal - 1, send);
                    pending.note_malformed(ordinal, 1, crate::error::chain(&e), b"");
                }
            }
        }
        Ok(())
    };
    // The evidence's hash and size, as it is on disk. A log of Windows' usual sizes is read once,
    // hashed on the way in, and parsed from memory (measured: reading each file twice, once to
    // hash it and once to parse it, was a tenth of EVTX ingest); a larger or compressed one is
    // hashed in a read of its own and parsed from disk, so memory does not grow with the log.
    // The buffer is the reader thread's, kept from one log to the next: a fresh one for each
    // log was a page fault for every 4 KiB read (measured: 8% of EVTX ingest).
    thread_local! {
        static KEPT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let read = |raw: &mut dyn std::io::Read, kept: &mut Vec<u8>, keep: bool| {
        let mut hashing = HashingReader::new(raw).counting(Arc::clone(&progress.bytes));
        kept.clear();
        if keep {
            kept.reserve(usize::try_from(task.evidence.size).unwrap_or(0));
            std::io::Read::read_to_end(&mut hashing, kept)?;
        } else {
            std::io::copy(&mut hashing, &mut std::io::sink())?;
        }
        Ok(hashing.finish())
    };
    let small = task.evidence.size <= EVTX_IN_MEMORY;
    let (hashed, parsed) =
        KEPT.with_borrow_mut(
            |kept| match task.evidence.with_raw(|raw| read(raw, kept, small)) {
                Ok(hash) if kept.starts_with(formats::evtx::MAGIC) => {
                    (Ok(hash), parse(Box::new(std::io::Cursor::new(&kept[..]))))
                }
                Ok(hash) => (Ok(hash), task.evidence.with_seekable(&mut parse)),
                Err(e) => (Err(e), Ok(())),
            },
        );
    pending.flush(ordinal, send);
    let (size, sha256, error) = match (hashed, parsed) {
        (Ok((size, sha)), Ok(())) => (size, Some(sha), None),
        (Ok((size, _)), Err(e)) => (size, None, Some(e.to_string())),
        (Err(e), _) => (0, None, Some(e.to_string())),
    };
    send(Payload::End {
        end_line: ordinal.max(task.skip_lines),
        size,
        sha256,
        // An event log is not appended to as text is: a changed one is read again whole.
        ends_with_newline: false,
        error,
        held_back: None,
        resume: None,
    });
}

/// The layout in force while framing, and its id.
type Current = Option<(Arc<Layout>, u64)>;

/// Lines accounted for, whether the last ended with a line feed, the framer's state and the
/// layout in force at the end (see `case::ResumePoint`); or where reading stopped, and why.
type FrameOutcome = std::result::Result<(u64, bool, Option<String>, Option<u64>), (u64, String)>;

/// What the reader has framed but not yet sent.
#[derive(Default)]
struct Pending {
    chunk: Option<Chunk>,
    skipped: u64,
    continuation: u64,
    malformed: Vec<MalformedLine>,
}

impl Pending {
    fn has_notes(&self) -> bool {
        self.skipped > 0 || self.continuation > 0 || !self.malformed.is_empty()
    }

    /// Sends the chunk, then the lines without events that follow it (they always follow it:
    /// notes pending before a data record are flushed first), so the writer's watermark only
    /// ever covers lines whose events it has added.
    fn flush(&mut self, end_line: u64, send: &mut dyn FnMut(Payload)) {
        if let Some(c) = self.chunk.take() {
            send(Payload::Chunk(c));
        }
        if self.has_notes() {
            send(Payload::Progress {
                end_line,
                skipped: std::mem::take(&mut self.skipped),
                continuation: std::mem::take(&mut self.continuation),
                malformed: std::mem::take(&mut self.malformed),
            });
        }
    }

    fn note_malformed(&mut self, line: u64, span: u64, reason: String, record: &[u8]) {
        self.continuation += span - 1;
        self.malformed.push(MalformedLine {
            line,
            reason,
            excerpt: excerpt(record),
        });
    }
}

/// A read error as the responder needs it: a compressed file cut short (a copy interrupted,
/// a disk full while collecting) keeps the lines before the cut, and says so.
fn read_error(e: &std::io::Error, last_line: u64) -> String {
    let text = e.to_string();
    let truncated = e.kind() == std::io::ErrorKind::UnexpectedEof
        || text.contains("incomplete")
        || text.contains("unexpected end");
    if truncated {
        format!(
            "truncated: the file ends inside its compressed data ({text}); the {last_line} lines before the cut are kept"
        )
    } else {
        text
    }
}

/// Frames records and sends chunks; returns the last line read and whether it ended with a
/// newline, or the line reached and the error that stopped reading.
fn frame_records(
    task: &Task,
    format: FormatKind,
    dates: Option<formats::time::DateOrder>,
    raw: &mut HashingReader<&mut dyn std::io::Read>,
    layouts: &std::sync::Mutex<Layouts>,
    send: &mut dyn FnMut(Payload),
    resumed: Option<(Framer, Current)>,
) -> FrameOutcome {
    // Each layout met is registered with the ingest's date order (see `Layouts::date_order`);
    // left to `auto`, the file's own dates (`dates`) choose it when they can.
    let mut date_order = layouts.lock().map(|r| r.date_order).unwrap_or_default();
    if date_order == formats::time::DateOrder::Auto
        && let Some(order) = dates
    {
        date_order = order;
    }
    let register = |l: Layout| {
        let l = l.with_date_order(date_order);
        let id = layouts.lock().map(|mut r| r.intern(&l)).unwrap_or(0);
        (l, id)
    };
    let resuming = resumed.is_some();
    let (mut framer, mut current) = match resumed {
        Some(state) => state,
        None => {
            let mut framer = Framer::new(format);
            let current = framer.initial_layout().map(|l| {
                let (l, id) = register(l);
                (Arc::new(l), id)
            });
            (framer, current)
        }
    };
    let source = current.as_ref().map_or_else(
        || format.name().to_string(),
        |(l, _)| l.source().to_string(),
    );
    send(Payload::Start { format, source });

    let text = match input::decoded(raw) {
        Ok(t) => t,
        Err(e) => return Err((task.skip_lines, e.to_string())),
    };
    // Resumed, the reader starts after the lines already in the case.
    let first = if resuming { task.skip_lines } else { 0 };
    let framing = format.framing();
    let mut records = Records::after(text, framing, first);
    // Documents are counted as records, not lines (as an event log's are): several can share a
    // line, and a count of lines could not say which of them a previous run committed.
    let documents = matches!(framing, formats::Framing::Documents(_));
    let mut ordinal = first;
    // A file whose records share lines (Event Viewer's, one line for every event; a JSON array
    // on one line) cites each by its number among the file's records, as an event log does: a
    // line would not tell them apart. Decided by the first record, so every run cites alike.
    let mut by_number: Option<bool> = None;
    let mut documents_read = 0u64;
    let mut buf = Vec::new();
    let mut pending = Pending::default();
    let mut last_line = 0u64;
    loop {
        let (line, lines) = match records.next_record(&mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                pending.flush(last_line, send);
                return Err((last_line, read_error(&e, last_line)));
            }
        };
        // What the record counts for, and the last it accounts for: lines, or one record.
        let (span, end_line) = if documents {
            ordinal += 1;
            (1, ordinal)
        } else {
            (lines, line + lines - 1)
        };
        let line = if documents && records.is_document() {
            documents_read += 1;
            let numbered = match by_number {
                Some(b) => b,
                None => {
                    let b = records.next_shares_line().map_err(|e| {
                        pending.flush(last_line, send);
                        (last_line, read_error(&e, last_line))
                    })?;
                    *by_number.insert(b)
                }
            };
            if numbered { documents_read } else { line }
        } else {
            line
        };
        // Lines a previous run committed are framed (headers matter) but not sent again.
        let already_indexed = end_line <= task.skip_lines;
        let frame = match records.cut() {
            Some(cut) => Frame::Malformed(cut.reason().into()),
            None => framer.feed(&String::from_utf8_lossy(&buf)),
        };
        // A header sets the layout of the records after it; some records set their own.
        let (layout, frame) = match frame {
            Frame::Layout(l) => (Some(l), Frame::Skip),
            Frame::DataIn(l) => (Some(l), Frame::Data),
            other => (None, other),
        };
        if let Some(l) = layout {
            let (l, id) = register(l);
            if current.as_ref().is_none_or(|(_, cur)| *cur != id) {
                pending.flush(last_line, send);
                current = Some((Arc::new(l), id));
            }
        }
        match frame {
            Frame::Skip if !already_indexed => pending.skipped += span,
            Frame::Malformed(reason) if !already_indexed => {
                pending.note_malformed(line, span, reason.into_owned(), &buf);
            }
            Frame::Data if !already_indexed => match &current {
                None => {
                    pending.note_malformed(line, span, "no header before this record".into(), &buf);
                }
                Some((layout, layout_id)) => {
                    if pending.has_notes() {
                        pending.flush(last_line, send);
                    }
                    let c = pending.chunk.get_or_insert_with(|| Chunk {
                        end_line,
                        layout: Arc::clone(layout),
                        layout_id: *layout_id,
                        records: Vec::with_capacity(CHUNK_RECORDS),
                        buf: Vec::with_capacity(CHUNK_BYTES + 4096),
                    });
                    let start = c.buf.len();
                    c.buf.extend_from_slice(&buf);
                    c.records.push((line, span, start, c.buf.len()));
                    c.end_line = end_line;
                    if c.records.len() >= CHUNK_RECORDS || c.buf.len() >= CHUNK_BYTES {
                        pending.flush(end_line, send);
                    }
                }
            },
            Frame::Skip
            | Frame::Malformed(_)
            | Frame::Data
            | Frame::Layout(_)
            | Frame::DataIn(_) => {}
        }
        last_line = end_line;
    }
    pending.flush(last_line, send);
    Ok((
        last_line.max(task.skip_lines),
        records.ended_with_newline(),
        framer.state(),
        current.map(|(_, id)| id),
    ))
}

/// The start of a record for reports: at most 200 characters, control characters escaped.
pub fn excerpt(record: &[u8]) -> String {
    let text = String::from_utf8_lossy(record);
    let mut out = String::new();
    for c in text.chars().take(200) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_worker(
    rx: &Receiver<Message>,
    tx: &Sender<Message>,
    tasks: &[Task],
    fields: &Fields,
    ctx: &ParseCtx,
    attribution: &Attribution<'_>,
) {
    while let Ok(msg) = rx.recv() {
        let payload = match msg.payload {
            Payload::Chunk(chunk) => Payload::Docs(parse_chunk(
                &chunk,
                &tasks[msg.task],
                fields,
                ctx,
                attribution,
            )),
            other => other,
        };
        if tx
            .send(Message {
                task: msg.task,
                seq: msg.seq,
                payload,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The memory the document of an event takes, roughly: the record and the values copied from
/// it (attributes twice: as `name=value` terms and, when long, as words), plus a fixed cost per
/// value (tantivy's value headers, numbers) and per document.
fn approx_memory(record: &[u8], ev: &crate::event::Event<'_>) -> u64 {
    let len = |v: &Option<std::borrow::Cow<'_, str>>| v.as_ref().map_or(0, |v| v.len());
    let canonical = len(&ev.path) + len(&ev.query) + len(&ev.ua) + len(&ev.user) + len(&ev.referer);
    let attrs: usize = ev
        .attrs
        .iter()
        .map(|(k, v)| k.len() + 2 * v.len() + 17)
        .sum();
    (record.len() + canonical + attrs + 16 * 16 + 96) as u64
}

/// Sets an event's client: from its own record, or for the HttpProxy and back-end rows of a
/// front-end request, the front-end request's.
fn attribute(
    ev: &mut crate::event::Event<'_>,
    source: &str,
    attribution: &Attribution<'_>,
    parsed: &mut Parsed,
) {
    // trawl's own export carries the client its case attributed, from balancers and request
    // GUIDs this ingest may not have: kept (no other record names one).
    let given = ev.client.is_some();
    // A proxied back-end row's peer is the front end, never the client: unknown until the front
    // end's row of the request names it. (Port 444 reached directly has no request GUID.)
    let proxied_back_end = is_back_end(source, ev) && ev.request_id.is_some();
    if !given && !proxied_back_end {
        ev.client = attribution.proxies.attribute(ev.ip, &ev.xff, ev.xff_tail);
    }
    let Some(request_id) = ev.request_id else {
        return;
    };
    if is_front_end(source, ev) {
        if attribution.collect
            && let Some(client) = ev.client
        {
            parsed.joins.push((request_id, client, ev.ts_ms));
        }
    } else if !given && let Some(client) = attribution.joins.and_then(|j| j.get(request_id)) {
        parsed.inherited += u64::from(ev.client != Some(client));
        ev.client = Some(client);
    }
}

/// Whether a row is a front end's: an IIS row but Exchange's back end's (port 444). Its client
/// is the one the request's HttpProxy and back-end rows inherit.
fn is_front_end(source: &str, ev: &crate::event::Event<'_>) -> bool {
    source == "iis" && ev.attr("s-port") != Some("444")
}

/// Whether a row is Exchange's back end's (IIS on port 444), whose `c-ip` is a front end.
fn is_back_end(source: &str, ev: &crate::event::Event<'_>) -> bool {
    source == "iis" && ev.attr("s-port") == Some("444")
}

/// This run's front ends' clients (the writer's) with those a followed case kept from its
/// earlier rounds, up to [`EARLIER_CLIENTS`]; whether the case's own were read is kept even
/// when too many to keep are forgotten.
fn with_earlier(mut joins: RequestClients, opts: &IngestOptions) -> RequestClients {
    if let Some(earlier) = opts.earlier_clients.as_ref()
        && let Ok(earlier) = earlier.lock()
    {
        if earlier.len() <= EARLIER_CLIENTS {
            joins.absorb(&earlier);
        }
        joins.has_case |= earlier.has_case;
    }
    joins
}

/// Without a second phase the front ends' clients are still the writer's, unfinished: taken
/// and finished for lookups (once; `joins` keeps whether the case's own were read).
fn finish_without_second_phase(
    joins: &mut RequestClients,
    collected: &mut RequestClients,
    opts: &IngestOptions,
) {
    if !joins.is_empty() {
        return;
    }
    let has_case = joins.has_case;
    *joins = with_earlier(std::mem::take(collected), opts);
    joins.has_case |= has_case;
    joins.finish();
}

/// Adds the clients of the front-end requests committed in the case, but those of the files
/// listed (read in this ingest, their clients collected as they are read).
fn front_end_clients(
    writer: &dyn EventWriter,
    layouts: &[Layout],
    except_files: &[u64],
    into: &mut RequestClients,
) -> Result<()> {
    let ctx = ParseCtx::default();
    let which = WebRows::FrontEnds {
        except: except_files,
    };
    writer.web_rows(layouts, which, &mut |_, layout, client, raw| {
        if let Some(client) = client
            && let Ok(ev) = formats::parse(layout, raw, &ctx)
            && is_front_end("iis", &ev)
            && let Some(id) = ev.request_id
        {
            into.insert(id, client, ev.ts_ms);
        }
    })
}

/// The files listed (HttpProxy and back-end logs already in the case) with a row that the
/// front ends' clients in `joins` give another client than the one it has.
fn attributed_otherwise(
    writer: &dyn EventWriter,
    layouts: &[Layout],
    files: &[u64],
    joins: &RequestClients,
) -> Result<std::collections::BTreeSet<u64>> {
    let ctx = ParseCtx::default();
    let mut out = std::collections::BTreeSet::new();
    writer.web_rows(
        layouts,
        WebRows::Files(files),
        &mut |file, layout, client, raw| {
            if out.contains(&file) {
                return;
            }
            if let Ok(ev) = formats::parse(layout, raw, &ctx)
                && !is_front_end(layout.source(), &ev)
                && let Some(id) = ev.request_id
                && let Some(front) = joins.get(id)
                && client != Some(front)
            {
                out.insert(file);
            }
        },
    )?;
    Ok(out)
}

/// Where a record meets zero fill: a crash while a log was written leaves NUL bytes where the
/// file had grown (its tail, or the end of a line the next write then follows).
enum ZeroFill<'a> {
    None,
    After {
        /// Text cut short before the NULs.
        torn: Option<&'a [u8]>,
        /// The record that follows them.
        rest: Option<&'a [u8]>,
    },
}

/// A run of at least this many NULs is zero fill; fewer are bytes an attacker sent.
const ZERO_FILL_RUN: usize = 4;

fn after_zero_fill(bytes: &[u8]) -> ZeroFill<'_> {
    let leading = bytes.iter().take_while(|b| **b == 0).count();
    // Every record is looked at: a vectorised search (a byte loop was 2% of EVTX ingest).
    let last_nul = memchr::memrchr(0, bytes);
    let Some(last) = last_nul else {
        return ZeroFill::None;
    };
    let run_start = bytes[..=last]
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |p| p + 1);
    if leading == 0 && last + 1 - run_start < ZERO_FILL_RUN {
        return ZeroFill::None;
    }
    let (before, after) = if leading > 0 && leading > last {
        (&bytes[..0], &bytes[leading..])
    } else {
        (&bytes[..run_start], &bytes[last + 1..])
    };
    let before = &before[before.iter().take_while(|b| **b == 0).count()..];
    ZeroFill::After {
        torn: (!before.is_empty()).then_some(before),
        rest: (!after.is_empty()).then_some(after),
    }
}

fn parse_chunk(
    chunk: &Chunk,
    task: &Task,
    fields: &Fields,
    ctx: &ParseCtx,
    attribution: &Attribution<'_>,
) -> Parsed {
    let mut parsed = Parsed {
        docs: Vec::with_capacity(chunk.records.len()),
        doc_bytes: 0,
        dynamic_attrs: std::collections::BTreeSet::new(),
        end_line: chunk.end_line,
        continuation: 0,
        torn: 0,
        malformed: Vec::new(),
        first_ts: None,
        last_ts: None,
        naive: 0,
        clock: ClockCheck::default(),
        joins: Vec::new(),
        inherited: 0,
        windows: Vec::new(),
    };
    let source = chunk.layout.source();
    let dynamic = chunk.layout.has_dynamic_attrs();
    let mut seen = std::collections::BTreeSet::<String>::new();
    let mut name_lists = std::collections::HashSet::<Vec<u8>>::new();
    let mut names = Vec::<u8>::new();
    let host = task.host.as_deref().map(schema::normalize_host);
    for &(line, span, start, end) in &chunk.records {
        parsed.continuation += span - 1;
        let bytes = &chunk.buf[start..end];
        let bytes = match after_zero_fill(bytes) {
            ZeroFill::None => bytes,
            ZeroFill::After { torn, rest } => {
                if let Some(torn) = torn {
                    parsed.malformed.push(MalformedLine {
                        line,
                        reason: "a line cut short by NUL bytes (a write torn by a crash)".into(),
                        excerpt: excerpt(torn),
                    });
                }
                match rest {
                    Some(rest) => {
                        parsed.torn += u64::from(torn.is_some());
                        rest
                    }
                    None if torn.is_some() => continue,
                    None => {
                        parsed.malformed.push(MalformedLine {
                            line,
                            reason: "only NUL bytes (the zero fill of an unclean shutdown)".into(),
                            excerpt: excerpt(&bytes[..bytes.len().min(16)]),
                        });
                        continue;
                    }
                }
            }
        };
        let (text, invalid) = match std::str::from_utf8(bytes) {
            Ok(s) => (std::borrow::Cow::Borrowed(s), false),
            Err(_) => (String::from_utf8_lossy(bytes), true),
        };
        match formats::parse(&chunk.layout, &text, ctx) {
            Ok(mut ev) => {
                attribute(&mut ev, source, attribution, &mut parsed);
                if dynamic {
                    // Looked up as written, made lower case once at the end of the chunk; every
                    // event of a kind repeats the same names, so a list of names met before is
                    // not looked up name by name again (that was 2% of EVTX ingest).
                    names.clear();
                    for (name, _) in &ev.attrs {
                        // Each name after its length: no name can run into the next (formatting
                        // the length as text was 3% of EVTX ingest).
                        names.extend_from_slice(&name.len().to_le_bytes());
                        names.extend_from_slice(name.as_bytes());
                    }
                    if !name_lists.contains(&names) {
                        for (name, _) in &ev.attrs {
                            if !seen.contains(name.as_ref()) {
                                seen.insert(name.to_string());
                            }
                        }
                        name_lists.insert(names.clone());
                    }
                }
                let from = Provenance {
                    file_id: task.file_id,
                    // An event log's record is pointed to by its own number (an event exported
                    // as text, by its line).
                    line: match *chunk.layout {
                        Layout::Evtx => ev.record_id.unwrap_or(line),
                        _ => line,
                    },
                    layout: chunk.layout_id,
                    host: host.as_deref(),
                    source: ev.source.as_deref().unwrap_or(source),
                    windows_record: formats::evtx::record_identity(&ev),
                };
                let raw_bytes = invalid.then_some(bytes);
                let doc = schema::document(fields, &ev, from, &text, raw_bytes);
                if let Some(identity) = from.windows_record {
                    // The host as indexed (the document's second value: found at once).
                    let host = doc.get_first(fields.host).and_then(|v| v.as_str());
                    let key = WindowsEvent::new(identity, host, ev.ts_ms);
                    parsed.windows.push((parsed.docs.len(), key));
                }
                parsed.doc_bytes += approx_memory(bytes, &ev);
                parsed.docs.push((ev.ts_ms, doc));
                parsed.first_ts = Some(parsed.first_ts.map_or(ev.ts_ms, |t| t.min(ev.ts_ms)));
                parsed.last_ts = Some(parsed.last_ts.map_or(ev.ts_ms, |t| t.max(ev.ts_ms)));
                parsed.naive += u64::from(ev.ts_naive);
                parsed.clock.check(&ev);
            }
            Err(why) => parsed.malformed.push(MalformedLine {
                line,
                reason: why.0.into_owned(),
                excerpt: excerpt(bytes),
            }),
        }
    }
    parsed.dynamic_attrs = seen.iter().map(|n| n.to_ascii_lowercase()).collect();
    parsed
}

/// The writer thread's state.
struct WriterState<'a> {
    manifest: Manifest,
    tasks: &'a [Task],
    /// Per task: the record being built, next expected message number, out-of-order messages.
    records: HashMap<usize, TaskProgress>,
    since_commit: u64,
    /// Events received since the last commit, added sorted by time when it comes.
    run: Vec<(i64, TantivyDocument)>,
    /// Memory the documents of `run` take, roughly.
    run_bytes: u64,
    report: &'a mut IngestReport,
    fields: &'a Fields,
    opts: &'a IngestOptions,
    progress: &'a Counters<'a>,
    /// Clients of front-end requests, collected in the first phase.
    joins: RequestClients,
    /// When the next commit is due by time (see `IngestOptions::commit_interval`), and the
    /// gap before it.
    commit_due: Option<Instant>,
    commit_gap: Duration,
    /// Windows events in the case and added since, read from the destination when the first
    /// Windows event of this ingest comes (see [`WindowsEvent`]).
    windows: Option<std::collections::HashSet<WindowsEvent>>,
}

struct TaskProgress {
    record: Option<FileRecord>,
    next_seq: u64,
    pending: BTreeMap<u64, Payload>,
    clock: ClockCheck,
}

/// Sysmon writes each event's own time, in UTC, as `UtcTime`. A collection that labelled local
/// time as UTC (OTRF's ProxyLogon capture: every `TimeCreated` five hours early) shows as the
/// events' times all sitting the same whole number of quarter hours away from it: said, with
/// the offset, so that nobody lines these events up against the web logs unknowingly.
#[derive(Debug, Default, Clone)]
struct ClockCheck {
    /// Events by their distance from `UtcTime` in quarter hours (`None`: not near a quarter).
    offsets: BTreeMap<Option<i64>, u64>,
}

impl ClockCheck {
    const QUARTER_MS: i64 = 15 * 60_000;

    fn check(&mut self, ev: &crate::event::Event<'_>) {
        let Some((_, utc)) = ev.attrs.iter().find(|(k, _)| k == "UtcTime") else {
            return;
        };
        let Some(utc) = formats::time::parse_iso(utc, formats::utc()) else {
            return;
        };
        let delta = ev.ts_ms - utc.ms;
        let quarters = (delta as f64 / Self::QUARTER_MS as f64).round() as i64;
        // A zone is whole quarter hours (within a minute: the log is written after the fact).
        let near = (delta - quarters * Self::QUARTER_MS).abs() <= 60_000;
        *self.offsets.entry(near.then_some(quarters)).or_default() += 1;
    }

    fn merge(&mut self, other: &ClockCheck) {
        for (k, n) in &other.offsets {
            *self.offsets.entry(*k).or_default() += n;
        }
    }

    /// The offset nine events in ten agree on, when it is not zero (ten events at least).
    fn skew(&self) -> Option<crate::case::ClockSkew> {
        let checked: u64 = self.offsets.values().sum();
        let (quarters, events) = self.offsets.iter().max_by_key(|(_, n)| **n)?;
        let quarters = (*quarters)?;
        (checked >= 10 && quarters != 0 && events * 10 >= checked * 9).then_some(
            crate::case::ClockSkew {
                minutes: quarters * 15,
                events: *events,
                checked,
            },
        )
    }
}

impl WriterState<'_> {
    fn run(
        &mut self,
        writer: &mut dyn EventWriter,
        rx: &Receiver<Message>,
        layouts: &std::sync::Mutex<Layouts>,
    ) -> Result<()> {
        while let Ok(msg) = rx.recv() {
            let progress = self
                .records
                .entry(msg.task)
                .or_insert_with(|| TaskProgress {
                    record: None,
                    next_seq: 0,
                    pending: BTreeMap::new(),
                    clock: ClockCheck::default(),
                });
            progress.pending.insert(msg.seq, msg.payload);
            while let Some(payload) = self.take_next(msg.task) {
                self.apply(writer, msg.task, payload)?;
            }
            let due = self
                .commit_due
                .is_some_and(|at| self.since_commit > 0 && Instant::now() >= at);
            if self.since_commit >= self.opts.commit_every
                || self.run_bytes >= self.opts.sort_buffer_bytes
                || due
            {
                self.commit(writer, layouts)?;
            }
        }
        Ok(())
    }

    /// Adds the events since the last commit sorted by time (stably: events of one millisecond
    /// keep their file order).
    fn add_run_in_time_order(&mut self, writer: &mut dyn EventWriter) -> Result<()> {
        let mut order: Vec<(i64, u32)> = (0u32..)
            .zip(&self.run)
            .map(|(i, (ts, _))| (*ts, i))
            .collect();
        order.sort_unstable();
        let mut docs: Vec<Option<TantivyDocument>> = std::mem::take(&mut self.run)
            .into_iter()
            .map(|(_, d)| Some(d))
            .collect();
        let fits_budget = self.run_bytes <= self.opts.memory_budget as u64;
        self.run_bytes = 0;
        let sorted: Vec<TantivyDocument> = order
            .iter()
            .filter_map(|&(_, i)| docs.get_mut(i as usize).and_then(Option::take))
            .collect();
        writer.add_sorted(sorted, fits_budget)
    }

    /// Drops the Windows events already in the case or met earlier in this ingest (another copy
    /// of the same log: a second collection, an EVTX beside its export), and says how many.
    /// The first copy read is the one kept, so which file an event cites can change with the
    /// order files are read in; the count cannot.
    fn drop_copies(&mut self, writer: &mut dyn EventWriter, parsed: &mut Parsed) -> Result<u64> {
        if parsed.windows.is_empty() {
            return Ok(0);
        }
        let seen = match &mut self.windows {
            Some(seen) => seen,
            None => {
                // The events of files this ingest replaces are being deleted: not copies.
                let replaced: Vec<u64> = self.tasks.iter().filter_map(|t| t.replaces).collect();
                let known = writer.windows_events(&replaced)?;
                self.windows.insert(known.into_iter().collect())
            }
        };
        let mut copy = vec![false; parsed.docs.len()];
        let mut copies = 0;
        for &(i, key) in &parsed.windows {
            if !seen.insert(key) {
                copy[i] = true;
                copies += 1;
            }
        }
        if copies > 0 {
            let mut i = 0;
            parsed.docs.retain(|_| {
                i += 1;
                !copy[i - 1]
            });
        }
        Ok(copies)
    }

    fn take_next(&mut self, task: usize) -> Option<Payload> {
        let p = self.records.get_mut(&task)?;
        let payload = p.pending.remove(&p.next_seq)?;
        p.next_seq += 1;
        Some(payload)
    }

    fn apply(
        &mut self,
        writer: &mut dyn EventWriter,
        task_index: usize,
        payload: Payload,
    ) -> Result<()> {
        let task = &self.tasks[task_index];
        let state = self
            .records
            .get_mut(&task_index)
            .ok_or_else(|| Error::Usage("writer lost track of a file".into()))?;
        match payload {
            Payload::Unrecognised { reason } => {
                if let Some(old) = task.replaces {
                    writer.delete_file(old)?;
                    self.manifest.files.retain(|f| f.id != old);
                }
                self.manifest
                    .unrecognised
                    .retain(|u| u.path != task.evidence.path);
                let skipped = SkippedFile {
                    path: task.evidence.path.clone(),
                    size: task.evidence.size,
                    reason,
                };
                self.manifest.unrecognised.push(skipped.clone());
                self.report.unrecognised.push(skipped);
                self.since_commit += 1;
            }
            Payload::Start { format, source } => {
                if let Some(old) = task.replaces {
                    writer.delete_file(old)?;
                    self.manifest.files.retain(|f| f.id != old);
                }
                self.manifest
                    .unrecognised
                    .retain(|u| u.path != task.evidence.path);
                *self
                    .report
                    .files_by_format
                    .entry(format.name().to_string())
                    .or_default() += 1;
                let record = task.previous.clone().map_or_else(
                    || FileRecord {
                        id: task.file_id,
                        path: task.evidence.path.clone(),
                        size: task.evidence.size,
                        mtime: task.evidence.mtime,
                        sha256: None,
                        format,
                        source,
                        host: task.host.clone(),
                        lines: 0,
                        events: 0,
                        malformed: 0,
                        skipped: 0,
                        continuation_lines: 0,
                        torn_records: 0,
                        duplicate_events: 0,
                        recheck: false,
                        front_end: task.front_end,
                        naive_times: 0,
                        tz: None,
                        first_ts: None,
                        last_ts: None,
                        malformed_examples: Vec::new(),
                        complete: false,
                        ends_with_newline: false,
                        read_error: None,
                        head_sha256: task.head_sha256.clone(),
                        aliases: task.aliases.clone(),
                        checkpoints: task.checkpoints.clone(),
                        clock_skew: None,
                        held_back: None,
                        resume: None,
                    },
                    |mut prev| {
                        prev.complete = false;
                        prev.size = task.evidence.size;
                        prev.mtime = task.evidence.mtime;
                        for alias in &task.aliases {
                            if !prev.paths().any(|p| p == alias) {
                                prev.aliases.push(alias.clone());
                            }
                        }
                        prev
                    },
                );
                state.record = Some(record);
            }
            Payload::Chunk(_) => {}
            Payload::Docs(mut parsed) => {
                let copies = self.drop_copies(writer, &mut parsed)?;
                let n = parsed.docs.len() as u64;
                for (request_id, client, ts_ms) in parsed.joins {
                    self.joins.insert(request_id, client, ts_ms);
                }
                self.report.inherited_clients += parsed.inherited;
                self.manifest.dynamic_attrs.extend(parsed.dynamic_attrs);
                self.run.extend(parsed.docs);
                self.run_bytes += parsed.doc_bytes;
                let state = self
                    .records
                    .get_mut(&task_index)
                    .ok_or_else(|| Error::Usage("writer lost track of a file".into()))?;
                self.report.duplicate_events += copies;
                if let Some(r) = state.record.as_mut() {
                    r.events += n;
                    r.duplicate_events += copies;
                    r.lines = r.lines.max(parsed.end_line);
                    r.continuation_lines += parsed.continuation;
                    r.torn_records += parsed.torn;
                    note_malformed(r, &parsed.malformed, self.report);
                    r.first_ts = min_opt(r.first_ts, parsed.first_ts);
                    r.last_ts = max_opt(r.last_ts, parsed.last_ts);
                    r.naive_times += parsed.naive;
                    state.clock.merge(&parsed.clock);
                    if r.naive_times > 0 && r.tz.is_none() {
                        r.tz = Some(self.opts.tz.to_string());
                    }
                }
                self.report.new_events += n;
                self.progress.add_events(n);
                self.since_commit += n;
            }
            Payload::Progress {
                end_line,
                skipped,
                continuation,
                malformed,
            } => {
                if let Some(r) = state.record.as_mut() {
                    r.lines = r.lines.max(end_line);
                    r.skipped += skipped;
                    r.continuation_lines += continuation;
                    note_malformed(r, &malformed, self.report);
                }
            }
            Payload::End {
                end_line,
                size,
                sha256,
                ends_with_newline,
                error,
                held_back,
                resume,
            } => {
                self.report.bytes_read += size;
                if let Some(mut r) = state.record.take() {
                    r.lines = r.lines.max(end_line);
                    r.complete = true;
                    r.sha256 = sha256;
                    r.ends_with_newline = ends_with_newline;
                    // The size the hash covers: less than the file when a last line was left
                    // for later, more when the file grew while it was read.
                    if r.sha256.is_some() {
                        r.size = size;
                    }
                    r.held_back = held_back;
                    r.resume = resume;
                    if let Some(e) = &error {
                        self.report.read_errors.push((r.path.clone(), e.clone()));
                    }
                    r.read_error = error;
                    // (What a grown file's new lines say; otherwise what was found before.)
                    if let Some(skew) = state.clock.skew() {
                        self.report.warnings.push(format!("{}: {skew}", r.path));
                        r.clock_skew = Some(skew);
                    }
                    self.manifest.files.retain(|f| f.id != r.id);
                    self.manifest.files.push(r);
                }
                // Even a file with no events changes the manifest: commit it soon.
                self.since_commit += 1;
                self.progress.file_done();
            }
        }
        Ok(())
    }

    fn commit(
        &mut self,
        writer: &mut dyn EventWriter,
        layouts: &std::sync::Mutex<Layouts>,
    ) -> Result<()> {
        let mut manifest = self.manifest.clone();
        if let Ok(l) = layouts.lock() {
            manifest.layouts = l.list.clone();
        }
        // Files in progress are saved as incomplete, with the lines already added.
        for p in self.records.values() {
            if let Some(r) = &p.record {
                manifest.files.retain(|f| f.id != r.id);
                manifest.files.push(r.clone());
            }
        }
        manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
        self.add_run_in_time_order(writer)?;
        writer.commit(&manifest)?;
        self.manifest.layouts = manifest.layouts;
        self.since_commit = 0;
        if let Some(longest) = self.opts.commit_interval {
            self.commit_gap = (self.commit_gap * 2).min(longest);
            self.commit_due = Some(Instant::now() + self.commit_gap);
        }
        Ok(())
    }
}

/// Deletes the events of one file (in the same commit as what replaces them).
fn delete_file(writer: &IndexWriter, fields: &Fields, file_id: u64) -> Result<()> {
    writer.delete_query(Box::new(file_query(fields, file_id)))?;
    Ok(())
}

/// The events of one file: a range on the `file_id` column (it has no terms).
fn file_query(fields: &Fields, file_id: u64) -> RangeQuery {
    let term = Term::from_field_u64(fields.file_id, file_id);
    RangeQuery::new(
        std::ops::Bound::Included(term.clone()),
        std::ops::Bound::Included(term),
    )
}

fn note_malformed(r: &mut FileRecord, malformed: &[MalformedLine], report: &mut IngestReport) {
    r.malformed += malformed.len() as u64;
    report.new_malformed += malformed.len() as u64;
    for m in malformed {
        if r.malformed_examples.len() < MALFORMED_EXAMPLES {
            r.malformed_examples.push(m.clone());
        }
        if report.malformed_examples.len() < 10 {
            report.malformed_examples.push((r.path.clone(), m.clone()));
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// What the pipeline has done, for [`OnProgress`].
struct Counters<'a> {
    total_bytes: u64,
    files_total: u64,
    files_done: AtomicU64,
    events: AtomicU64,
    /// Raw bytes read so far, counted by the readers.
    bytes: Arc<AtomicU64>,
    report: OnProgress<'a>,
}

impl<'a> Counters<'a> {
    fn new(total_bytes: u64, files_total: u64, report: OnProgress<'a>) -> Counters<'a> {
        Counters {
            total_bytes,
            files_total,
            files_done: AtomicU64::new(0),
            events: AtomicU64::new(0),
            bytes: Arc::new(AtomicU64::new(0)),
            report,
        }
    }

    fn add_events(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
        self.tell();
    }

    fn file_done(&self) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.tell();
    }

    fn tell(&self) {
        (self.report)(Progress {
            done: self.bytes.load(Ordering::Relaxed),
            total: self.total_bytes,
            unit: Unit::Bytes,
            events: self.events.load(Ordering::Relaxed),
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: self.files_total,
        });
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn zero_fill_is_cut_from_the_records_around_it() {
        let split = |b: &'static [u8]| match after_zero_fill(b) {
            ZeroFill::None => None,
            ZeroFill::After { torn, rest } => Some((torn, rest)),
        };
        assert!(split(b"plain line").is_none());
        assert!(
            split(b"GET /a\0b 200").is_none(),
            "a NUL an attacker sent stays"
        );
        assert_eq!(split(b"\0\0\0\0\0"), Some((None, None)));
        assert_eq!(split(b"\0next line"), Some((None, Some(&b"next line"[..]))));
        assert_eq!(
            split(b"torn\0\0\0\0\0next"),
            Some((Some(&b"torn"[..]), Some(&b"next"[..])))
        );
        assert_eq!(split(b"torn\0\0\0\0"), Some((Some(&b"torn"[..]), None)));
    }
    use super::*;

    fn sysmon(ts: &str, utc: &str) -> crate::event::Event<'static> {
        let mut ev = crate::event::Event {
            ts_ms: formats::time::parse_iso(ts, formats::utc()).expect("ts").ms,
            ..Default::default()
        };
        ev.attrs.push((
            std::borrow::Cow::Borrowed("UtcTime"),
            std::borrow::Cow::Owned(utc.to_string()),
        ));
        ev
    }

    #[test]
    fn clock_skew_is_a_zone_most_events_agree_on() {
        let check = |pairs: &[(&str, &str)]| {
            let mut c = ClockCheck::default();
            for (ts, utc) in pairs {
                c.check(&sysmon(ts, utc));
            }
            c.skew().map(|s| (s.minutes, s.events, s.checked))
        };
        let local = ("2021-03-14T01:40:13.659Z", "2021-03-14 06:40:13.659");
        let right = ("2021-03-14T06:40:13.700Z", "2021-03-14 06:40:13.659");
        assert_eq!(check(&[local; 12]), Some((-300, 12, 12)));
        // In agreement, too few to say, or no agreement: nothing said.
        assert_eq!(check(&[right; 12]), None);
        assert_eq!(check(&[local; 9]), None);
        let mut mixed = vec![local; 8];
        mixed.extend([right; 4]);
        assert_eq!(check(&mixed), None);
        // A log written late is not a zone.
        let late = ("2021-03-14T06:47:13.000Z", "2021-03-14 06:40:13.000");
        assert_eq!(check(&[late; 12]), None);
        // India's half hour.
        let ist = ("2021-03-14T12:10:13.659Z", "2021-03-14 06:40:13.659");
        assert_eq!(check(&[ist; 10]), Some((330, 10, 10)));
    }

    /// Every segment must be in time order whatever the order of the input: files of two hosts
    /// overlapping in time, lines out of order within a file, commits every few events.
    #[test]
    fn segments_are_in_time_order_for_overlapping_unordered_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let header = "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem sc-status\n";
        let mut inputs = Vec::new();
        for host in ["MBX-A", "MBX-B"] {
            for day in 5..8 {
                let mut text = header.to_string();
                for i in 0..300u32 {
                    // Out of order by up to a minute within the file.
                    let second = (i * 7919) % 3600;
                    text.push_str(&format!(
                        "2021-03-0{day} 10:{:02}:{:02} 10.0.0.1 GET /{host}/{i} 200\n",
                        second / 60,
                        second % 60
                    ));
                }
                let path = dir.path().join(format!("{host}/W3SVC1/u_ex21030{day}.log"));
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(&path, text).expect("write");
                inputs.push(path);
            }
        }
        for (commit_every, sort_buffer_bytes) in
            [(7, 1 << 20), (1_000_000, 4096), (1_000_000, 1 << 20)]
        {
            let mut case = Case::open_or_create(
                &dir.path()
                    .join(format!("case-{commit_every}-{sort_buffer_bytes}")),
            )
            .expect("case");
            let opts = IngestOptions {
                commit_every,
                sort_buffer_bytes,
                ..IngestOptions::default()
            };
            let report =
                ingest(&mut case, &inputs, &opts, &crate::progress::ignore).expect("ingest");
            assert_eq!(report.new_events, 1800);
            // Checks that every segment is in time order.
            let spans = segment_spans(&case);
            assert_eq!(spans.iter().map(|s| s.2).sum::<u32>(), 1800);
        }
    }

    fn segment_spans(case: &Case) -> Vec<(i64, i64, u32)> {
        let searcher = case.reader().expect("reader").searcher();
        let mut spans: Vec<(i64, i64, u32)> = searcher
            .segment_readers()
            .iter()
            .map(|segment| {
                let ts = segment
                    .fast_fields()
                    .date(crate::event::names::TS)
                    .expect("ts column");
                let times: Vec<i64> = (0..segment.max_doc())
                    .map(|d| ts.first(d).map_or(0, |t| t.into_timestamp_millis()))
                    .collect();
                assert!(times.is_sorted(), "segment out of time order");
                (times[0], times[times.len() - 1], segment.num_docs())
            })
            .collect();
        spans.sort_unstable();
        spans
    }

    /// A log that grows between ingests adds a small segment each time; those that follow each
    /// other in time are merged, in time order, and every event is still there once.
    #[test]
    fn segments_of_a_growing_log_are_merged_in_time_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("MBX-A/W3SVC1/u_ex210305.log");
        std::fs::create_dir_all(log.parent().expect("parent")).expect("mkdir");
        let mut text = "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem sc-status\n".to_string();
        let mut case = Case::open_or_create(&dir.path().join("case")).expect("case");
        let opts = IngestOptions {
            ..IngestOptions::default()
        };
        for round in 0..6u32 {
            for i in 0..50 {
                let second = round * 50 + i;
                text.push_str(&format!(
                    "2021-03-05 10:{:02}:{:02} 10.0.0.1 GET /r{round}/{i} 200\n",
                    second / 60,
                    second % 60
                ));
            }
            std::fs::write(&log, &text).expect("write");
            ingest(
                &mut case,
                std::slice::from_ref(&log),
                &opts,
                &crate::progress::ignore,
            )
            .expect("ingest");
        }
        let spans = segment_spans(&case);
        assert_eq!(spans.iter().map(|s| s.2).sum::<u32>(), 300);
        assert!(spans.len() <= 2, "segments not merged: {spans:?}");
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{spans:?}");

        // Logs of two servers covering the same hour cannot be concatenated in time order: they
        // stay apart (and each stays sorted).
        let other = dir.path().join("MBX-B/W3SVC1/u_ex210305.log");
        std::fs::create_dir_all(other.parent().expect("parent")).expect("mkdir");
        std::fs::write(&other, text.replace("/r", "/b")).expect("write");
        ingest(
            &mut case,
            std::slice::from_ref(&other),
            &opts,
            &crate::progress::ignore,
        )
        .expect("ingest");
        let spans = segment_spans(&case);
        assert_eq!(spans.iter().map(|s| s.2).sum::<u32>(), 600);
    }
}
