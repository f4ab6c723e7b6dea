//! trawl's integration tests, one binary: the real `trawl` binary run on files (ingest, search,
//! hunt, exports), the timeline driven without a terminal (insta snapshots) and in tmux, the
//! parsers on the public corpus, and the layering of the source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod case;
mod corpus;
mod hunt;
mod ingest;
mod layers;
mod live;
mod sample_logs;
mod store;
mod tui;
mod tui_e2e;
mod verdicts;
