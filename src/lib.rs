//! trawl: incident triage for Microsoft Exchange and IIS logs.
//!
//! The crate is organised by concern:
//! * [`formats`]: recognising and parsing every log format into an [`event::Event`];
//! * [`input`]: opening evidence read-only (folders, `.gz`, `.zip`, encodings) and framing it
//!   into records;
//! * [`schema`]: the tantivy schema, tokenizers and the mapping from events to documents;
//! * [`case`]: the case directory (index + manifest) and its manifest of ingested files;
//! * [`ingest`]: the parallel, resumable, exactly-once ingest pipeline;
//! * [`query`]: the query language over canonical field names;
//! * [`timeline`]: time-ordered hit lists, counts, histograms and top values over the index;
//! * [`rules`] and [`hunt`]: detection rules as data, their hits, and what is inferred from them
//!   (web shells, suspect addresses, incident windows);
//! * [`tui`]: the interactive timeline (app state, backend worker, drawing, keys);
//! * [`generate`]: the deterministic sample-case and benchmark corpus generator.

pub mod attribution;
pub mod bench;
pub mod case;
pub mod cli;
pub mod error;
pub mod event;
pub mod export;
pub mod formats;
pub mod generate;
pub mod hunt;
pub mod ingest;
pub mod input;
pub mod marks;
pub mod query;
pub mod report;
pub mod rules;
pub mod sanitize;
pub mod schema;
pub mod session;
pub mod timeline;
pub mod tui;
pub mod view;

pub use error::{Error, Result};
