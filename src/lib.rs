//! trawl: incident triage for Microsoft Exchange and IIS logs.
//!
//! Modules by layer; each uses only layers above it in this list (ARCHITECTURE.md, checked by
//! `tests/it/layers.rs`):
//! * model: [`error`], [`sanitize`] (text for people), [`sink`] (output that never clobbers),
//!   [`progress`], [`event`] (the
//!   normalised event, its key and field names), [`attribution`] (the client behind proxies);
//! * input and formats: [`formats`] (recognising and parsing every log format), [`input`]
//!   (opening evidence read-only: folders, `.gz`, `.zip`, encodings; framing records);
//! * index: [`schema`] (event to document), [`case`] (the case directory and its manifest),
//!   [`sets`] (events kept beside the index), [`view`] (one event for display), [`selection`]
//!   (time-ordered selections: rows, counts, histograms, top values), [`ingest`] (the
//!   parallel, resumable, exactly-once pipeline), [`live`] (ingest while the case is read, and
//!   logs followed as they grow);
//! * [`query`]: the query language, compiled for the index and evaluated on one event;
//! * [`store`]: where the case lives (the local index, or a ClickHouse database) behind one seam;
//! * detections: [`rules`] (rules as data, the built-in pack), [`hunt`] (running them, and what
//!   is inferred: verdicts, web shells, suspects, windows, proxies);
//! * case work: [`marks`], [`session`], [`source`] (a case wherever it is, with its marks,
//!   rule hits, views and session), [`export`], [`report`];
//! * front ends: [`tui`] (the interactive timeline), [`cli`] (commands and their output).

pub mod error;
pub mod progress;
pub mod sanitize;
pub mod sink;

pub mod attribution;
pub mod event;

pub mod formats;
pub mod input;

pub mod case;
pub mod ingest;
pub mod live;
pub mod schema;
pub mod selection;
pub mod sets;
pub mod view;

pub mod query;

pub mod store;

pub mod hunt;
pub mod rules;

pub mod export;
pub mod marks;
pub mod report;
pub mod session;
pub mod source;

pub mod cli;
pub mod tui;

pub use error::{Error, Result};
