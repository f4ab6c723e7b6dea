//! Where a command's output goes (`-o PATH`, `:export PATH`), without ever clobbering what
//! the path names:
//! * `-` is standard output;
//! * a FIFO, a character device (a terminal, `/dev/null`) or a socket is written through, as
//!   `cat > PATH` would; to a terminal, control characters are escaped;
//! * a path that does not exist, or a regular file the caller may replace (`--force`, `:w!`),
//!   is written under a temporary name beside it and renamed over it once complete and synced,
//!   so an interrupted or failed write never leaves a truncated file under the name asked for;
//! * an existing file is otherwise refused, and the case's directory and its evidence always
//!   are ([`Keep`]): one slip in a path must not destroy what the case rests on;
//! * anything else (a directory, a symlink, a block device) is refused: replacing it would
//!   destroy what it is.
//!
//! Every write error is an error, and [`Sink::finish`] must be called for the output to count.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sanitize::TerminalSafe;

/// An open output.
#[derive(Debug)]
pub struct Sink {
    out: BufWriter<Target>,
    /// For atomic writes: (the temporary file, the path it becomes).
    rename: Option<(PathBuf, PathBuf)>,
    name: PathBuf,
}

#[derive(Debug)]
enum Target {
    Stdout(io::Stdout),
    File(File),
    /// A terminal (standard output or a tty named as the path): control characters escaped.
    Terminal(Box<TerminalSafe<Target>>),
}

impl Target {
    /// Standard output or a stream, escaped when it is a terminal.
    fn guarded(self) -> Target {
        let terminal = match &self {
            Target::Stdout(s) => s.is_terminal(),
            Target::File(f) => f.is_terminal(),
            Target::Terminal(_) => false,
        };
        if terminal {
            Target::Terminal(Box::new(TerminalSafe::new(self)))
        } else {
            self
        }
    }
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Stdout(s) => s.write(buf),
            Target::File(f) => f.write(buf),
            Target::Terminal(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Stdout(s) => s.flush(),
            Target::File(f) => f.flush(),
            Target::Terminal(t) => t.flush(),
        }
    }
}

/// What an output must leave alone.
#[derive(Debug, Default, Clone)]
pub struct Keep {
    /// Whether an existing regular file may be replaced.
    replace: bool,
    /// Folders and files never written (canonical paths): the case's, its evidence.
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Keep {
    /// Existing files kept unless `replace`.
    pub fn new(replace: bool) -> Keep {
        Keep {
            replace,
            ..Keep::default()
        }
    }

    /// Also never writes under `dir` (the case's directory).
    pub fn dir(mut self, dir: &Path) -> Keep {
        if let Ok(d) = dir.canonicalize() {
            self.dirs.push(d);
        }
        self
    }

    /// Also never writes these files (the evidence, as the manifest names it).
    pub fn files<'a>(mut self, paths: impl IntoIterator<Item = &'a str>) -> Keep {
        self.files.extend(
            paths
                .into_iter()
                .filter_map(|p| Path::new(p).canonicalize().ok()),
        );
        self
    }

    /// Refuses a path this keeps.
    fn check(&self, path: &Path, exists: bool) -> Result<()> {
        let refuse = |why: &str| {
            Err(Error::Usage(format!(
                "{}: {why}; give another path",
                path.display()
            )))
        };
        let resolved = resolve(path);
        if let Some(r) = &resolved {
            if self.dirs.iter().any(|d| r.starts_with(d)) {
                return refuse("inside the case's directory, which only trawl's ingest writes");
            }
            if self.files.iter().any(|f| f == r) {
                return refuse("evidence of the case, which trawl never changes");
            }
        }
        if exists && !self.replace {
            return refuse(
                "exists, and is replaced only when asked (--force, or :w! in the timeline)",
            );
        }
        Ok(())
    }
}

/// The path a write to `path` would create or replace, through symbolic links in its folders.
fn resolve(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// Whether the path is `-`, standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

impl Sink {
    /// Opens `path` for writing as the module says, leaving alone what `keep` keeps.
    pub fn open(path: &Path, keep: &Keep) -> Result<Sink> {
        if is_stdout(path) {
            return Ok(Sink {
                out: BufWriter::new(Target::Stdout(io::stdout()).guarded()),
                rename: None,
                name: PathBuf::from("<stdout>"),
            });
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) => {
                let kind = meta.file_type();
                if kind.is_file() {
                    keep.check(path, true)?;
                    return Self::atomic(path);
                }
                if is_stream(&kind) {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| Error::io(path, e))?;
                    return Ok(Sink {
                        out: BufWriter::new(Target::File(file).guarded()),
                        rename: None,
                        name: path.to_path_buf(),
                    });
                }
                let what = if kind.is_dir() {
                    "a directory"
                } else if kind.is_symlink() {
                    "a symbolic link"
                } else {
                    "not a regular file, a FIFO or a character device"
                };
                Err(Error::Usage(format!(
                    "{}: {what}, which trawl will not replace; give another path",
                    path.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                keep.check(path, false)?;
                Self::atomic(path)
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn atomic(path: &Path) -> Result<Sink> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".partial-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            // Said about the file the user named: the temporary name is trawl's business.
            .map_err(|e| Error::io(path, e))?;
        Ok(Sink {
            out: BufWriter::new(Target::File(file)),
            rename: Some((tmp, path.to_path_buf())),
            name: path.to_path_buf(),
        })
    }

    /// Flushes, syncs and, for a regular file, renames it into place.
    pub fn finish(mut self) -> Result<()> {
        let name = self.name.clone();
        self.out.flush().map_err(|e| Error::io(&name, e))?;
        let rename = self.rename.take();
        let out = std::mem::replace(&mut self.out, BufWriter::new(Target::Stdout(io::stdout())));
        let target = out
            .into_inner()
            .map_err(|e| Error::io(&name, e.into_error()))?;
        if let (Target::File(file), Some((tmp, path))) = (target, rename) {
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                // Makes the rename itself durable; some file systems cannot sync a directory.
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
        }
        Ok(())
    }

    /// The name to report errors against.
    pub fn name(&self) -> &Path {
        &self.name
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for Sink {
    /// An unfinished atomic write leaves nothing behind.
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.rename.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(unix)]
fn is_stream(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo() || kind.is_char_device() || kind.is_socket()
}

#[cfg(not(unix))]
fn is_stream(_: &std::fs::FileType) -> bool {
    false
}

/// Writes `bytes` to `path` as [`Sink`] does.
pub fn write(path: &Path, bytes: &[u8], keep: &Keep) -> Result<()> {
    let mut sink = Sink::open(path, keep)?;
    sink.write_all(bytes).map_err(|e| Error::io(path, e))?;
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_replaced_whole_and_only_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("out.csv");
        let replace = Keep::new(true);
        write(&p, b"one", &Keep::new(false)).expect("new");
        let kept = write(&p, b"two", &Keep::new(false)).expect_err("exists");
        assert!(kept.to_string().contains("--force"), "{kept}");
        assert_eq!(std::fs::read(&p).expect("read"), b"one");
        write(&p, b"two", &replace).expect("replace");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        // Not finished: nothing left, the old content stays.
        let mut s = Sink::open(&p, &replace).expect("open");
        s.write_all(b"half").expect("write");
        drop(s);
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_directories_are_refused_and_devices_written_through() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("precious");
        std::fs::write(&target, b"keep").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let replace = Keep::new(true);
        assert!(write(&link, b"x", &replace).is_err());
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&target).expect("read"), b"keep");
        assert!(write(dir.path(), b"x", &replace).is_err());
        write(Path::new("/dev/null"), b"gone", &Keep::new(false))
            .expect("a device is written through");
        assert!(
            std::fs::metadata("/dev/null")
                .expect("meta")
                .file_type()
                .is_char_device()
        );
    }

    #[cfg(unix)]
    #[test]
    fn write_errors_are_errors() {
        // /dev/full takes the open and fails every write.
        if Path::new("/dev/full").exists() {
            assert!(
                write(
                    Path::new("/dev/full"),
                    &vec![b'x'; 1 << 20],
                    &Keep::new(true)
                )
                .is_err()
            );
        }
    }

    #[test]
    fn the_case_and_its_evidence_are_never_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let case = dir.path().join("case");
        std::fs::create_dir_all(&case).expect("case");
        let evidence = dir.path().join("u_ex210305.log");
        std::fs::write(&evidence, b"evidence").expect("write");
        let keep = Keep::new(true)
            .dir(&case)
            .files([evidence.to_str().expect("utf-8")]);
        let e = write(&evidence, b"x", &keep).expect_err("evidence");
        assert!(e.to_string().contains("evidence"), "{e}");
        assert_eq!(std::fs::read(&evidence).expect("read"), b"evidence");
        // Another spelling of the same paths is the same paths.
        let again = dir.path().join("case/../u_ex210305.log");
        assert!(write(&again, b"x", &keep).is_err());
        let e = write(&case.join("marks.json"), b"x", &keep).expect_err("case");
        assert!(e.to_string().contains("case's directory"), "{e}");
        assert!(!case.join("marks.json").exists());
        write(&dir.path().join("out.csv"), b"x", &keep).expect("elsewhere");
    }
}
