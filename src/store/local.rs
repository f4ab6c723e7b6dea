//! The local case (a tantivy index in a directory) as a [`Store`].

use tantivy::Searcher;

use std::sync::Arc;

use super::{Order3, Owned, Selected, Store};
use crate::case::{Case, Manifest};
use crate::error::{QueryError, Result};
use crate::event::EventKey;
use crate::query::Vocabulary;
use crate::schema::Fields;
use crate::selection::{Order, Selection, TopValues};
use crate::view::{EventView, Loader};

/// A local case, read at its last commit.
pub struct LocalStore<'c> {
    case: &'c Case,
    searcher: Searcher,
    /// Shared with the selections, which outlive a borrow of the case.
    manifest: Arc<Manifest>,
}

impl<'c> LocalStore<'c> {
    pub fn new(case: &'c Case) -> Result<LocalStore<'c>> {
        Ok(LocalStore::with_searcher(case, case.reader()?.searcher()))
    }

    /// The case as a searcher of it sees it, with its manifest already shared (a timeline keeps
    /// both between queries).
    pub fn from_parts(
        case: &'c Case,
        searcher: Searcher,
        manifest: Arc<Manifest>,
    ) -> LocalStore<'c> {
        LocalStore {
            case,
            searcher,
            manifest,
        }
    }

    fn with_searcher(case: &'c Case, searcher: Searcher) -> LocalStore<'c> {
        LocalStore::from_parts(case, searcher, Arc::new(case.manifest.clone()))
    }
}

impl Store for LocalStore<'_> {
    fn name(&self) -> String {
        self.case.dir.display().to_string()
    }

    fn manifest(&self) -> &Manifest {
        &self.case.manifest
    }

    /// Documents are files in the case directory.
    fn load_doc(&self, name: &str) -> Result<Option<String>> {
        let path = self.case.dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(crate::error::Error::io(path, e)),
        }
    }

    fn save_doc(&self, name: &str, text: &str) -> Result<()> {
        if self.case.read_only {
            return Ok(());
        }
        crate::case::write_atomic(&self.case.dir.join(name), text.as_bytes())
    }

    /// Journals are files of JSON lines in the case directory.
    fn append_entries(&self, journal: &str, entries: &[String]) -> Result<()> {
        use std::io::Write;
        let path = self.case.dir.join(format!("{journal}.journal.jsonl"));
        let mut text = String::new();
        for e in entries {
            text.push_str(e);
            text.push('\n');
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| crate::error::Error::io(path, e))
    }

    fn entries(&self, journal: &str) -> Result<Vec<String>> {
        Ok(self
            .load_doc(&format!("{journal}.journal.jsonl"))?
            .map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default())
    }

    fn select(
        &self,
        text: &str,
        vocab: &Vocabulary,
    ) -> Result<std::result::Result<Owned, QueryError>> {
        let compiled = match crate::query::compile(text, &self.case.fields, vocab) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let sel = Selection::select(&self.searcher, &compiled)?;
        Ok(Ok(Box::new(LocalSelected {
            sel,
            fields: self.case.fields.clone(),
            manifest: Arc::clone(&self.manifest),
        })))
    }
}

struct LocalSelected {
    sel: Selection,
    fields: Fields,
    manifest: Arc<Manifest>,
}

impl Selected for LocalSelected {
    fn rank_of(&self, order: Order3) -> Result<Option<u64>> {
        Ok(self.sel.rank_of(order))
    }

    fn neighbour(&self, order: Order3, forward: bool) -> Result<Option<Order3>> {
        Ok(self.sel.neighbour(order, forward).map(|r| r.order()))
    }

    fn restrict_to(&self, events: &crate::sets::EventSet) -> Result<Owned> {
        Ok(Box::new(LocalSelected {
            sel: self.sel.restrict_to(events),
            fields: self.fields.clone(),
            manifest: Arc::clone(&self.manifest),
        }))
    }

    fn len(&self) -> u64 {
        self.sel.len()
    }

    fn span(&self) -> Result<Option<(i64, i64)>> {
        Ok(self.sel.span())
    }

    fn count_before(&self, t: i64) -> Result<u64> {
        Ok(self.sel.count_before(t))
    }

    fn events(&self, rank: u64, n: usize) -> Result<Vec<EventView>> {
        let mut loader = Loader::new(self.sel.searcher(), &self.fields, &self.manifest);
        self.sel
            .rows(rank, n)
            .into_iter()
            .map(|r| loader.load(r.addr))
            .collect()
    }

    fn all_keys(&self) -> Result<Vec<(EventKey, i64)>> {
        let mut out = Vec::with_capacity(self.sel.len() as usize);
        for page in self.sel.pages(4096) {
            out.extend(page.into_iter().map(|r| (r.key(), r.ts_ms)));
        }
        Ok(out)
    }

    fn each_event(&self, f: &mut dyn FnMut(EventView) -> Result<()>) -> Result<()> {
        let mut loader = Loader::new(self.sel.searcher(), &self.fields, &self.manifest);
        for page in self.sel.pages(4096) {
            for row in page {
                f(loader.load(row.addr)?)?;
            }
        }
        Ok(())
    }

    fn histogram(&self, start_ms: i64, width_ms: i64, buckets: usize) -> Result<Vec<u64>> {
        Ok(self.sel.histogram(start_ms, width_ms, buckets))
    }

    fn top_values(
        &self,
        field: &str,
        n: usize,
        order: Order,
        as_written: bool,
    ) -> Result<TopValues> {
        let top = self.sel.top_values(field, n, order)?;
        if !as_written {
            return Ok(top);
        }
        let mut loader = Loader::new(self.sel.searcher(), &self.fields, &self.manifest);
        top.as_written(self.sel.searcher(), &mut loader)
    }
}
