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
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("case {path}: {message}")]
    Case { path: PathBuf, message: String },
    #[error("query: {0}")]
    Query(#[from] QueryError),
    #[error("{0}")]
    Usage(String),
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
