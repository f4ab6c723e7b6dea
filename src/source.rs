//! A case wherever it is (a local directory, or a ClickHouse store), with what is kept with it:
//! marks, rule hits, saved views, the session. The commands and the timeline work on a `Source`;
//! its queries go through the store seam ([`crate::store`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::case::{Case, Manifest};
use crate::error::Result;
use crate::hunt::Detections;
use crate::marks::{Annotations, Marks};
use crate::query::Vocabulary;
use crate::rules::Rule;
use crate::session::{Session, View};
use crate::store::Store;
use crate::store::clickhouse::{ClickHouse, Spec};

/// Where a case is, and what is kept with it.
pub enum Source {
    /// A local case, with the reader the timeline keeps.
    Local {
        case: Box<Case>,
        reader: tantivy::IndexReader,
        /// The case's manifest, shared with the selections.
        manifest: Arc<Manifest>,
    },
    /// A case in a ClickHouse store (opened again when its commits change).
    Store {
        store: ClickHouse,
        spec: Spec,
        name: String,
    },
}

impl Source {
    pub fn local(case: Case) -> Result<Source> {
        let reader = case.reader()?;
        let manifest = Arc::new(case.manifest.clone());
        Ok(Source::Local {
            case: Box::new(case),
            reader,
            manifest,
        })
    }

    pub fn store(spec: &Spec, name: &str) -> Result<Source> {
        Ok(Source::Store {
            store: ClickHouse::open(spec, name)?,
            spec: spec.clone(),
            name: name.to_string(),
        })
    }

    /// Opens the same case again (a worker of its own).
    pub fn reopen(&self) -> Result<Source> {
        match self {
            Source::Local { case, .. } => Source::local(Case::open(&case.dir)?),
            Source::Store { spec, name, .. } => Source::store(spec, name),
        }
    }

    pub fn manifest(&self) -> &Manifest {
        match self {
            Source::Local { manifest, .. } => manifest,
            Source::Store { store, .. } => store.manifest(),
        }
    }

    /// Runs `f` on the case as a [`Store`].
    pub fn with<R>(&self, f: impl FnOnce(&dyn Store) -> R) -> R {
        match self {
            Source::Local {
                case,
                reader,
                manifest,
            } => f(&crate::store::local::LocalStore::from_parts(
                case,
                reader.searcher(),
                Arc::clone(manifest),
            )),
            Source::Store { store, .. } => f(store),
        }
    }

    /// What changes when a commit lands.
    pub fn stamp(&self) -> Result<Option<(std::time::SystemTime, u64)>> {
        Ok(match self {
            Source::Local { case, .. } => case.commit_stamp(),
            Source::Store { store, .. } => Some((std::time::UNIX_EPOCH, store.commit_count()?)),
        })
    }

    /// Reads the last commit.
    pub fn reload(&mut self) -> Result<()> {
        match self {
            Source::Local {
                case,
                reader,
                manifest,
            } => {
                if !case.read_only {
                    reader.reload()?;
                    case.reload()?;
                    *manifest = Arc::new(case.manifest.clone());
                }
            }
            Source::Store { store, spec, name } => *store = ClickHouse::open(spec, name)?,
        }
        Ok(())
    }

    /// Events in the whole case.
    pub fn all(&self) -> Result<u64> {
        Ok(match self {
            Source::Local { reader, .. } => reader.searcher().num_docs(),
            Source::Store { store, .. } => store.select("*", &store.vocabulary())??.len(),
        })
    }

    /// The marks: the case's file, or the store's journal.
    pub fn marks(&self) -> Result<Marks> {
        match self {
            Source::Local { case, .. } => Marks::load(case),
            Source::Store { store, .. } => Marks::journaled(Arc::new(store.clone())),
        }
    }

    /// The stored detections.
    pub fn detections(&self) -> Option<crate::hunt::Detections> {
        match self {
            Source::Local { case, .. } => crate::hunt::load_stored(case),
            Source::Store { store, .. } => crate::hunt::load_stored_in(store),
        }
    }

    /// The last session (a fresh one when it cannot be read: it must not lock anyone out).
    pub fn session(&self) -> Session {
        match self {
            Source::Local { case, .. } => crate::session::load_session(&case.dir),
            Source::Store { store, .. } => crate::session::load_session_in(store),
        }
        .unwrap_or_default()
    }

    /// Keeps the session; a case on read-only media keeps nothing.
    pub fn save_session(&self, session: &Session) -> Result<()> {
        match self {
            Source::Local { case, .. } if case.read_only => Ok(()),
            Source::Local { case, .. } => crate::session::save_session(&case.dir, session),
            Source::Store { store, .. } => crate::session::save_session_in(store, session),
        }
    }

    /// The saved views.
    pub fn views(&self) -> Result<BTreeMap<String, View>> {
        match self {
            Source::Local { case, .. } => crate::session::load_views(&case.dir),
            Source::Store { store, .. } => crate::session::load_views_in(store),
        }
    }

    pub fn save_views(&self, views: &BTreeMap<String, View>) -> Result<()> {
        match self {
            Source::Local { case, .. } => crate::session::save_views(&case.dir, views),
            Source::Store { store, .. } => crate::session::save_views_in(store, views),
        }
    }

    /// What an output of this case must leave alone: its directory and its evidence, and
    /// existing files unless `replace`.
    pub fn keep(&self, replace: bool) -> crate::sink::Keep {
        let keep = crate::sink::Keep::new(replace)
            .files(self.manifest().files.iter().flat_map(|f| f.paths()));
        match self.dir() {
            Some(dir) => keep.dir(dir),
            None => keep,
        }
    }

    /// The case's directory, when it has one (its own rules live there).
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Source::Local { case, .. } => Some(&case.dir),
            Source::Store { .. } => None,
        }
    }

    /// What queries may name (columns, files, rule hits, marks), and what travels with each
    /// event shown or exported (its rule hits and marks).
    pub fn annotated(&self) -> Result<(Vocabulary, Annotations)> {
        match self {
            Source::Local { case, .. } => {
                Ok((crate::marks::vocabulary(case)?, Annotations::load(case)?))
            }
            Source::Store { store, .. } => {
                let mut vocab = store.vocabulary();
                let detections = crate::hunt::load_stored_in(store);
                if let Some(d) = &detections {
                    vocab.sets = d.sets();
                }
                let marks = Marks::load_from(store)?;
                vocab.sets.extend(marks.sets());
                let rules = detections.map(|d| d.hit_sets()).unwrap_or_default();
                Ok((vocab, Annotations::new(rules, marks)))
            }
        }
    }

    /// The rules' hits: those kept with the case when they match the case and the rules
    /// (unless `rescan`), otherwise the rules run and their hits kept.
    pub fn detections_for(&self, rules: &[Rule], rescan: bool) -> Result<Detections> {
        match self {
            Source::Local { case, .. } if !rescan => crate::hunt::ensure(case, rules),
            Source::Local { case, .. } => {
                let d = crate::hunt::detect(case, rules)?;
                crate::hunt::save(case, &d)?;
                Ok(d)
            }
            Source::Store { store, .. } => crate::hunt::ensure_in(store, rules, rescan),
        }
    }

    /// Keeps the rules' hits with the case.
    pub fn save_detections(&self, d: &Detections) -> Result<()> {
        match self {
            Source::Local { case, .. } => crate::hunt::save(case, d),
            Source::Store { store, .. } => crate::hunt::save_in(store, d),
        }
    }
}
