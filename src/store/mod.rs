//! Where a case lives, behind one seam: the local tantivy case ([`local`], the default) or a
//! ClickHouse database shared by a team ([`clickhouse`], `--store clickhouse://…`).
//!
//! A store answers the operations the commands need: a query's events in time order (count,
//! span, rank of a time, rows at a rank, histogram, top and rare values), with the case's
//! manifest. Queries mean the same everywhere: each store lowers the same plan
//! (`crate::query::plan`). Ingest writes to a store through `crate::ingest::Destination`.

pub mod clickhouse;
pub mod local;

use crate::case::Manifest;
use crate::error::{QueryError, Result};
use crate::event::EventKey;
use crate::query::Vocabulary;
use crate::selection::{Order, TopValues};
use crate::view::EventView;

/// A case, wherever it is kept.
pub trait Store: Sync {
    /// Where the case is, for people.
    fn name(&self) -> String;
    /// The manifest: every file ingested, its events, lines and problems.
    fn manifest(&self) -> &Manifest;
    /// What queries may name: the manifest's columns and files, and the named sets given.
    fn vocabulary(&self) -> Vocabulary {
        Vocabulary::of(self.manifest())
    }
    /// A document kept with the case (detections, marks): the last saved under `name`.
    fn load_doc(&self, name: &str) -> Result<Option<String>>;
    /// Saves a document with the case, for everyone who opens it.
    fn save_doc(&self, name: &str, text: &str) -> Result<()>;
    /// Appends entries to a journal kept with the case (marks made by several responders): each
    /// entry is kept, none overwrites another.
    fn append_entries(&self, journal: &str, entries: &[String]) -> Result<()>;
    /// A journal's entries, oldest first.
    fn entries(&self, journal: &str) -> Result<Vec<String>>;
    /// The events a query matches (held apart from the store: a timeline keeps its selection
    /// while it runs other queries). A query that cannot be understood is the inner error.
    fn select(
        &self,
        text: &str,
        vocab: &Vocabulary,
    ) -> Result<std::result::Result<Owned, QueryError>>;
}

/// A selection that owns what it reads.
pub type Owned = Box<dyn Selected + Send>;

/// An event's place in the total order: time, file, line.
pub type Order3 = (i64, u64, u64);

/// A query's events in time order (then file, then line).
pub trait Selected {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// First and last time.
    fn span(&self) -> Result<Option<(i64, i64)>>;
    /// How many are earlier than `t` (the rank of the first at or after it).
    fn count_before(&self, t: i64) -> Result<u64>;
    /// The rank of an event, if it is selected.
    fn rank_of(&self, order: Order3) -> Result<Option<u64>>;
    /// The first selected event strictly after (or before) a place in the order.
    fn neighbour(&self, order: Order3, forward: bool) -> Result<Option<Order3>>;
    /// The selected events that are also in a set.
    fn restrict_to(&self, events: &crate::sets::EventSet) -> Result<Owned>;
    /// `n` events from rank `rank`, parsed for display.
    fn events(&self, rank: u64, n: usize) -> Result<Vec<EventView>>;
    /// Every key and time, in order (rule hits).
    fn all_keys(&self) -> Result<Vec<(EventKey, i64)>>;
    /// Every event, in order, parsed (rules that check what the index cannot).
    fn each_event(&self, f: &mut dyn FnMut(EventView) -> Result<()>) -> Result<()>;
    /// Counts per bucket of `width_ms` from `start_ms`.
    fn histogram(&self, start_ms: i64, width_ms: i64, buckets: usize) -> Result<Vec<u64>>;
    /// Exact counts of a field's values; paths, agents and users shown as first written when
    /// `as_written`, otherwise as indexed (lower-cased).
    fn top_values(
        &self,
        field: &str,
        n: usize,
        order: Order,
        as_written: bool,
    ) -> Result<TopValues>;
}

/// Sorts counted values as every store does: most (or least) frequent first, then by value;
/// keeps `n`.
pub fn rank_values(
    field: &str,
    counts: impl IntoIterator<Item = (String, u64)>,
    n: usize,
    order: Order,
) -> TopValues {
    let mut values: Vec<crate::selection::ValueCount> = counts
        .into_iter()
        .map(|(value, count)| crate::selection::ValueCount { value, count })
        .collect();
    let distinct = values.len() as u64;
    let with_value = values.iter().map(|v| v.count).sum();
    match order {
        Order::Top => values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value))),
        Order::Rare => values.sort_by(|a, b| a.count.cmp(&b.count).then(a.value.cmp(&b.value))),
    }
    values.truncate(n);
    TopValues {
        field: field.to_string(),
        values,
        distinct,
        with_value,
    }
}

impl<S: Selected + ?Sized> Selected for Box<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn span(&self) -> Result<Option<(i64, i64)>> {
        (**self).span()
    }

    fn count_before(&self, t: i64) -> Result<u64> {
        (**self).count_before(t)
    }

    fn rank_of(&self, order: Order3) -> Result<Option<u64>> {
        (**self).rank_of(order)
    }

    fn neighbour(&self, order: Order3, forward: bool) -> Result<Option<Order3>> {
        (**self).neighbour(order, forward)
    }

    fn restrict_to(&self, events: &crate::sets::EventSet) -> Result<Owned> {
        (**self).restrict_to(events)
    }

    fn events(&self, rank: u64, n: usize) -> Result<Vec<EventView>> {
        (**self).events(rank, n)
    }

    fn all_keys(&self) -> Result<Vec<(EventKey, i64)>> {
        (**self).all_keys()
    }

    fn each_event(&self, f: &mut dyn FnMut(EventView) -> Result<()>) -> Result<()> {
        (**self).each_event(f)
    }

    fn histogram(&self, start_ms: i64, width_ms: i64, buckets: usize) -> Result<Vec<u64>> {
        (**self).histogram(start_ms, width_ms, buckets)
    }

    fn top_values(
        &self,
        field: &str,
        n: usize,
        order: Order,
        as_written: bool,
    ) -> Result<TopValues> {
        (**self).top_values(field, n, order, as_written)
    }
}
