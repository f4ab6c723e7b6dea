//! Evidence: finding it, opening it read-only, and turning its bytes into records.
//!
//! Evidence is a plain file, a gzip file or a member of a zip archive, all read in place: nothing
//! is unpacked to disk and nothing is ever opened for writing. The byte stream is hashed as it is
//! read (SHA-256 of the file as it is on disk, or of the member's content for zip members), then
//! decompressed, then decoded to UTF-8 (a UTF-8 BOM is dropped, UTF-16 with a BOM transcoded),
//! then split into records: lines, or for CSV formats lines joined while a quote is open.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::formats::{self, Framing};

/// Where the bytes of one piece of evidence live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file on disk (possibly gzip-compressed: recognised by its magic bytes).
    File(PathBuf),
    /// A member of a zip archive.
    ZipMember { archive: PathBuf, index: usize },
}

/// One piece of evidence found under the paths given to `ingest`.
#[derive(Debug, Clone)]
pub struct EvidenceFile {
    /// Identity in the case: the file's path, or `archive.zip/member/path` for zip members.
    pub path: String,
    pub location: Location,
    /// Size in bytes (uncompressed size for zip members).
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (a rewrite within the same second with
    /// the same size must still be noticed).
    pub mtime: i64,
}

/// A file or archive that could not be read while discovering evidence.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZIP_MAGIC: [u8; 4] = [b'P', b'K', 3, 4];

/// Walks the given paths (files or directories, recursively, in name order) and lists the
/// evidence in them. Paths under `exclude` (the case directory) are skipped; named as inputs,
/// they are listed as unreadable with why.
pub fn discover(
    inputs: &[PathBuf],
    exclude: Option<&Path>,
) -> (Vec<EvidenceFile>, Vec<Unreadable>) {
    let exclude = exclude.and_then(|p| p.canonicalize().ok());
    let mut found = Vec::new();
    let mut unreadable = Vec::new();
    for input in inputs {
        // Named, not met on the way (a folder holding the case): said, not skipped in silence.
        if let (Some(ex), Ok(canon)) = (&exclude, input.canonicalize())
            && canon.starts_with(ex)
        {
            unreadable.push(Unreadable {
                path: path_text(input),
                reason: "inside the case's own folder, which is never read as evidence: move it out of the case folder".into(),
            });
            continue;
        }
        walk(input, exclude.as_deref(), &mut found, &mut unreadable);
    }
    (found, unreadable)
}

/// A path as text, one to one: bytes that are not UTF-8 (possible in Unix file names) are
/// written `\xNN`, so two names differing only there stay two pieces of evidence.
pub fn path_text(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in path.as_os_str().as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned()
    }
}

fn walk(
    path: &Path,
    exclude: Option<&Path>,
    found: &mut Vec<EvidenceFile>,
    bad: &mut Vec<Unreadable>,
) {
    let display = path_text(path);
    if let (Some(ex), Ok(canon)) = (exclude, path.canonicalize())
        && canon.starts_with(ex)
    {
        return;
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            bad.push(Unreadable {
                path: display,
                reason: e.to_string(),
            });
            return;
        }
    };
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                bad.push(Unreadable {
                    path: display,
                    reason: e.to_string(),
                });
                return;
            }
        };
        entries.sort();
        for entry in entries {
            // Do not follow directory symlinks: a link loop must not hang an ingest.
            if entry.is_symlink() && entry.is_dir() {
                continue;
            }
            walk(&entry, exclude, found, bad);
        }
        return;
    }
    if !meta.is_file() {
        // Reading a FIFO or a device could block or never end; said, not silently skipped.
        bad.push(Unreadable {
            path: display,
            reason: "not a regular file (a FIFO, device or socket): copy it to a file to ingest it"
                .into(),
        });
        return;
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let mut magic = [0u8; 4];
    // A file that cannot be read is listed as unreadable with why, not as unrecognised.
    let magic_len = match File::open(path).and_then(|mut f| read_up_to(&mut f, &mut magic)) {
        Ok(n) => n,
        Err(e) => {
            bad.push(Unreadable {
                path: display,
                reason: e.to_string(),
            });
            return;
        }
    };
    if magic_len == 4 && magic == ZIP_MAGIC {
        match zip_members(path, &display) {
            Ok((members, duplicates)) => {
                found.extend(members);
                if duplicates {
                    // The zip crate keeps one member per name: the others cannot be read from
                    // it, and must not vanish in silence.
                    bad.push(Unreadable {
                        path: display,
                        reason: "zip archive: members share a name, and only the last of each is read; unpack it keeping every member (unzip asks to rename) and give the files".into(),
                    });
                }
            }
            Err(e) => bad.push(Unreadable {
                path: display,
                reason: format!("zip archive: {e}"),
            }),
        }
        return;
    }
    found.push(EvidenceFile {
        path: display,
        location: Location::File(path.to_path_buf()),
        size: meta.len(),
        mtime,
    });
}

/// An archive's file shared by every reader of its members, each with a cursor of its own
/// (positioned reads): cloning the parsed archive is then cheap.
#[derive(Debug, Clone)]
struct SharedFile {
    file: std::sync::Arc<File>,
    pos: u64,
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for SharedFile {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let end = || self.file.metadata().map(|m| m.len());
        let pos = match to {
            io::SeekFrom::Start(p) => Some(p),
            io::SeekFrom::End(d) => end()?.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos =
            pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"))?;
        Ok(self.pos)
    }
}

/// Archives whose central directory has been read, by path: reading it again for each member
/// made an archive's ingest grow with the square of its members (8,000 members: 113 s).
type ZipCache = std::sync::Mutex<Vec<(PathBuf, zip::ZipArchive<SharedFile>)>>;

fn open_zip(path: &Path) -> io::Result<zip::ZipArchive<SharedFile>> {
    static CACHE: std::sync::OnceLock<ZipCache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(cached) = cache.lock()
        && let Some((_, archive)) = cached.iter().find(|(p, _)| p == path)
    {
        return Ok(archive.clone());
    }
    let file = SharedFile {
        file: std::sync::Arc::new(File::open(path)?),
        pos: 0,
    };
    let archive = zip::ZipArchive::new(file).map_err(io::Error::other)?;
    if let Ok(mut cached) = cache.lock() {
        // A few archives at a time: an ingest reads one archive's members together.
        if cached.len() >= 4 {
            cached.remove(0);
        }
        cached.push((path.to_path_buf(), archive.clone()));
    }
    Ok(archive)
}

/// The members of a zip archive, and whether some share a name (then only the last of each is
/// listed).
fn zip_members(
    archive_path: &Path,
    display: &str,
) -> zip::result::ZipResult<(Vec<EvidenceFile>, bool)> {
    let mut archive = open_zip(archive_path)?;
    let duplicates = archive.has_duplicate_names();
    let mut members = Vec::new();
    for index in 0..archive.len() {
        let member = archive.by_index_raw(index)?;
        if !member.is_file() {
            continue;
        }
        let mtime = member
            .last_modified()
            .and_then(|dt| {
                chrono::NaiveDate::from_ymd_opt(
                    i32::from(dt.year()),
                    u32::from(dt.month()),
                    u32::from(dt.day()),
                )?
                .and_hms_opt(
                    u32::from(dt.hour()),
                    u32::from(dt.minute()),
                    u32::from(dt.second()),
                )
            })
            .map_or(0, |dt| dt.and_utc().timestamp() * 1_000_000_000);
        members.push(EvidenceFile {
            path: format!("{display}/{}", member.name()?),
            location: Location::ZipMember {
                archive: archive_path.to_path_buf(),
                index,
            },
            size: member.size(),
            mtime,
        });
    }
    Ok((members, duplicates))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What a parser that seeks reads (EVTX).
pub trait ReadSeek: Read + io::Seek {}
impl<T: Read + io::Seek> ReadSeek for T {}

/// Compressed or archived evidence read by a seeking parser is held in memory whole; past this,
/// the responder is asked to unpack it.
pub const MAX_IN_MEMORY: u64 = 2 << 30;

/// How much of a file [`EvidenceFile::head_sha256`] hashes: little enough that a log collected
/// while it had a line or two is still recognised when collected again grown, enough that
/// logs from different days or servers rarely share it (sharing costs one more hash).
pub const HEAD_BYTES: u64 = 512;

impl EvidenceFile {
    /// Runs `f` over the evidence for a parser that seeks: a plain file as it is, a gzip file or
    /// a zip member decompressed into memory (up to [`MAX_IN_MEMORY`]).
    pub fn with_seekable<T>(
        &self,
        f: impl FnOnce(Box<dyn ReadSeek + '_>) -> io::Result<T>,
    ) -> io::Result<T> {
        if let Location::File(path) = &self.location {
            let mut file = File::open(path)?;
            let mut magic = [0u8; 2];
            let n = read_up_to(&mut file, &mut magic)?;
            io::Seek::rewind(&mut file)?;
            if n < 2 || magic != GZIP_MAGIC {
                return f(Box::new(file));
            }
        }
        let bytes = self.with_raw(|raw| {
            let mut raw = BufReader::new(raw);
            let gz = raw.fill_buf()?.starts_with(&GZIP_MAGIC);
            let mut out = Vec::new();
            if gz {
                flate2::bufread::MultiGzDecoder::new(raw)
                    .take(MAX_IN_MEMORY + 1)
                    .read_to_end(&mut out)?;
            } else {
                raw.take(MAX_IN_MEMORY + 1).read_to_end(&mut out)?;
            }
            Ok(out)
        })?;
        if bytes.len() as u64 > MAX_IN_MEMORY {
            return Err(io::Error::other(format!(
                "compressed or archived, and over {} GiB: unpack it to ingest it",
                MAX_IN_MEMORY >> 30
            )));
        }
        f(Box::new(io::Cursor::new(bytes)))
    }

    /// Runs `f` over the raw bytes of the evidence (file bytes, or a zip member's content).
    pub fn with_raw<T>(&self, f: impl FnOnce(&mut dyn Read) -> io::Result<T>) -> io::Result<T> {
        match &self.location {
            Location::File(path) => {
                let mut file = File::open(path)?;
                f(&mut file)
            }
            Location::ZipMember { archive, index } => {
                let mut archive = open_zip(archive)?;
                let mut member = archive.by_index(*index).map_err(io::Error::other)?;
                f(&mut member)
            }
        }
    }

    /// A plain file whose bytes are its text (not compressed, not UTF-16): its lines can be
    /// cut and resumed by byte offset. Opened for reading when so.
    fn plain_text(&self) -> io::Result<Option<File>> {
        let Location::File(path) = &self.location else {
            return Ok(None);
        };
        let mut file = File::open(path)?;
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head)?;
        let head = &head[..n];
        let plain = !(head.starts_with(&GZIP_MAGIC)
            || head.starts_with(&ZIP_MAGIC)
            || head.starts_with(&[0xff, 0xfe])
            || head.starts_with(&[0xfe, 0xff]));
        Ok(plain.then_some(file))
    }

    /// Runs `f` on a plain text file's bytes (not compressed, not UTF-16) from `offset` on;
    /// None when the file is not one.
    pub fn with_plain_from<T>(
        &self,
        offset: u64,
        f: impl FnOnce(&mut dyn Read) -> io::Result<T>,
    ) -> io::Result<Option<T>> {
        use std::io::{Seek, SeekFrom};
        let Some(mut file) = self.plain_text()? else {
            return Ok(None);
        };
        file.seek(SeekFrom::Start(offset))?;
        f(&mut file).map(Some)
    }

    /// SHA-256 of the (up to) 4 KiB of a plain text file before `end` (see
    /// `case::ResumePoint`); None when it is not one.
    pub fn tail_sha256(&self, end: u64) -> io::Result<Option<String>> {
        use std::io::{Seek, SeekFrom};
        let Some(mut file) = self.plain_text()? else {
            return Ok(None);
        };
        let from = end.saturating_sub(4096);
        file.seek(SeekFrom::Start(from))?;
        let mut buf = vec![0u8; (end - from) as usize];
        if read_up_to(&mut file, &mut buf)? != buf.len() {
            return Ok(None);
        }
        Ok(Some(hex(&Sha256::digest(&buf))))
    }

    /// For a plain text file (not compressed, not UTF-16) whose last line has no line ending
    /// yet, the length up to its last line ending; None when it ends with one, or where
    /// lines cannot be cut by bytes. A file of one unfinished line is held back whole (0).
    pub fn complete_lines_len(&self) -> io::Result<Option<u64>> {
        use std::io::{Seek, SeekFrom};
        const TAIL: u64 = 64 << 10;
        let Some(mut file) = self.plain_text()? else {
            return Ok(None);
        };
        if self.size == 0 {
            return Ok(None);
        }
        let from = self.size.saturating_sub(TAIL);
        file.seek(SeekFrom::Start(from))?;
        let mut tail = vec![0u8; (self.size - from) as usize];
        let n = read_up_to(&mut file, &mut tail)?;
        tail.truncate(n);
        if n as u64 != self.size - from || tail.last() == Some(&b'\n') {
            // Changed under us, or complete: read as it is.
            return Ok(None);
        }
        Ok(match memchr::memrchr(b'\n', &tail) {
            Some(i) => Some(from + i as u64 + 1),
            None if from == 0 => Some(0),
            // One line longer than the tail: not a line being written; read it as it is.
            None => None,
        })
    }

    /// Reads up to `limit` bytes of decoded text from the start, for format recognition.
    pub fn head(&self, limit: usize) -> io::Result<String> {
        self.with_raw(|raw| {
            let mut text = decoded(raw)?;
            let mut buf = vec![0u8; limit];
            let n = read_up_to(&mut text, &mut buf)?;
            buf.truncate(n);
            Ok(String::from_utf8_lossy(&buf).into_owned())
        })
    }

    /// SHA-256 of the first [`HEAD_BYTES`] raw bytes (or the whole file when it is shorter):
    /// the cheap half of recognising content already ingested under another path.
    pub fn head_sha256(&self) -> io::Result<String> {
        self.prefix_sha256(self.size.min(HEAD_BYTES))
    }

    /// SHA-256 of the first `n` raw bytes for each `n` of `sizes` (ascending), in one read:
    /// `None` for sizes past the end.
    pub fn prefix_sha256s(&self, sizes: &[u64]) -> io::Result<Vec<Option<String>>> {
        self.with_raw(|raw| {
            let mut hasher = Sha256::new();
            let mut read = 0u64;
            let mut out = Vec::with_capacity(sizes.len());
            for &size in sizes {
                let want = size.saturating_sub(read);
                let copied = io::copy(&mut (&mut *raw).take(want), &mut HashWriter(&mut hasher))?;
                read += copied;
                out.push((copied == want).then(|| hex(&hasher.clone().finalize())));
            }
            Ok(out)
        })
    }

    /// SHA-256 of the first `len` raw bytes, to check that a grown file kept its old content.
    pub fn prefix_sha256(&self, len: u64) -> io::Result<String> {
        self.with_raw(|raw| {
            let mut hasher = Sha256::new();
            let copied = io::copy(&mut raw.take(len), &mut HashWriter(&mut hasher))?;
            if copied < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file is shorter",
                ));
            }
            Ok(hex(&hasher.finalize()))
        })
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The bytes of [`hex`] text; None when it is not.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Hashes and counts the raw bytes flowing through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    counter: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            counter: None,
        }
    }

    /// Also adds every byte read to a shared counter (for progress reporting).
    pub fn counting(mut self, counter: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.counter = Some(counter);
        self
    }

    /// Continues a hash where [`Self::state`] left it, `bytes` into the content.
    pub fn resumed(inner: R, state: &str, bytes: u64) -> Option<Self> {
        use sha2::digest::common::hazmat::{SerializableState, SerializedState};
        let raw = unhex(state)?;
        let serialized = SerializedState::<Sha256>::try_from(raw.as_slice()).ok()?;
        Some(HashingReader {
            inner,
            hasher: Sha256::deserialize(&serialized).ok()?,
            bytes,
            counter: None,
        })
    }

    /// The hash's state so far (hex), to continue it later on the same content grown.
    pub fn state(&self) -> String {
        use sha2::digest::common::hazmat::SerializableState;
        hex(self.hasher.serialize().as_slice())
    }

    /// Bytes read so far and their SHA-256.
    pub fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hasher.finalize()))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Wraps raw bytes into decompressed, UTF-8 text bytes.
pub fn decoded<'a>(raw: &'a mut dyn Read) -> io::Result<Box<dyn Read + 'a>> {
    let mut raw = BufReader::with_capacity(1 << 16, raw);
    let head = raw.fill_buf()?;
    let decompressed: Box<dyn BufRead + 'a> = if head.starts_with(&GZIP_MAGIC) {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    Utf8Reader::wrap(decompressed)
}

/// Drops a UTF-8 BOM and transcodes UTF-16 (with a BOM) to UTF-8.
struct Utf8Reader<'a> {
    inner: Box<dyn BufRead + 'a>,
    decoder: Option<encoding_rs::Decoder>,
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
}

impl<'a> Utf8Reader<'a> {
    fn wrap(mut inner: Box<dyn BufRead + 'a>) -> io::Result<Box<dyn Read + 'a>> {
        let head = inner.fill_buf()?;
        let (bom_len, encoding) = match head {
            [0xEF, 0xBB, 0xBF, ..] => (3, None),
            [0xFF, 0xFE, ..] => (2, Some(encoding_rs::UTF_16LE)),
            [0xFE, 0xFF, ..] => (2, Some(encoding_rs::UTF_16BE)),
            _ => (0, None),
        };
        inner.consume(bom_len);
        match encoding {
            None => Ok(inner),
            Some(enc) => Ok(Box::new(Utf8Reader {
                inner,
                decoder: Some(enc.new_decoder_without_bom_handling()),
                out: Vec::with_capacity(1 << 16),
                out_pos: 0,
                eof: false,
            })),
        }
    }
}

impl Read for Utf8Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() && !self.eof {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let input = self.inner.fill_buf()?;
            let last = input.is_empty();
            let mut out = std::mem::take(&mut self.out);
            out.clear();
            out.resize(input.len() * 3 / 2 + 16, 0);
            let (_, read, written, _) = decoder.decode_to_utf8(input, &mut out, last);
            out.truncate(written);
            self.out = out;
            self.out_pos = 0;
            self.inner.consume(read);
            self.eof = last;
        }
        let n = (self.out.len() - self.out_pos).min(buf.len());
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// Records longer than this many lines (or [`MAX_LINE`] bytes) end at the next newline even
/// inside quotes: a stray quote must not swallow the rest of a file. An exported event's message
/// can hold a whole PowerShell script block, thousands of lines: at 256, the rest of a long
/// one was read as rows of its own, which an attacker could write to look like events. Reading
/// ahead costs each line at most twice: when a record does not close, its lines are each
/// closed alone (the quotes' parity), so none reads ahead again.
const MAX_RECORD_LINES: usize = 100_000;

/// A line longer than this is cut there, the rest read past, and the record is malformed (as
/// a document past [`formats::documents::MAX_DOCUMENT`] is).
const MAX_LINE: usize = formats::documents::MAX_DOCUMENT;

/// Splits decoded text into records with their first line number (1-based).
pub struct Records<R> {
    reader: BufReader<R>,
    quoted: bool,
    /// Cuts documents, for [`Framing::Documents`].
    splitter: Option<formats::documents::Splitter>,
    /// Why the last document is malformed whatever its content.
    cut: Option<formats::documents::Cut>,
    /// Whether the last record is a document (not text between documents), and the line it
    /// ends on.
    document: bool,
    document_end: u64,
    /// The splitter has been told the file ended.
    finished: bool,
    /// The file ended inside a document.
    ended_inside: bool,
    /// A line of the record being read was cut at [`MAX_LINE`].
    line_cut: bool,
    next_line: u64,
    /// Lines read ahead while looking for the end of an unbalanced record.
    pending: std::collections::VecDeque<Vec<u8>>,
    last_had_newline: bool,
}

impl<R: Read> Records<R> {
    pub fn new(inner: R, framing: Framing) -> Self {
        Self::after(inner, framing, 0)
    }

    /// Records of a file read from after its first `lines` lines (a log followed as it grows).
    pub fn after(inner: R, framing: Framing, lines: u64) -> Self {
        Records {
            reader: BufReader::with_capacity(1 << 20, inner),
            quoted: framing == Framing::QuotedLines,
            splitter: match framing {
                Framing::Documents(syntax) => Some(formats::documents::Splitter::new(syntax)),
                _ => None,
            },
            cut: None,
            document: false,
            document_end: 0,
            finished: false,
            ended_inside: false,
            line_cut: false,
            next_line: lines + 1,
            pending: std::collections::VecDeque::new(),
            last_had_newline: true,
        }
    }

    /// Whether the last line read ended with a line feed (false for a cut final line, or a file
    /// that ends inside a document: grown, it is read again whole, its last record complete).
    pub fn ended_with_newline(&self) -> bool {
        self.last_had_newline && !self.ended_inside
    }

    fn physical_line(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        if let Some(line) = self.pending.pop_front() {
            self.last_had_newline = line.last() == Some(&b'\n');
            *buf = line;
            return Ok(true);
        }
        buf.clear();
        // As `read_until`, but a line past `MAX_LINE` is cut there and the rest read past: a
        // file without line ends is not read into memory whole.
        let mut any = false;
        loop {
            let piece = self.reader.fill_buf()?;
            if piece.is_empty() {
                break;
            }
            any = true;
            let (len, ends) = line_piece(piece);
            let room = MAX_LINE.saturating_sub(buf.len());
            if len > room {
                self.line_cut = true;
            }
            buf.extend_from_slice(&piece[..len.min(room)]);
            self.reader.consume(len);
            self.last_had_newline = ends;
            if ends {
                break;
            }
        }
        Ok(any)
    }

    /// Why the last record read is malformed whatever its content (a document cut short).
    pub fn cut(&self) -> Option<formats::documents::Cut> {
        self.cut
    }

    /// Whether the last record read is a document rather than text between documents.
    pub fn is_document(&self) -> bool {
        self.document
    }

    /// Whether the next document starts on the line the last one read ends on (Event Viewer
    /// puts every event on one line; a value's line end leaves the next on that line): reads on
    /// until one does, or that line is over.
    pub fn next_shares_line(&mut self) -> io::Result<bool> {
        let end = self.document_end;
        loop {
            let Some(splitter) = self.splitter.as_ref() else {
                return Ok(false);
            };
            if splitter.document_on(end) || splitter.open_document_on(end) {
                return Ok(true);
            }
            if self.finished || self.next_line > end {
                return Ok(false);
            }
            self.read_piece()?;
        }
    }

    /// The next document, or text between documents, once the splitter has cut one.
    fn next_document(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<(u64, u64)>> {
        loop {
            if let Some(seg) = self.splitter.as_mut().and_then(|s| s.pop()) {
                self.cut = seg.cut;
                self.document = seg.document;
                self.document_end = seg.line + seg.span - 1;
                *buf = seg.bytes;
                return Ok(Some((seg.line, seg.span)));
            }
            if self.finished {
                return Ok(None);
            }
            self.read_piece()?;
        }
    }

    /// Feeds the splitter the next piece of a line, as the reader's buffer holds it (memory
    /// does not follow the length of a line), or tells it the file ended.
    fn read_piece(&mut self) -> io::Result<()> {
        let Records {
            reader, splitter, ..
        } = self;
        let Some(splitter) = splitter.as_mut() else {
            self.finished = true;
            return Ok(());
        };
        let piece = reader.fill_buf()?;
        if piece.is_empty() {
            if !self.last_had_newline {
                // A last line without its line end.
                splitter.push(b"", self.next_line, true);
                self.next_line += 1;
            }
            self.ended_inside = splitter.finish(self.next_line - 1);
            self.finished = true;
            return Ok(());
        }
        let (len, ends_line) = line_piece(piece);
        splitter.push(&piece[..len], self.next_line, ends_line);
        reader.consume(len);
        self.last_had_newline = ends_line;
        if ends_line {
            self.next_line += 1;
        }
        Ok(())
    }

    /// Reads the next record into `buf` (without its final line ending); returns its first
    /// line number and how many lines it spans, or None at the end.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<(u64, u64)>> {
        if self.splitter.is_some() {
            return self.next_document(buf);
        }
        self.line_cut = false;
        if !self.physical_line(buf)? {
            return Ok(None);
        }
        let first = self.next_line;
        let mut lines = 1u64;
        if self.quoted && !crate::formats::csv::quotes_balanced(buf) {
            let mut extra: Vec<Vec<u8>> = Vec::new();
            let mut joined = buf.clone();
            let mut balanced = false;
            while extra.len() < MAX_RECORD_LINES {
                let mut more = Vec::new();
                if !self.physical_line(&mut more)? {
                    break;
                }
                joined.extend_from_slice(&more);
                // The quotes' parity, line by line (the whole record again each line would be
                // quadratic in its length).
                let odd = !crate::formats::csv::quotes_balanced(&more);
                extra.push(more);
                if joined.len() > MAX_LINE {
                    break;
                }
                if odd {
                    balanced = true;
                    break;
                }
            }
            if balanced {
                lines += extra.len() as u64;
                *buf = joined;
            } else {
                // Give the lines back: the first line stands alone (and will be reported).
                for line in extra.into_iter().rev() {
                    self.pending.push_front(line);
                }
            }
        }
        self.next_line += lines;
        self.cut = self.line_cut.then_some(formats::documents::Cut::TooLong);
        if self.line_cut {
            // Only its start is shown; the rest would only cost memory.
            buf.truncate(256);
        }
        trim_line_end(buf);
        Ok(Some((first, lines)))
    }
}

/// How much of a buffer belongs to the line being read: up to and with its line end (true), or
/// all of it (the line goes on).
fn line_piece(piece: &[u8]) -> (usize, bool) {
    match memchr::memchr(b'\n', piece) {
        Some(i) => (i + 1, true),
        None => (piece.len(), false),
    }
}

fn trim_line_end(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn records(text: &[u8], quoted: bool) -> Vec<(u64, String)> {
        let framing = if quoted {
            Framing::QuotedLines
        } else {
            Framing::Lines
        };
        let mut r = Records::new(text, framing);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some((line, _)) = r.next_record(&mut buf).expect("read") {
            out.push((line, String::from_utf8_lossy(&buf).into_owned()));
        }
        out
    }

    #[test]
    fn lines_with_crlf_and_no_final_newline() {
        assert_eq!(
            records(b"a\r\nb\n\nc", false),
            vec![
                (1, "a".into()),
                (2, "b".into()),
                (3, "".into()),
                (4, "c".into())
            ]
        );
    }

    #[test]
    fn quoted_newlines_join_lines() {
        let got = records(b"h1,h2\r\n\"x\r\ny\",z\r\nlast,1\r\n", true);
        assert_eq!(
            got,
            vec![
                (1, "h1,h2".into()),
                (2, "\"x\r\ny\",z".into()),
                (4, "last,1".into())
            ]
        );
    }

    #[test]
    fn a_stray_quote_does_not_swallow_the_file() {
        let mut text = b"\"broken,1\n".to_vec();
        for i in 0..300 {
            text.extend_from_slice(format!("row{i},2\n").as_bytes());
        }
        let got = records(&text, true);
        assert_eq!(got.len(), 301);
        assert_eq!(got[1], (2, "row0,2".into()));
    }

    fn decode_all(bytes: &[u8]) -> String {
        let mut raw: &[u8] = bytes;
        let mut r = decoded(&mut raw).expect("decoder");
        let mut s = String::new();
        r.read_to_string(&mut s).expect("utf8");
        s
    }

    #[test]
    fn boms_and_utf16() {
        assert_eq!(decode_all(b"\xEF\xBB\xBFabc"), "abc");
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("héllo\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_all(&utf16), "héllo\r\n");
        assert_eq!(decode_all(b""), "");
    }

    /// A zip of stored members, written by hand: the zip crate's writer refuses two members
    /// of one name, which other tools write.
    fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let (mut out, mut central) = (Vec::new(), Vec::new());
        for (name, data) in members {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let (offset, size) = (out.len() as u32, data.len() as u32);
            let fixed = |sig: u32, central: bool| {
                let mut h = sig.to_le_bytes().to_vec();
                if central {
                    h.extend(20u16.to_le_bytes());
                }
                h.extend(20u16.to_le_bytes()); // version needed
                h.extend([0u8; 4]); // flags, method: stored
                h.extend([0u8; 4]); // time, date
                h.extend(crc.sum().to_le_bytes());
                h.extend(size.to_le_bytes());
                h.extend(size.to_le_bytes());
                h.extend((name.len() as u16).to_le_bytes());
                h.extend([0u8; 2]); // extra length
                if central {
                    h.extend([0u8; 10]); // comment length, disk, attributes
                    h.extend(offset.to_le_bytes());
                }
                h.extend(name.as_bytes());
                h
            };
            out.extend(fixed(0x0403_4b50, false));
            out.extend(*data);
            central.extend(fixed(0x0201_4b50, true));
        }
        let (start, len, n) = (out.len() as u32, central.len() as u32, members.len() as u16);
        out.extend(central);
        out.extend(0x0605_4b50u32.to_le_bytes());
        out.extend([0u8; 4]);
        out.extend(n.to_le_bytes());
        out.extend(n.to_le_bytes());
        out.extend(len.to_le_bytes());
        out.extend(start.to_le_bytes());
        out.extend([0u8; 2]);
        out
    }

    #[test]
    fn zip_members_sharing_a_name_are_said_to_be_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = dir.path().join("one.zip");
        std::fs::write(&one, stored_zip(&[("a.log", b"x\n"), ("b.log", b"y\n")])).expect("write");
        let (found, bad) = discover(&[one], None);
        assert_eq!((found.len(), bad.len()), (2, 0), "{bad:?}");
        let two = dir.path().join("two.zip");
        std::fs::write(&two, stored_zip(&[("a.log", b"x\n"), ("a.log", b"y\n")])).expect("write");
        let (found, bad) = discover(&[two], None);
        assert_eq!(found.len(), 1);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].reason.contains("share a name"), "{}", bad[0].reason);
    }

    #[test]
    fn gzip_is_decompressed() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"\xEF\xBB\xBFline1\nline2\n").expect("write");
        let bytes = gz.finish().expect("finish");
        assert_eq!(decode_all(&bytes), "line1\nline2\n");
    }

    #[test]
    fn hashing_reader_matches_sha256() {
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).expect("read");
        let (n, h) = r.finish();
        assert_eq!(n, 3);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
