//! The case directory: the tantivy index and the manifest of every ingested file.
//!
//! ```text
//! trawl-case/
//!   index/          tantivy index, sorted by time
//!   manifest.json   readable copy of the manifest, rewritten after every commit
//! ```
//!
//! The authoritative manifest travels inside each tantivy commit (its payload), so the index and
//! the record of what it contains can never disagree, whatever moment a crash strikes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy};

use crate::attribution::Cidr;
use crate::error::{Error, Result};
use crate::formats::{FormatKind, Layout};
use crate::schema::{self, Fields, SCHEMA_VERSION};

/// Default case directory.
pub const DEFAULT_DIR: &str = "trawl-case";

/// A malformed record, kept as evidence of what could not be parsed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MalformedLine {
    pub line: u64,
    pub reason: String,
    /// The start of the record, with control characters escaped.
    pub excerpt: String,
}

/// How many malformed records are kept per file (all are counted).
pub const MALFORMED_EXAMPLES: usize = 20;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One ingested file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileRecord {
    pub id: u64,
    pub path: String,
    pub size: u64,
    pub mtime: i64,
    /// SHA-256 of the file as read; set once the whole file has been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub format: FormatKind,
    pub source: String,
    /// Host for records that name none (from the collection's folder layout or `--host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Physical lines accounted for (events, malformed, directives and blanks); for an event
    /// log or a file of documents (pretty-printed JSON, XML events), its records.
    pub lines: u64,
    pub events: u64,
    pub malformed: u64,
    /// Directives, comments, headers and blank lines.
    pub skipped: u64,
    /// Lines after the first of records spanning several lines (quoted newlines in CSV), so
    /// that `events + malformed + skipped + continuation_lines + duplicate_events == lines +
    /// torn_records`.
    #[serde(default)]
    pub continuation_lines: u64,
    /// Records cut short by a crash's NUL fill, the log going on after the NULs on the same
    /// line: each such line holds a malformed record and a whole one, both counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub torn_records: u64,
    /// Windows events this file holds that the case had from another file (another copy of the
    /// same log): not added again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub duplicate_events: u64,
    /// Copies it did not add went with a file replaced since: to be read again when next given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recheck: bool,
    /// Read as a front end's IIS log (its head's port is not 444): its rows give clients to the
    /// HttpProxy and back-end rows of their requests rather than inherit them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub front_end: bool,
    /// Events whose time had no zone and were converted with `tz`.
    #[serde(default)]
    pub naive_times: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub malformed_examples: Vec<MalformedLine>,
    /// False while the file is partly ingested (after a crash or interruption).
    pub complete: bool,
    /// Whether the file's last line had a line ending (a file that grows after a cut line
    /// must be read again whole).
    #[serde(default)]
    pub ends_with_newline: bool,
    /// An error that stopped reading (a corrupt archive, an I/O error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_error: Option<String>,
    /// SHA-256 of the first 4 KiB (see `EvidenceFile::head_sha256`): how a path never seen
    /// before is recognised as this content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha256: Option<String>,
    /// Other paths this content was found under (another spelling, a symbolic link, a copy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// What the file was before it grew: a copy taken then is the same evidence, not another.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<Checkpoint>,
    /// Its events' times disagree with the UTC time the events carry themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<ClockSkew>,
    /// Its last line was unfinished when it was read (a log being written, followed): `size`
    /// and `sha256` stop at the last line ending, and this is the file as it was then, so
    /// that following does not read it again until it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_back: Option<HeldBack>,
    /// Where reading can go on when the file grows (plain text logs whose records are lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumePoint>,
}

/// Where a followed log's reading goes on from: its bytes so far are not read or hashed again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResumePoint {
    /// The bytes read and hashed: the record's `size`.
    pub offset: u64,
    /// The SHA-256 state after them (hex), to hash on.
    pub sha_state: String,
    /// SHA-256 of the (up to) 4 KiB before `offset`: following, a file whose size grew and
    /// whose bytes there are unchanged is taken to have only grown.
    pub tail_sha256: String,
    /// The framer's state (the `#Fields` in force …) and the layout in force.
    pub framer: String,
    pub layout: Option<u64>,
}

/// A file's size and modification time (see [`FileRecord::held_back`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldBack {
    pub size: u64,
    pub mtime: i64,
}

/// Events whose recorded time is a whole zone away from the UTC time they carry (Sysmon's
/// `UtcTime`): local time labelled as UTC somewhere between the server and the collection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClockSkew {
    /// Recorded time minus the event's own UTC time.
    pub minutes: i64,
    /// Events at that distance, of those that carry their own UTC time.
    pub events: u64,
    pub checked: u64,
}

impl std::fmt::Display for ClockSkew {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (sign, m) = if self.minutes < 0 {
            ('-', -self.minutes)
        } else {
            ('+', self.minutes)
        };
        let zone = format!("UTC{sign}{:02}:{:02}", m / 60, m % 60);
        write!(
            f,
            "{} of {} events are {}:{:02} {} their own UtcTime: this file's times look like local time ({zone}) written as UTC, so its events sit that far off the other logs' (UtcTime holds the true time)",
            self.events,
            self.checked,
            m / 60,
            m % 60,
            if self.minutes < 0 { "before" } else { "after" }
        )
    }
}

/// A size a file had, and the SHA-256 of its content at that size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub size: u64,
    pub sha256: String,
}

impl FileRecord {
    /// Every path this content is known under.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.path.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Whether `(size, sha)` is this content now or at an earlier size.
    pub fn contains(&self, size: u64, sha: &str) -> bool {
        (self.complete && size == self.size && self.sha256.as_deref() == Some(sha))
            || self
                .checkpoints
                .iter()
                .any(|c| c.size == size && c.sha256 == sha)
    }
}

/// A file that was not ingested, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: String,
    pub size: u64,
    pub reason: String,
}

/// Everything the case knows about its evidence.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Manifest {
    pub schema_version: u32,
    pub files: Vec<FileRecord>,
    /// Layouts referenced by events' `layout` value (its index in this list).
    pub layouts: Vec<Layout>,
    pub unrecognised: Vec<SkippedFile>,
    pub next_file_id: u64,
    /// Source-specific column names met in records whose columns vary (JSON lines, ECP
    /// EventData); header-driven formats name theirs in `layouts`.
    #[serde(default)]
    pub dynamic_attrs: std::collections::BTreeSet<String>,
    /// Proxies declared by the responder when the events were attributed (see
    /// `attribution`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<Cidr>,
}

impl Manifest {
    pub fn file(&self, id: u64) -> Option<&FileRecord> {
        self.files.iter().find(|f| f.id == id)
    }

    /// Total events and malformed records.
    pub fn totals(&self) -> (u64, u64) {
        self.files
            .iter()
            .fold((0, 0), |(e, m), f| (e + f.events, m + f.malformed))
    }

    /// Index from file id to position in `files`.
    pub fn by_id(&self) -> HashMap<u64, usize> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id, i))
            .collect()
    }
}

/// The responder's settings for a case: `trawl.toml` in the case directory.
///
/// ```toml
/// trusted_proxies = ["172.16.0.10", "172.16.0.11", "10.20.0.0/24"]
/// rules = ["/cases/shared/sigma/exchange"]
/// ```
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseConfig {
    /// Load balancers and reverse proxies whose X-Forwarded-For is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<Cidr>,
    /// More rules for this case: trawl rule files, Sigma files or folders of them, relative to
    /// the case directory (besides its `rules.toml` and `sigma/`, which are always read).
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// Where the case is kept when not in this directory:
    /// `clickhouse://HOST:PORT/DATABASE[?cluster=NAME]`.
    #[serde(default)]
    pub store: Option<String>,
}

/// The name of the case config file.
pub const CONFIG_FILE: &str = "trawl.toml";

impl CaseConfig {
    /// Reads `trawl.toml` from a case directory; absent means defaults.
    pub fn load(dir: &Path) -> Result<CaseConfig> {
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CaseConfig::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        toml::from_str(&text).map_err(|e| Error::Case {
            path: path.clone(),
            message: e.message().to_string(),
        })
    }
}

impl CaseConfig {
    /// Names `rules` (files or folders given to an ingest) in the case's `trawl.toml`, so that
    /// every later command of the case runs them too: hits computed with them are not dropped
    /// by a `trawl hunt` that was not given them again. Paths are kept absolute; those already
    /// named are left as they are. Returns the paths added.
    pub fn remember_rules(dir: &Path, rules: &[PathBuf]) -> Result<Vec<PathBuf>> {
        let mut config = CaseConfig::load(dir)?;
        let named: Vec<PathBuf> = config
            .rules
            .iter()
            .map(|p| std::fs::canonicalize(dir.join(p)).unwrap_or_else(|_| dir.join(p)))
            .collect();
        let mut added = Vec::new();
        for rule in rules {
            let path = std::fs::canonicalize(rule).map_err(|e| Error::io(rule, e))?;
            if !named.contains(&path) && !added.contains(&path) {
                added.push(path);
            }
        }
        if added.is_empty() {
            return Ok(added);
        }
        let path = dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        config.rules.extend(added.iter().cloned());
        let list = toml::Value::Array(
            config
                .rules
                .iter()
                .map(|p| toml::Value::String(p.to_string_lossy().into_owned()))
                .collect(),
        );
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| Error::Case {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        let text = if table.contains_key("rules") {
            // Rewritten whole (the file's comments are lost only in this case).
            table.insert("rules".into(), list);
            toml::to_string(&table).map_err(|e| Error::Case {
                path: path.clone(),
                message: e.to_string(),
            })?
        } else {
            // The file holds top-level keys only (`deny_unknown_fields`): a key appended is one.
            let mut text = text;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(
                "# rules given to `trawl ingest --rules`, run by every command of this case\n",
            );
            text.push_str(&format!("rules = {list}\n"));
            text
        };
        write_atomic(&path, text.as_bytes())?;
        Ok(added)
    }
}

/// An open case.
pub struct Case {
    pub dir: PathBuf,
    pub index: Index,
    pub fields: Fields,
    pub manifest: Manifest,
    pub config: CaseConfig,
    /// On a medium trawl cannot write (a read-only mount, a write-protected copy): it is read
    /// as it is, and nothing is stored.
    pub read_only: bool,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("dir", &self.dir).finish()
    }
}

fn index_dir(dir: &Path) -> PathBuf {
    dir.join("index")
}

impl Case {
    /// Opens the case at `dir`, creating it if it does not exist.
    pub fn open_or_create(dir: &Path) -> Result<Case> {
        if index_dir(dir).join("meta.json").exists() {
            return Case::open(dir);
        }
        let idx = index_dir(dir);
        std::fs::create_dir_all(&idx).map_err(|e| Error::io(&idx, e))?;
        let (schema, fields) = schema::build();
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(1),
            }),
            // Compressing 64 KiB blocks instead of 16 KiB: a quarter of the per-block setup
            // (a zstd context each) and a smaller store; a row fetch still costs microseconds.
            docstore_blocksize: 64 << 10,
            ..IndexSettings::default()
        };
        let directory = MmapDirectory::open(&idx).map_err(|e| Error::Case {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let index = Index::builder()
            .schema(schema)
            .settings(settings)
            .open_or_create(directory)?;
        schema::register_tokenizers(&index);
        Ok(Case {
            dir: dir.to_path_buf(),
            index,
            fields,
            manifest: Manifest {
                schema_version: SCHEMA_VERSION,
                ..Manifest::default()
            },
            config: CaseConfig::load(dir)?,
            read_only: false,
        })
    }

    /// Opens an existing case.
    pub fn open(dir: &Path) -> Result<Case> {
        let idx = index_dir(dir);
        if !idx.join("meta.json").exists() {
            return Err(Error::Case {
                path: dir.to_path_buf(),
                message: "no case here (run `trawl ingest --case DIR PATH…` first)".into(),
            });
        }
        let read_only = !writable(&idx);
        let index = if read_only {
            let mmap = MmapDirectory::open(&idx).map_err(|e| Error::Case {
                path: dir.to_path_buf(),
                message: e.to_string(),
            })?;
            Index::open(ReadOnlyDirectory(mmap))?
        } else {
            Index::open_in_dir(&idx)?
        };
        schema::register_tokenizers(&index);
        let fields = schema::fields_of(&index.schema())?;
        let manifest = committed_manifest(dir, &index)?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(Error::Case {
                path: dir.to_path_buf(),
                message: format!(
                    "built with schema version {}, this trawl reads version {SCHEMA_VERSION}: ingest the evidence into a new case",
                    manifest.schema_version
                ),
            });
        }
        Ok(Case {
            dir: dir.to_path_buf(),
            index,
            fields,
            manifest,
            config: CaseConfig::load(dir)?,
            read_only,
        })
    }

    /// Takes the manifest of the last commit (another thread or process is ingesting).
    pub fn reload(&mut self) -> Result<()> {
        self.manifest = committed_manifest(&self.dir, &self.index)?;
        Ok(())
    }

    /// What changes whenever a commit lands: the commit file's time and size. Cheap enough to
    /// look at every second, unlike parsing the commit (its payload is the whole manifest).
    pub fn commit_stamp(&self) -> Option<(std::time::SystemTime, u64)> {
        let meta = std::fs::metadata(index_dir(&self.dir).join("meta.json")).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// A reader that sees the last commit; reload explicitly after committing.
    pub fn reader(&self) -> Result<IndexReader> {
        Ok(self
            .index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?)
    }

    /// Writes the readable copy of the manifest, atomically.
    pub fn write_manifest_copy(&self) -> Result<()> {
        write_atomic(
            &self.dir.join("manifest.json"),
            serde_json::to_string_pretty(&self.manifest)
                .map_err(|e| Error::Usage(e.to_string()))?
                .as_bytes(),
        )
    }
}

/// The manifest the last commit carries.
fn committed_manifest(dir: &Path, index: &Index) -> Result<Manifest> {
    Ok(match index.load_metas()?.payload {
        Some(payload) => serde_json::from_str(&payload).map_err(|e| Error::Case {
            path: dir.to_path_buf(),
            message: format!("unreadable manifest in the index commit: {e}"),
        })?,
        None => Manifest {
            schema_version: SCHEMA_VERSION,
            ..Manifest::default()
        },
    })
}

/// Whether trawl can write the index folder: it can open its lock file for writing (tantivy's
/// readers take that lock too, so a case on read-only media could not even be searched).
fn writable(index_dir: &Path) -> bool {
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(index_dir.join(".tantivy-meta.lock"))
    {
        Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
        ),
    }
}

/// An index on read-only media. Its readers need no lock: the lock keeps a writer's clean-up
/// from deleting files while a reader opens them, and no writer can run here.
#[derive(Debug, Clone)]
struct ReadOnlyDirectory(MmapDirectory);

impl ReadOnlyDirectory {
    fn refused() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::ReadOnlyFilesystem,
            "the case is on read-only media",
        )
    }
}

impl Directory for ReadOnlyDirectory {
    fn get_file_handle(
        &self,
        path: &Path,
    ) -> std::result::Result<Arc<dyn FileHandle>, OpenReadError> {
        self.0.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> std::result::Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(Self::refused()),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> std::result::Result<bool, OpenReadError> {
        self.0.exists(path)
    }

    fn open_write(&self, path: &Path) -> std::result::Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::IoError {
            io_error: Arc::new(Self::refused()),
            filepath: path.to_path_buf(),
        })
    }

    fn atomic_read(&self, path: &Path) -> std::result::Result<Vec<u8>, OpenReadError> {
        self.0.atomic_read(path)
    }

    fn atomic_write(&self, _path: &Path, _data: &[u8]) -> std::io::Result<()> {
        Err(Self::refused())
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> std::result::Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.0.watch(callback)
    }
}

/// Writes a file by writing a temporary sibling, syncing it and renaming it over the target,
/// so a crash leaves either the old or the new content, never a torn file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    // A name of its own per write: two processes (or threads) saving at once must not rename
    // each other's half-written file.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        #[cfg(test)]
        if FAIL_BEFORE_RENAME.with(|f| f.replace(false)) {
            // As if the process died here: the new content never replaces the old.
            return Err(std::io::Error::other("injected fault before rename"));
        }
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        // A failed write (a full disk) leaves no half-written file behind.
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
thread_local! {
    static FAIL_BEFORE_RENAME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test hook: the next atomic write on this thread stops between writing and renaming.
#[cfg(test)]
pub fn fail_next_write_before_rename() {
    FAIL_BEFORE_RENAME.with(|f| f.set(true));
}

/// The client a Velociraptor collection folder or zip is named after
/// (`Collection-<name>-<YYYY-MM-DDTHH_MM_SSZ>`), without its time.
fn velociraptor_client(folder: &str) -> Option<&str> {
    let name = folder.strip_suffix(".zip").unwrap_or(folder);
    let rest = name.strip_prefix("Collection-")?;
    // The time is the last `-` followed by `YYYY-MM-DD`: a host name may hold dashes and digits.
    let is_date = |t: &[u8]| {
        t.len() >= 10
            && t[..4].iter().all(u8::is_ascii_digit)
            && t[4] == b'-'
            && t[5..7].iter().all(u8::is_ascii_digit)
            && t[7] == b'-'
            && t[8..10].iter().all(u8::is_ascii_digit)
    };
    let cut = rest
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '-' && is_date(&rest.as_bytes()[i + 1..]))?
        .0;
    let host = &rest[..cut];
    (host.len() > 2).then_some(host)
}

/// The host a file belongs to, from the collection's layout: the folder just above the first
/// known log folder (`MBX-A/inetpub/logs/…`, `MBX-A/W3SVC1/…`, `MBX-A/Logging/HttpProxy/…`,
/// Test-ProxyLogon's `CollectedLogFiles/MBX-A/CVE26855/…`). A folder named like a collection's
/// own (`IIS`, `logs`, `export`, a date) is passed over, twice at most: a collection's folders
/// are not servers.
pub fn host_from_path(path: &str) -> Option<String> {
    const LOG_FOLDERS: [&str; 17] = [
        "inetpub",
        "logfiles",
        "logging",
        "httpproxy",
        "httperr",
        "exchange server",
        "v15",
        "program files",
        "windows",
        "eventlogs",
        "winevt",
        "oabgeneratorlog",
        // Test-ProxyLogon -CollectFiles: <Computer>\{CVE26855, CVE26857, …, SuspiciousFiles}.
        "cve26855",
        "cve26857",
        "cve26858",
        "cve27065",
        "suspiciousfiles",
    ];
    const COLLECTION_FOLDERS: [&str; 46] = [
        // Where a collection lands on the responder's machine, never a server's name.
        "incoming",
        "download",
        "downloads",
        "desktop",
        "documents",
        "received",
        "from-client",
        "from_client",
        "client",
        "stuff",
        "misc",
        "extracted",
        "unzipped",
        "original",
        "backup",
        "archive",
        "iis",
        "logs",
        "log",
        "export",
        "exports",
        "exported",
        "triage",
        "collection",
        "collections",
        "collected",
        "collectedlogfiles",
        "evidence",
        "data",
        "files",
        "output",
        "results",
        "kape",
        "velociraptor",
        "cylr",
        "uploads",
        "tout",
        "modules",
        "tmp",
        "temp",
        "cases",
        "case",
        // Velociraptor's upload accessors (`uploads/auto/C%3A/…`, `uploads/ntfs/…`).
        "auto",
        "ntfs",
        "ntfs_vss",
        "file",
    ];
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
    let is_log_folder = |p: &str| {
        let lower = p.to_ascii_lowercase();
        LOG_FOLDERS.contains(&lower.as_str())
            || (lower.starts_with("w3svc") && lower[5..].bytes().all(|b| b.is_ascii_digit()))
    };
    // A collection's own folder: a generic name, or a date (`2021-03`, `20210305`); a server
    // named by its address (`10.1.1.5`) is a server.
    let is_collection_folder = |p: &str| {
        let lower = p.to_ascii_lowercase();
        // A drive: KAPE's `C`, Velociraptor's `C%3A` or `%5C%5C.%5CC%3A` (`\\.\C:` escaped).
        let drive = p.len() == 1 && p.bytes().all(|b| b.is_ascii_alphabetic());
        drive
            || p.contains('%')
            || COLLECTION_FOLDERS.contains(&lower.as_str())
            || (p
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.')
                && p.parse::<std::net::IpAddr>().is_err())
    };
    // The last component is the file itself.
    let dirs = &parts[..parts.len().saturating_sub(1)];
    let first = dirs.iter().position(|p| is_log_folder(p))?;
    // A Velociraptor collection names its client in its folder (or zip) name, above its own
    // folders: `Collection-MBX-A.corp.example.org-2021-03-06T10_00_00Z/uploads/auto/C%3A/…`.
    if let Some(host) = dirs[..first]
        .iter()
        .rev()
        .find_map(|p| velociraptor_client(p))
    {
        return Some(host.to_string());
    }
    let host = dirs[..first]
        .iter()
        .rev()
        .take(3)
        .find(|p| !is_collection_folder(p))?;
    let plausible = host.len() > 2 && !host.ends_with('$') && !host.ends_with(':');
    plausible.then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_given_are_named_in_the_config_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(Path::new("tmp"), e))?;
        let (a, b) = (dir.path().join("a.yml"), dir.path().join("b"));
        std::fs::write(&a, "").map_err(|e| Error::io(&a, e))?;
        std::fs::create_dir(&b).map_err(|e| Error::io(&b, e))?;
        let config = dir.path().join(CONFIG_FILE);
        std::fs::write(&config, "trusted_proxies = [\"10.0.0.1\"]")
            .map_err(|e| Error::io(&config, e))?;
        assert_eq!(
            CaseConfig::remember_rules(dir.path(), std::slice::from_ref(&a))?.len(),
            1
        );
        // Named already (under another spelling of its path): not again; a new one is added to
        // the list, the other settings kept.
        let again = dir.path().join(".").join("a.yml");
        let added = CaseConfig::remember_rules(dir.path(), &[again, b.clone()])?;
        assert_eq!(added.len(), 1);
        let loaded = CaseConfig::load(dir.path())?;
        assert_eq!(loaded.rules.len(), 2);
        assert_eq!(loaded.trusted_proxies.len(), 1);
        assert!(CaseConfig::remember_rules(dir.path(), &[dir.path().join("none")]).is_err());
        Ok(())
    }

    #[test]
    fn host_from_collection_layout() {
        assert_eq!(
            host_from_path("MBX-A/W3SVC1/u_ex210305.log").as_deref(),
            Some("MBX-A")
        );
        assert_eq!(
            host_from_path("/cases/x/MBX-A/Logging/HttpProxy/Owa/HttpProxy_2021030514-1.LOG")
                .as_deref(),
            Some("MBX-A")
        );
        assert_eq!(
            host_from_path("sample-logs/MBX-B/inetpub/logs/LogFiles/W3SVC2/u_ex210305.log")
                .as_deref(),
            Some("MBX-B")
        );
        for landed in [
            "Downloads",
            "stuff",
            "from-client/LogFiles",
            "incoming/evidence",
        ] {
            assert_eq!(
                host_from_path(&format!("{landed}/W3SVC1/u_ex210303.log")),
                None,
                "{landed}"
            );
        }
        assert_eq!(
            host_from_path("incoming/EX01/W3SVC1/u_ex210303.log").as_deref(),
            Some("EX01")
        );
        assert_eq!(host_from_path("u_ex210305.log"), None);
        for path in [
            "ev/Collection-MBX-A-2021-03-06T10_00_00Z/uploads/auto/C%3A/inetpub/logs/LogFiles/W3SVC1/u.log",
            "Collection-MBX-A-2021-03-06T10_00_00Z.zip/uploads/ntfs/%5C%5C.%5CC%3A/inetpub/logs/LogFiles/W3SVC1/u.log",
            "x/Collection-mbx-a.corp.example.org-2021-03-06T10_00_00Z/uploads/auto/C%3A/Program Files/Microsoft/Exchange Server/V15/Logging/HttpProxy/Owa/h.LOG",
            "cases/MBX-A/C/inetpub/logs/LogFiles/W3SVC1/u.log",
        ] {
            assert_eq!(
                host_from_path(path)
                    .map(|h| crate::schema::normalize_host(&h))
                    .as_deref(),
                Some("MBX-A"),
                "{path}"
            );
        }
        assert_eq!(
            velociraptor_client("Collection-EX-2016-01-2021-03-06T10_00_00Z"),
            Some("EX-2016-01")
        );
        assert_eq!(velociraptor_client("Collection-2021-03-06T10_00_00Z"), None);
        assert_eq!(velociraptor_client("Collection-MBX-A"), None);
        assert_eq!(host_from_path("W3SVC1/u_ex210305.log"), None);
        assert_eq!(
            host_from_path("C:/inetpub/logs/LogFiles/W3SVC1/u.log"),
            None
        );
        // A collection's folders are passed over, twice at most.
        assert_eq!(
            host_from_path("t/MBX-A/IIS/W3SVC1/u_ex210305.log").as_deref(),
            Some("MBX-A")
        );
        assert_eq!(
            host_from_path("cases/MBX-A/triage/2021-03-05/W3SVC1/u.log").as_deref(),
            Some("MBX-A")
        );
        assert_eq!(host_from_path("t/collection/IIS/W3SVC1/u.log"), None);
        // A server named Exchange, or by its address, is a server.
        assert_eq!(
            host_from_path("case/EXCHANGE/inetpub/logs/LogFiles/W3SVC1/u.log").as_deref(),
            Some("EXCHANGE")
        );
        assert_eq!(
            host_from_path("evidence/10.1.1.5/W3SVC1/u.log").as_deref(),
            Some("10.1.1.5")
        );
        assert_eq!(host_from_path("x/logs/export/2021-03/W3SVC1/u.log"), None);
        assert_eq!(
            host_from_path("out/CollectedLogFiles/EX01/CVE26855/HttpProxy_2021.LOG").as_deref(),
            Some("EX01")
        );
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("m.json");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let leftovers = std::fs::read_dir(dir.path()).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }
}
