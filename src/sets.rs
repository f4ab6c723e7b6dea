//! Sets of events kept beside the index, and sets of documents within a segment.

use crate::event::EventKey;

/// A set of events named in queries (`rule:…`, `tag:…`, `marked:true`): event keys with their
/// times, sorted by time, so that the index finds them by searching each segment's time column
/// (segments are sorted by time) instead of reading every document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSet {
    /// (time in ms, event key), ascending, without duplicates.
    events: Vec<(i64, EventKey)>,
}

impl EventSet {
    /// From (event key, time in ms) pairs in any order.
    pub fn new(events: impl IntoIterator<Item = (EventKey, i64)>) -> EventSet {
        let mut events: Vec<(i64, EventKey)> = events.into_iter().map(|(k, t)| (t, k)).collect();
        events.sort_unstable();
        events.dedup();
        EventSet { events }
    }

    /// The union of several sets.
    pub fn union<'a>(sets: impl IntoIterator<Item = &'a EventSet>) -> EventSet {
        EventSet::new(sets.into_iter().flat_map(|s| s.iter()))
    }

    /// (event key, time in ms), in time order.
    pub fn iter(&self) -> impl Iterator<Item = (EventKey, i64)> + '_ {
        self.events.iter().map(|&(t, k)| (k, t))
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// (time in ms, event key), ascending.
    pub fn as_slice(&self) -> &[(i64, EventKey)] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn contains(&self, key: EventKey, ts_ms: i64) -> bool {
        self.events.binary_search(&(ts_ms, key)).is_ok()
    }

    /// The events at one millisecond.
    pub fn at(&self, ts_ms: i64) -> &[(i64, EventKey)] {
        let start = self.events.partition_point(|&(t, _)| t < ts_ms);
        let end = self.events.partition_point(|&(t, _)| t <= ts_ms);
        &self.events[start..end]
    }

    /// The distinct times, ascending.
    pub fn times(&self) -> impl Iterator<Item = i64> + '_ {
        self.events
            .iter()
            .enumerate()
            .filter(|&(i, &(t, _))| i == 0 || self.events[i - 1].0 != t)
            .map(|(_, &(t, _))| t)
    }
}

/// A set of document ids of one segment.
pub struct BitSet(Vec<u64>);

impl BitSet {
    pub fn of(docs: &[u32], max_doc: u32) -> BitSet {
        let mut words = vec![0u64; (max_doc as usize).div_ceil(64)];
        for d in docs {
            words[(*d / 64) as usize] |= 1 << (d % 64);
        }
        BitSet(words)
    }

    pub fn contains(&self, doc: u32) -> bool {
        self.0
            .get((doc / 64) as usize)
            .is_some_and(|w| w & (1 << (doc % 64)) != 0)
    }
}
