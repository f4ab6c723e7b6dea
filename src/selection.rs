//! Time-ordered access to the events matching a query, without sorting them.
//!
//! Ingest writes every segment in time order (see [`crate::ingest`]), so within a segment document
//! order is time order. A
//! [`Selection`] keeps, per segment, the matching document ids (or just "all of them" for an
//! unfiltered view): 4 bytes per hit at most. The event at any rank is found by binary search on
//! time across segments, a screenful is a k-way merge from there, and a histogram bucket is a
//! difference of two binary searches. Ties in time are ordered by segment, then document, which
//! keeps lines of one file in file order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::Ipv6Addr;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::ColumnValues;
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, DocAddress, DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use crate::error::{Error, Result};
use crate::event::names;
use crate::schema;
use crate::sets::BitSet;

/// A query ready to run.
pub struct Compiled {
    pub query: Box<dyn tantivy::query::Query>,
    /// True when the query matches every event (the timeline can skip collecting hits).
    pub matches_all: bool,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("matches_all", &self.matches_all)
            .finish()
    }
}

/// The documents of one segment that match.
#[derive(Debug)]
enum Docs {
    /// Every document of the segment (it has no deletions).
    All(u32),
    /// Matching document ids, ascending.
    Some(Vec<u32>),
}

struct SegmentHits {
    docs: Docs,
    ts: Arc<dyn ColumnValues<DateTime>>,
    /// File and line, to order events of the same millisecond as they are in their files.
    file_id: Arc<dyn ColumnValues<u64>>,
    line: Arc<dyn ColumnValues<u64>>,
}

impl SegmentHits {
    fn len(&self) -> usize {
        match &self.docs {
            Docs::All(n) => *n as usize,
            Docs::Some(v) => v.len(),
        }
    }

    fn doc(&self, i: usize) -> u32 {
        match &self.docs {
            Docs::All(_) => i as u32,
            Docs::Some(v) => v[i],
        }
    }

    fn ts(&self, i: usize) -> i64 {
        self.ts.get_val(self.doc(i)).into_timestamp_millis()
    }

    /// First index whose time is `>= t` (or `> t` when `strict`).
    fn bound(&self, t: i64, strict: bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let v = self.ts(mid);
            if v < t || (strict && v == t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// One row of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// Position in the selection, 0-based.
    pub rank: u64,
    pub addr: DocAddress,
    pub ts_ms: i64,
    pub file_id: u64,
    pub line: u64,
}

impl Row {
    /// The event's key (see [`crate::event::EventKey`]).
    pub fn key(&self) -> crate::event::EventKey {
        crate::event::EventKey::new(self.file_id, self.line)
    }

    /// The total order of events: time, then file, then line.
    pub fn order(&self) -> (i64, u64, u64) {
        (self.ts_ms, self.file_id, self.line)
    }
}

/// The events matching a query, in time order.
pub struct Selection {
    searcher: Searcher,
    segments: Vec<SegmentHits>,
    total: u64,
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selection")
            .field("total", &self.total)
            .finish()
    }
}

/// Collects matching document ids per segment.
struct DocIds;

struct SegmentDocIds {
    ord: SegmentOrdinal,
    docs: Vec<u32>,
}

impl Collector for DocIds {
    type Fruit = Vec<(SegmentOrdinal, Vec<u32>)>;
    type Child = SegmentDocIds;

    fn for_segment(
        &self,
        ord: SegmentOrdinal,
        _: &SegmentReader,
    ) -> tantivy::Result<SegmentDocIds> {
        Ok(SegmentDocIds {
            ord,
            docs: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<(SegmentOrdinal, Vec<u32>)>,
    ) -> tantivy::Result<Self::Fruit> {
        Ok(fruits)
    }
}

impl SegmentCollector for SegmentDocIds {
    type Fruit = (SegmentOrdinal, Vec<u32>);

    fn collect(&mut self, doc: DocId, _: Score) {
        self.docs.push(doc);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        self.docs.extend_from_slice(docs);
    }

    fn harvest(mut self) -> Self::Fruit {
        if !self.docs.is_sorted() {
            self.docs.sort_unstable();
        }
        (self.ord, self.docs)
    }
}

impl Selection {
    /// Runs a query and keeps its hits.
    pub fn select(searcher: &Searcher, query: &Compiled) -> Result<Selection> {
        let readers = searcher.segment_readers();
        let mut per_segment: Vec<Option<Docs>> = readers
            .iter()
            .map(|r| (query.matches_all && !r.has_deletes()).then_some(Docs::All(r.max_doc())))
            .collect();
        if per_segment.iter().any(Option::is_none) {
            for (ord, docs) in searcher.search(&*query.query, &DocIds)? {
                if let Some(slot) = per_segment.get_mut(ord as usize)
                    && slot.is_none()
                {
                    *slot = Some(Docs::Some(docs));
                }
            }
        }
        let mut segments = Vec::with_capacity(readers.len());
        let mut total = 0u64;
        for (reader, docs) in readers.iter().zip(per_segment) {
            let docs = docs.unwrap_or(Docs::Some(Vec::new()));
            let ff = reader.fast_fields();
            let ts = ff.date(names::TS)?.first_or_default_col(DateTime::MIN);
            let file_id = ff.u64(schema::fields::FILE_ID)?.first_or_default_col(0);
            let line = ff.u64(names::LINE)?.first_or_default_col(0);
            let hits = SegmentHits {
                docs,
                ts,
                file_id,
                line,
            };
            total += hits.len() as u64;
            segments.push(hits);
        }
        Ok(Selection {
            searcher: searcher.clone(),
            segments,
            total,
        })
    }

    /// The events of this selection that are in `events`. Each event is found by binary search
    /// on the time column of each segment, so the cost follows the number of events, not the
    /// size of the case.
    pub fn restrict_to(&self, events: &crate::sets::EventSet) -> Selection {
        let mut total = 0u64;
        let segments = self
            .segments
            .iter()
            .map(|s| {
                let mut docs = Vec::new();
                for (key, ts) in events.iter() {
                    let mut i = s.bound(ts, false);
                    while i < s.len() && s.ts(i) == ts {
                        let doc = s.doc(i);
                        if crate::event::EventKey::new(s.file_id.get_val(doc), s.line.get_val(doc))
                            == key
                        {
                            docs.push(doc);
                        }
                        i += 1;
                    }
                }
                docs.sort_unstable();
                docs.dedup();
                total += docs.len() as u64;
                SegmentHits {
                    docs: Docs::Some(docs),
                    ts: Arc::clone(&s.ts),
                    file_id: Arc::clone(&s.file_id),
                    line: Arc::clone(&s.line),
                }
            })
            .collect();
        Selection {
            searcher: self.searcher.clone(),
            segments,
            total,
        }
    }

    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// Number of matching events.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Time of the first and last matching events.
    pub fn span(&self) -> Option<(i64, i64)> {
        let first = self
            .segments
            .iter()
            .filter(|s| s.len() > 0)
            .map(|s| s.ts(0))
            .min()?;
        let last = self
            .segments
            .iter()
            .filter(|s| s.len() > 0)
            .map(|s| s.ts(s.len() - 1))
            .max()?;
        Some((first, last))
    }

    /// Number of matching events strictly before `t`: the rank of the first event at or after it.
    pub fn count_before(&self, t: i64) -> u64 {
        self.segments.iter().map(|s| s.bound(t, false) as u64).sum()
    }

    fn count_at_or_before(&self, t: i64) -> u64 {
        self.segments.iter().map(|s| s.bound(t, true) as u64).sum()
    }

    /// Time of the event at `rank`: the smallest time with more than `rank` events at or
    /// before it.
    fn ts_at(&self, rank: u64) -> Option<i64> {
        if rank >= self.total {
            return None;
        }
        let (mut lo, mut hi) = self.span()?;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.count_at_or_before(mid) > rank {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    }

    /// Every row in rank order, `page` rows at a time: events are read page by page, never all
    /// at once.
    pub fn pages(&self, page: usize) -> impl Iterator<Item = Vec<Row>> + '_ {
        let page = page.max(1);
        (0..self.len())
            .step_by(page)
            .map(move |start| self.rows(start, page))
    }

    /// Up to `n` rows starting at `rank`, in time order. Events of the same millisecond (IIS
    /// logs have whole seconds) are ordered by file and line, so the order is the same whatever
    /// segments the ingest happened to make.
    pub fn rows(&self, rank: u64, n: usize) -> Vec<Row> {
        let Some(first_ts) = self.ts_at(rank) else {
            return Vec::new();
        };
        let group_start = self.count_before(first_ts);
        let mut cursors: Vec<usize> = self
            .segments
            .iter()
            .map(|s| s.bound(first_ts, false))
            .collect();
        let mut out = Vec::with_capacity(n);
        let mut position = group_start;
        let mut group: Vec<(u64, u64, usize, u32)> = Vec::new();
        while out.len() < n {
            let next_ts = self
                .segments
                .iter()
                .zip(&cursors)
                .filter(|(s, c)| **c < s.len())
                .map(|(s, c)| s.ts(*c))
                .min();
            let Some(ts_ms) = next_ts else {
                break;
            };
            group.clear();
            for (seg, hits) in self.segments.iter().enumerate() {
                while cursors[seg] < hits.len() && hits.ts(cursors[seg]) == ts_ms {
                    let doc = hits.doc(cursors[seg]);
                    group.push((hits.file_id.get_val(doc), hits.line.get_val(doc), seg, doc));
                    cursors[seg] += 1;
                }
            }
            // A pathological file with one timestamp on every line keeps its index order.
            if group.len() <= MAX_SORTED_TIE {
                group.sort_unstable();
            }
            for &(file_id, line, seg, doc) in &group {
                if position >= rank && out.len() < n {
                    out.push(Row {
                        rank: position,
                        addr: DocAddress::new(seg as u32, doc),
                        ts_ms,
                        file_id,
                        line,
                    });
                }
                position += 1;
            }
        }
        out
    }

    /// Rank of the event with this time, file and line, if it is in the selection.
    pub fn rank_of(&self, order: (i64, u64, u64)) -> Option<u64> {
        let first = self.count_before(order.0);
        self.rows(first, MAX_SORTED_TIE)
            .into_iter()
            .take_while(|r| r.ts_ms == order.0)
            .find(|r| r.order() == order)
            .map(|r| r.rank)
    }

    /// The first row strictly after (or before, going back) an event in the total order.
    pub fn neighbour(&self, order: (i64, u64, u64), forward: bool) -> Option<Row> {
        if forward {
            let start = self.count_before(order.0);
            let mut rank = start;
            loop {
                let page = self.rows(rank, 256);
                if page.is_empty() {
                    return None;
                }
                if let Some(r) = page.iter().find(|r| r.order() > order) {
                    return Some(*r);
                }
                rank += page.len() as u64;
            }
        } else {
            // Everything at or before this time, walked back from its end.
            let mut end = self.count_at_or_before(order.0);
            while end > 0 {
                let start = end.saturating_sub(256);
                let page = self.rows(start, (end - start) as usize);
                if let Some(r) = page.iter().rev().find(|r| r.order() < order) {
                    return Some(*r);
                }
                end = start;
            }
            None
        }
    }

    /// Counts per bucket of `width_ms` starting at `start_ms`.
    pub fn histogram(&self, start_ms: i64, width_ms: i64, buckets: usize) -> Vec<u64> {
        let width = width_ms.max(1);
        let mut edges = (0..=buckets as i64).map(|i| self.count_before(start_ms + i * width));
        let mut prev = edges.next().unwrap_or(0);
        edges
            .map(|e| {
                let c = e - prev;
                prev = e;
                c
            })
            .collect()
    }

    /// Iterates the hits' documents in the given segments.
    fn for_each_doc(&self, segments: &[usize], mut f: impl FnMut(usize, u32)) {
        for &seg in segments {
            let hits = &self.segments[seg];
            match &hits.docs {
                Docs::All(n) => (0..*n).for_each(|d| f(seg, d)),
                Docs::Some(v) => v.iter().for_each(|d| f(seg, *d)),
            }
        }
    }

    /// Exact counts of the values of `field` among the hits: the most frequent first, or the
    /// least frequent first for [`Order::Rare`].
    pub fn top_values(&self, field: &str, n: usize, order: Order) -> Result<TopValues> {
        let counts = match field {
            // Indexed fields are counted from their posting lists: per distinct value, not per
            // event, when the selection is large.
            names::IP
            | names::CLIENT
            | names::XFF
            | names::STATUS
            | names::HOST
            | names::SOURCE
            | names::METHOD
            | names::PATH
            | names::UA
            | names::USER
            | names::RULE => self.count_indexed(field)?,
            names::BYTES | names::DURATION_MS | names::LINE => self.count_numbers(field)?,
            _ => self.count_strings(field)?,
        };
        let distinct = counts.len() as u64;
        let with_value: u64 = counts.values().sum();
        let mut values: Vec<ValueCount> = counts
            .into_iter()
            .map(|(value, count)| ValueCount { value, count })
            .collect();
        match order {
            Order::Top => values.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value))),
            Order::Rare => values.sort_by(|a, b| a.count.cmp(&b.count).then(a.value.cmp(&b.value))),
        }
        values.truncate(n);
        Ok(TopValues {
            field: field.to_string(),
            values,
            distinct,
            with_value,
        })
    }

    /// Counts an indexed field's values. Per segment: a selection of every document reads each
    /// term's document frequency; a large selection walks the posting lists against a bitset of
    /// the hits; a small one looks up each hit in the column.
    fn count_indexed(&self, field: &str) -> Result<HashMap<String, u64>> {
        let schema_field = self.searcher.schema().get_field(field)?;
        let readers = self.searcher.segment_readers();
        let mut out: HashMap<String, u64> = HashMap::new();
        let mut small: Vec<usize> = Vec::new();
        for (seg, (reader, hits)) in readers.iter().zip(&self.segments).enumerate() {
            let len = hits.len();
            if len == 0 {
                continue;
            }
            let bitset = match &hits.docs {
                Docs::All(_) => None,
                Docs::Some(docs) if docs.len() * 64 < reader.max_doc() as usize => {
                    small.push(seg);
                    continue;
                }
                Docs::Some(docs) => Some(BitSet::of(docs, reader.max_doc())),
            };
            let index = reader.inverted_index(schema_field)?;
            let mut terms = index
                .terms()
                .stream()
                .map_err(|e| Error::io("<index>", e))?;
            while terms.advance() {
                let info = terms.value();
                let count = match &bitset {
                    None => u64::from(info.doc_freq),
                    Some(bits) => {
                        let mut postings = index
                            .read_block_postings_from_terminfo(info, IndexRecordOption::Basic)
                            .map_err(|e| Error::io("<index>", e))?;
                        let mut count = 0u64;
                        while !postings.docs().is_empty() {
                            count += postings
                                .docs()
                                .iter()
                                .filter(|d| bits.contains(**d))
                                .count() as u64;
                            postings.advance();
                        }
                        count
                    }
                };
                if count > 0 {
                    *out.entry(display_term(field, terms.key())).or_default() += count;
                }
            }
        }
        if !small.is_empty() {
            let by_hit = match field {
                names::IP | names::CLIENT | names::XFF => self.count_ips_in(field, &small)?,
                names::STATUS => self.count_numbers_in(field, &small)?,
                _ => self.count_strings_in(field, &small)?,
            };
            for (value, count) in by_hit {
                *out.entry(value).or_default() += count;
            }
        }
        Ok(out)
    }

    fn count_strings(&self, field: &str) -> Result<HashMap<String, u64>> {
        let all: Vec<usize> = (0..self.segments.len()).collect();
        self.count_strings_in(field, &all)
    }

    fn count_numbers(&self, field: &str) -> Result<HashMap<String, u64>> {
        let all: Vec<usize> = (0..self.segments.len()).collect();
        self.count_numbers_in(field, &all)
    }

    fn count_strings_in(&self, field: &str, segments: &[usize]) -> Result<HashMap<String, u64>> {
        let mut out: HashMap<String, u64> = HashMap::new();
        let readers = self.searcher.segment_readers();
        let mut columns = Vec::with_capacity(readers.len());
        for r in readers {
            columns.push(r.fast_fields().str(field)?);
        }
        let mut counts: Vec<Vec<u32>> = columns
            .iter()
            .map(|c| vec![0; c.as_ref().map_or(0, |c| c.num_terms())])
            .collect();
        self.for_each_doc(segments, |seg, doc| {
            if let Some(col) = &columns[seg] {
                for ord in col.term_ords(doc) {
                    counts[seg][ord as usize] += 1;
                }
            }
        });
        let mut term = String::new();
        for (col, counts) in columns.iter().zip(counts) {
            let Some(col) = col else { continue };
            for (ord, c) in counts.into_iter().enumerate() {
                if c > 0
                    && col
                        .ord_to_str(ord as u64, &mut term)
                        .map_err(|e| Error::io("<index>", e))?
                {
                    *out.entry(term.clone()).or_default() += u64::from(c);
                }
            }
        }
        Ok(out)
    }

    fn count_ips_in(&self, field: &str, segments: &[usize]) -> Result<HashMap<String, u64>> {
        let mut raw: HashMap<Ipv6Addr, u64, FastHash> = HashMap::default();
        let readers = self.searcher.segment_readers();
        let mut columns = Vec::with_capacity(readers.len());
        for r in readers {
            columns.push(r.fast_fields().column_opt::<Ipv6Addr>(field)?);
        }
        self.for_each_doc(segments, |seg, doc| {
            if let Some(col) = &columns[seg] {
                for ip in col.values_for_doc(doc) {
                    *raw.entry(ip).or_default() += 1;
                }
            }
        });
        Ok(raw
            .into_iter()
            .map(|(ip, c)| (schema::v6_to_ip(ip).to_string(), c))
            .collect())
    }

    fn count_numbers_in(&self, field: &str, segments: &[usize]) -> Result<HashMap<String, u64>> {
        let mut raw: HashMap<u64, u64, FastHash> = HashMap::default();
        let readers = self.searcher.segment_readers();
        let mut columns = Vec::with_capacity(readers.len());
        for r in readers {
            columns.push(r.fast_fields().column_opt::<u64>(field)?);
        }
        self.for_each_doc(segments, |seg, doc| {
            if let Some(col) = &columns[seg] {
                for v in col.values_for_doc(doc) {
                    *raw.entry(v).or_default() += 1;
                }
            }
        });
        Ok(raw.into_iter().map(|(v, c)| (v.to_string(), c)).collect())
    }
}

/// Shows an indexed term as its field's values are shown.
fn display_term(field: &str, key: &[u8]) -> String {
    match field {
        names::IP | names::CLIENT | names::XFF => match <[u8; 16]>::try_from(key) {
            Ok(b) => schema::v6_to_ip(Ipv6Addr::from(u128::from_be_bytes(b))).to_string(),
            Err(_) => String::from_utf8_lossy(key).into_owned(),
        },
        names::STATUS => match <[u8; 8]>::try_from(key) {
            Ok(b) => u64::from_be_bytes(b).to_string(),
            Err(_) => String::from_utf8_lossy(key).into_owned(),
        },
        // Host names and methods are upper-case by normalisation; the index holds them lower.
        names::HOST | names::METHOD => String::from_utf8_lossy(key).to_uppercase(),
        _ => String::from_utf8_lossy(key).into_owned(),
    }
}

/// Events sharing one millisecond are put in file order up to this many.
const MAX_SORTED_TIE: usize = 200_000;

/// Most or least frequent values first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Top,
    Rare,
}

/// A value and how many hits carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// Result of [`Selection::top_values`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopValues {
    pub field: String,
    pub values: Vec<ValueCount>,
    /// Number of distinct values among the hits.
    pub distinct: u64,
    /// Hits that have a value for the field.
    pub with_value: u64,
}

impl TopValues {
    /// Paths, agents and users are indexed lower-cased (queries compare them without case), so
    /// they are counted that way; for showing, each value is taken as the first event holding
    /// it wrote it. Other fields are left as they are.
    pub fn as_written(
        mut self,
        searcher: &Searcher,
        loader: &mut crate::view::Loader<'_>,
    ) -> Result<TopValues> {
        let pick: fn(crate::view::EventView) -> Option<String> = match self.field.as_str() {
            names::PATH => |e| e.path,
            names::UA => |e| e.ua,
            names::USER => |e| e.user,
            _ => return Ok(self),
        };
        let normalise: fn(&str) -> String = if self.field == names::UA {
            crate::schema::normalize_user_agent
        } else {
            crate::schema::normalize_keyword
        };
        let field = searcher.schema().get_field(&self.field)?;
        for v in &mut self.values {
            let term = tantivy::Term::from_field_text(field, &v.value);
            for (ord, reader) in searcher.segment_readers().iter().enumerate() {
                let index = reader.inverted_index(field)?;
                let Some(mut postings) = index
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(|e| Error::io("<index>", e))?
                else {
                    continue;
                };
                let alive = reader.alive_bitset();
                let mut doc = tantivy::DocSet::doc(&postings);
                while doc != tantivy::TERMINATED && alive.is_some_and(|a| a.is_deleted(doc)) {
                    doc = tantivy::DocSet::advance(&mut postings);
                }
                if doc == tantivy::TERMINATED {
                    continue;
                }
                let event = loader.load(DocAddress::new(ord as SegmentOrdinal, doc))?;
                if let Some(written) = pick(event).filter(|w| normalise(w) == v.value) {
                    v.value = written;
                }
                break;
            }
        }
        Ok(self)
    }
}

/// Multiplicative hashing for counting maps keyed by integers: the keys are addresses and
/// numbers from logs, so flooding is not a concern, and SipHash would triple the cost of
/// counting ten million values.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastHash = BuildHasherDefault<FastHasher>;

/// Chooses a histogram bucket width (from a fixed ladder) so that `span_ms` fits in at most
/// `max_buckets` buckets.
pub fn bucket_width(span_ms: i64, max_buckets: usize) -> (i64, &'static str) {
    // Up to a century a bucket: a case that spans decades (a log's line dated 1970 among
    // this year's) is still drawn whole.
    const LADDER: [(i64, &str); 19] = [
        (1_000, "1s"),
        (5_000, "5s"),
        (15_000, "15s"),
        (60_000, "1m"),
        (300_000, "5m"),
        (900_000, "15m"),
        (1_800_000, "30m"),
        (3_600_000, "1h"),
        (3 * 3_600_000, "3h"),
        (6 * 3_600_000, "6h"),
        (12 * 3_600_000, "12h"),
        (86_400_000, "1d"),
        (7 * 86_400_000, "7d"),
        (30 * 86_400_000, "30d"),
        (91 * 86_400_000, "91d"),
        (365 * 86_400_000, "365d"),
        (1_826 * 86_400_000, "1826d"),
        (3_652 * 86_400_000, "3652d"),
        (36_525 * 86_400_000, "36525d"),
    ];
    let max = max_buckets.max(1) as i64;
    LADDER
        .iter()
        .copied()
        .find(|(w, _)| span_ms / w < max)
        .unwrap_or(LADDER[LADDER.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Case;

    #[test]
    fn every_span_fits_its_histogram() {
        // 1970 to 2022 in 100 columns: a bucket of a year, not 30 days reaching 1978.
        let span = 1_660_000_000_000;
        let (width, label) = bucket_width(span, 100);
        assert_eq!(label, "365d");
        assert!(span / width < 100);
        assert_eq!(bucket_width(90_000, 100).1, "1s");
        assert_eq!(bucket_width(i64::MAX, 100).1, "36525d");
    }
    use crate::ingest::{IngestOptions, ingest};

    /// Three IIS files whose seconds overlap, ingested with tiny commits so that events of one
    /// second land in different segments.
    fn overlapping_case() -> (tempfile::TempDir, Case) {
        let dir = tempfile::tempdir().expect("tempdir");
        let header = "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time c-ip cs-method cs-uri-stem sc-status\n";
        let mut inputs = Vec::new();
        for f in 0..3 {
            let mut text = header.to_string();
            for i in 0..40 {
                text.push_str(&format!(
                    "2021-03-05 10:00:{:02} 192.0.2.{f} GET /f{f}/l{i} 200\n",
                    i / 4
                ));
            }
            let path = dir.path().join(format!("u_ex21030{f}.log"));
            std::fs::write(&path, text).expect("write");
            inputs.push(path);
        }
        let mut case = Case::open_or_create(&dir.path().join("case")).expect("case");
        let opts = IngestOptions {
            commit_every: 7,
            ..IngestOptions::default()
        };
        ingest(&mut case, &inputs, &opts, &crate::progress::ignore).expect("ingest");
        (dir, case)
    }

    fn select(case: &Case, q: &str) -> Selection {
        let reader = case.reader().expect("reader");
        let compiled = crate::query::compile(
            q,
            &case.fields,
            &crate::query::Vocabulary::of(&case.manifest),
        )
        .expect("query");
        Selection::select(&reader.searcher(), &compiled).expect("select")
    }

    fn path_of(case: &Case, sel: &Selection, row: &Row) -> String {
        crate::view::load(sel.searcher(), &case.fields, &case.manifest, row.addr)
            .expect("load")
            .path
            .expect("path")
    }

    #[test]
    fn rows_are_in_time_then_file_order_at_any_offset() {
        let (_dir, case) = overlapping_case();
        let sel = select(&case, "*");
        assert_eq!(sel.len(), 120);
        assert!(
            sel.searcher().segment_readers().len() > 1,
            "several segments"
        );
        let all = sel.rows(0, 1000);
        assert_eq!(all.len(), 120);
        let paths: Vec<String> = all.iter().map(|r| path_of(&case, &sel, r)).collect();
        // Second 0 holds lines 0-3 of each file: file 0 first, then 1, then 2.
        assert_eq!(
            &paths[..5],
            ["/f0/l0", "/f0/l1", "/f0/l2", "/f0/l3", "/f1/l0"]
        );
        assert!(all.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
        for (i, row) in all.iter().enumerate() {
            assert_eq!(row.rank, i as u64);
            assert_eq!(sel.rows(i as u64, 1), vec![*row], "rank {i}");
        }
        assert_eq!(sel.rows(118, 10).len(), 2);
        assert!(sel.rows(120, 10).is_empty());
    }

    #[test]
    fn restricting_to_known_events_keeps_those_of_the_selection() {
        let (_dir, case) = overlapping_case();
        let all = select(&case, "*").rows(0, 1000);
        // Every fifth event, across files and segments, plus one that does not exist.
        let mut events: Vec<(crate::event::EventKey, i64)> =
            all.iter().step_by(5).map(|r| (r.key(), r.ts_ms)).collect();
        events.push((crate::event::EventKey::new(99, 1), all[0].ts_ms));
        let sel = select(&case, "ip:192.0.2.1");
        let restricted = sel.restrict_to(&crate::sets::EventSet::new(events.iter().copied()));
        let expected: Vec<Row> = sel
            .rows(0, 1000)
            .into_iter()
            .filter(|r| events.contains(&(r.key(), r.ts_ms)))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(restricted.len(), expected.len() as u64);
        let got: Vec<_> = restricted.rows(0, 1000).iter().map(Row::order).collect();
        let want: Vec<_> = expected.iter().map(Row::order).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn named_event_sets_find_exactly_their_events() {
        let (_dir, case) = overlapping_case();
        let all = select(&case, "*").rows(0, 1000);
        let reader = case.reader().expect("reader");
        // One event (found by binary search on the time column), then every third (large
        // against these tiny segments: found by one pass), plus an event that does not exist.
        for step in [1000, 3] {
            let mut chosen: Vec<(crate::event::EventKey, i64)> = all
                .iter()
                .step_by(step)
                .map(|r| (r.key(), r.ts_ms))
                .collect();
            let wanted: Vec<_> = all.iter().step_by(step).map(Row::order).collect();
            chosen.push((crate::event::EventKey::new(99, 1), all[5].ts_ms));
            let mut vocab = crate::query::Vocabulary::of(&case.manifest);
            vocab.sets = vec![(
                "tag:x".into(),
                std::sync::Arc::new(crate::sets::EventSet::new(chosen)),
            )];
            let compiled = crate::query::compile("tag:x", &case.fields, &vocab).expect("query");
            let sel = Selection::select(&reader.searcher(), &compiled).expect("select");
            let got: Vec<_> = sel.rows(0, 1000).iter().map(Row::order).collect();
            assert_eq!(got, wanted, "every {step}th event");
        }
    }

    #[test]
    fn counts_histograms_and_top_values_agree() {
        let (_dir, case) = overlapping_case();
        let sel = select(&case, "ip:192.0.2.1 OR ip:192.0.2.2");
        assert_eq!(sel.len(), 80);
        let (first, last) = sel.span().expect("span");
        let hist = sel.histogram(first, 1000, 10);
        assert_eq!(hist.iter().sum::<u64>(), 80);
        assert_eq!(hist[0], 8);
        assert_eq!(sel.count_before(last + 1), 80);
        let top = sel.top_values("ip", 10, Order::Top).expect("top");
        assert_eq!(top.distinct, 2);
        assert_eq!(top.values[0].count, 40);
        let paths = sel.top_values("path", 100, Order::Rare).expect("paths");
        assert_eq!(paths.distinct, 80);
        let all = select(&case, "*");
        let ips = all.top_values("ip", 10, Order::Top).expect("all ips");
        assert_eq!(ips.with_value, 120);
    }
}
