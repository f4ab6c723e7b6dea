//! The library's error type. The binary prints it as one line and exits non-zero.

use std::path::PathBuf;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("index: {0}{hint}", hint = index_hint(.0))]
    Index(#[from] tantivy::TantivyError),
    #[error("case {path}: {message}")]
    Case { path: PathBuf, message: String },
    #[error("query: {0}")]
    Query(#[from] QueryError),
    #[error("{0}")]
    Usage(String),
    /// A store other than the local case (ClickHouse) failed or refused a request.
    #[error("store {url}: {message}")]
    Store { url: String, message: String },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// What to do about an index error a responder can fix.
fn index_hint(e: &tantivy::TantivyError) -> &'static str {
    let text = e.to_string();
    if text.contains("No space left on device") || text.contains("os error 28") {
        " (the disk is full: free space and run the same ingest again; the case is as of its last commit, and nothing will be lost or doubled)"
    } else if text.contains("Footer magic byte mismatch")
        || text.contains("Failed to open file for read")
    {
        " (a file of the index is damaged or missing, as a copy cut short leaves it: run `trawl ingest` with the evidence again to drop the damaged part and read its files again)"
    } else if text.contains("was killed") || text.contains("panicked") {
        " (an indexing thread stopped, often for lack of disk space or memory: run the same ingest again; the case is as of its last commit)"
    } else {
        ""
    }
}

/// A query (or a rule's query) that could not be understood, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {column})")]
pub struct QueryError {
    pub message: String,
    /// 1-based character column in the query text.
    pub column: usize,
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error with its causes, `outer: inner: …` (the `evtx` and `regex-automata` crates say what
/// failed in the outer error and why in the inner ones).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
