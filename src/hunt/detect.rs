//! Running the rules: each rule runs in two steps. Its query, relaxed where the index cannot
//! answer (`raw:`), finds candidates in the index; each candidate is then parsed again and the
//! full query checked on it. Hits are stored in the case (`detections.json`) as event keys, so
//! `rule:<id>` works in every query and the timeline marks them; they are recomputed after each
//! ingest and whenever the rules change, without reading the logs again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::case::{Case, write_atomic};
use crate::error::{Error, Result};
use crate::event::EventKey;
use crate::query;
use crate::rules::{self, Category, Outcome, Rule, Severity};
use crate::sets::EventSet;
use crate::store::Store;

/// A rule's description as stored with its hits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub category: Category,
    pub description: String,
    pub references: Vec<String>,
    pub attack: Vec<String>,
    pub suspects: bool,
    pub origin: String,
    /// What a hit means (see [`Outcome`]).
    pub outcome: Outcome,
    /// Hits that do not also match this query are attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_when: Option<String>,
    /// A noise rule knowing scanners by their user agent (see `RuleSpec::by_agent`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_agent: bool,
}

/// Hits of every rule, stored in the case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Detections {
    /// Digest of the rules that produced these hits.
    pub rules_digest: String,
    /// Fingerprint of the case contents they were computed on.
    pub case_state: String,
    pub rules: Vec<RuleInfo>,
    /// Rule id → (event key, time in ms), in time order.
    pub hits: BTreeMap<String, Vec<(EventKey, i64)>>,
    /// Rules the index could not run on this case (a regex too large for it, say), with why:
    /// listed, never silently dropped, and the other rules' hits kept.
    #[serde(default)]
    pub not_run: Vec<NotRun>,
}

/// A rule that could not run, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotRun {
    pub id: String,
    /// The file it came from (`built-in` for the pack).
    pub origin: String,
    pub reason: String,
}

impl Detections {
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Event sets for the query language: `rule:<id>` for each rule with hits.
    pub fn sets(&self) -> Vec<(String, Arc<EventSet>)> {
        self.hit_sets()
            .into_iter()
            .map(|(id, set)| (format!("rule:{id}"), set))
            .collect()
    }

    /// Each rule's hits as a set, by rule id. Rows find their rules here (a few binary searches
    /// per row shown) rather than in a map of every hit: building that map for 321,000 hits
    /// was 80–100 ms of the timeline's first frame on a 10M-line case.
    pub fn hit_sets(&self) -> Vec<(String, Arc<EventSet>)> {
        self.hits
            .iter()
            .map(|(id, hits)| (id.clone(), Arc::new(EventSet::new(hits.iter().copied()))))
            .collect()
    }

    /// Hit times of compromise rules of at least `min` severity, sorted, for the histogram and
    /// next/previous hit.
    pub fn times(&self, min: Severity) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .hits
            .iter()
            .filter(|(id, _)| {
                self.rule(id)
                    .is_some_and(|r| r.severity >= min && r.category == Category::Compromise)
            })
            .flat_map(|(_, hits)| hits.iter().map(|(_, ts)| *ts))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// How hits are computed from rules, as a number: stored hits computed otherwise (by an older
/// trawl) are computed again. 2: noise rules' hits include the rows of their requests (see
/// [`spread_noise_over_requests`]).
const HITS_VERSION: u32 = 2;

/// What stored hits were computed from: the rules, and how.
fn hits_digest(rules: &[Rule]) -> String {
    format!("{HITS_VERSION}:{}", rules::digest(rules))
}

fn detections_path(case: &Case) -> std::path::PathBuf {
    case.dir.join("detections.json")
}

/// A fingerprint of what the case holds.
pub fn case_state(case: &Case) -> String {
    manifest_state(&case.manifest)
}

/// A fingerprint of what a manifest holds.
pub fn manifest_state(manifest: &crate::case::Manifest) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in &manifest.files {
        h.update(f.id.to_le_bytes());
        h.update(f.lines.to_le_bytes());
        h.update(f.events.to_le_bytes());
    }
    crate::input::hex(&h.finalize())
}

/// The stored detections, if they match the case and the rules.
pub fn load_current(case: &Case, rules: &[Rule]) -> Option<Detections> {
    let text = std::fs::read_to_string(detections_path(case)).ok()?;
    let d: Detections = serde_json::from_str(&text).ok()?;
    (d.rules_digest == hits_digest(rules) && d.case_state == case_state(case)).then_some(d)
}

/// The stored detections, whatever they were computed on (the timeline shows them as they are).
pub fn load_stored(case: &Case) -> Option<Detections> {
    let text = std::fs::read_to_string(detections_path(case)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Loads stored detections or computes and stores them.
pub fn ensure(case: &Case, rules: &[Rule]) -> Result<Detections> {
    if let Some(d) = load_current(case, rules) {
        return Ok(d);
    }
    let d = detect(case, rules)?;
    save(case, &d)?;
    Ok(d)
}

/// Stores detections beside the index; a case on read-only media is answered from memory
/// each time instead.
pub fn save(case: &Case, d: &Detections) -> Result<()> {
    if case.read_only {
        return Ok(());
    }
    let text = serde_json::to_string(d).map_err(|e| Error::Usage(e.to_string()))?;
    write_atomic(&detections_path(case), text.as_bytes())
}

/// A rule (its place in the rules) and the events it found (event key, time), or why it could
/// not run.
type RuleHits = (usize, std::result::Result<Vec<(EventKey, i64)>, String>);

/// Runs every rule over the case, on as many threads as there are cores.
pub fn detect(case: &Case, rules: &[Rule]) -> Result<Detections> {
    detect_in(&crate::store::local::LocalStore::new(case)?, rules)
}

/// Runs every rule over a case in any store.
pub fn detect_in(store: &dyn Store, rules: &[Rule]) -> Result<Detections> {
    let mut vocab = store.vocabulary();
    // A rule about a column this case has no log for simply finds nothing.
    vocab.unknown_fields_match_nothing = true;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, rules.len().max(1));
    let per_worker: Vec<Result<Vec<RuleHits>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(rule) = rules.get(i) else {
                            return Ok(out);
                        };
                        match hits_of(rule, store, &vocab)? {
                            Ok(found) if found.is_empty() => {}
                            found => out.push((i, found)),
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Usage("a rule worker panicked".into())))
            })
            .collect()
    });
    let mut hits = BTreeMap::new();
    let mut not_run = Vec::new();
    for worker in per_worker {
        for (i, found) in worker? {
            let rule = &rules[i];
            match found {
                Ok(found) => {
                    hits.insert(rule.spec.id.clone(), found);
                }
                Err(reason) => not_run.push(NotRun {
                    id: rule.spec.id.clone(),
                    origin: rule.origin.clone(),
                    reason,
                }),
            }
        }
    }
    not_run.sort_by(|a, b| a.id.cmp(&b.id));
    spread_noise_over_requests(store, &vocab, rules, &mut hits)?;
    Ok(Detections {
        rules_digest: hits_digest(rules),
        case_state: manifest_state(store.manifest()),
        rules: rules.iter().map(info).collect(),
        hits,
        not_run,
    })
}

/// How far apart the rows of one request are looked for. Each log writes a request as it ends:
/// IIS's front end and HttpProxy within a second of each other, the back end just before them;
/// a long exploit request takes minutes.
const SAME_REQUEST_MS: i64 = 15 * 60 * 1000;

/// Events loaded at a time.
const PAGE: usize = 50_000;

/// Past this many clients of graded rows, noise rows near them are read whatever their client.
const MAX_CLIENTS: usize = 1_000;

/// One request is logged by IIS's front end, HttpProxy and IIS's back end under one GUID
/// (`cafeReqId`, `RequestId`), and what makes it noise may show in one of them only: HttpProxy's
/// `AnchorMailbox` names Microsoft's localhost check, IIS logs no cookie, and the back end
/// logs the front end's machine account, a success to the rule that reads it. A noise rule's
/// hits are widened to the rows of the same request that an attempt or success rule found, so
/// that the request is one probe in every log, never a probe in one and a success in another.
///
/// Only events are read, never looked up by GUID (the index holds a bucket of each GUID, whose
/// events are parsed to compare: 200 GUIDs took 3.5 s on ten million lines): the graded rows
/// (an attack's, few), then the noise rule's hits logged near one of them in time.
fn spread_noise_over_requests(
    store: &dyn Store,
    vocab: &query::Vocabulary,
    rules: &[Rule],
    hits: &mut BTreeMap<String, Vec<(EventKey, i64)>>,
) -> Result<()> {
    let with_hits = |keep: &dyn Fn(&Rule) -> bool| -> Vec<String> {
        rules
            .iter()
            .filter(|r| keep(r) && hits.contains_key(&r.spec.id))
            .map(|r| r.spec.id.clone())
            .collect()
    };
    let noise = with_hits(&|r| r.spec.category == Category::Noise);
    let graded =
        with_hits(&|r| r.spec.category != Category::Noise && r.spec.outcome().yields_to_noise());
    if noise.is_empty() || graded.is_empty() {
        return Ok(());
    }
    let noisy: HashSet<EventKey> = noise
        .iter()
        .flat_map(|id| hits[id].iter().map(|(key, _)| *key))
        .collect();
    let mut rows: Vec<(EventKey, i64)> = graded
        .iter()
        .flat_map(|id| hits[id].iter().copied())
        .filter(|(key, _)| !noisy.contains(key))
        .collect();
    rows.sort_unstable_by_key(|&(key, ts)| (ts, key));
    rows.dedup();
    // The graded rows by their request, and their clients.
    let mut by_request: HashMap<String, Vec<(EventKey, i64)>> = HashMap::new();
    let mut clients = BTreeSet::new();
    let mut anonymous = false;
    for page in rows.chunks(PAGE) {
        each_of(store, vocab, page, "", &mut |ev| {
            if let Some(id) = ev.request_id {
                by_request
                    .entry(id)
                    .or_default()
                    .push((EventKey::new(ev.file_id, ev.line), ev.ts_ms));
                // A private or loopback client is a row the front end's client was not joined
                // to (a back-end row without its front-end log): its request's other rows name
                // another client.
                match ev.client {
                    Some(c) if c.parse().is_ok_and(crate::attribution::is_public) => {
                        clients.insert(c);
                    }
                    _ => anonymous = true,
                }
            }
            Ok(())
        })?;
    }
    if by_request.is_empty() {
        return Ok(());
    }
    // The rows of one request share its client (HttpProxy's and the back end's are attributed
    // to the front end's): a scanner's other checks around the attack are not read. Unless a
    // row's client is unknown or not the real one: then every noise row near them is read.
    let same_client = if anonymous || clients.len() > MAX_CLIENTS {
        String::new()
    } else {
        let terms: Vec<String> = clients
            .iter()
            .map(|c| format!("client:{}", query::quote_value(c)))
            .collect();
        format!(" AND ({})", terms.join(" OR "))
    };
    let times: Vec<i64> = rows.iter().map(|&(_, ts)| ts).collect();
    let near = |ts: i64| {
        let i = times.partition_point(|&t| t < ts - SAME_REQUEST_MS);
        times.get(i).is_some_and(|&t| t <= ts + SAME_REQUEST_MS)
    };
    for id in &noise {
        let candidates: Vec<(EventKey, i64)> = hits[id]
            .iter()
            .copied()
            .filter(|&(_, ts)| near(ts))
            .collect();
        let mut added = Vec::new();
        for page in candidates.chunks(PAGE) {
            each_of(store, vocab, page, &same_client, &mut |ev| {
                let same = ev.request_id.as_deref().and_then(|r| by_request.get(r));
                added.extend(same.into_iter().flatten().copied());
                Ok(())
            })?;
        }
        if !added.is_empty()
            && let Some(h) = hits.get_mut(id)
        {
            h.extend(added);
            h.sort_unstable_by_key(|&(key, ts)| (ts, key));
            h.dedup();
        }
    }
    Ok(())
}

/// Reads the events of a list of (key, time) that also match `and` (a query's ` AND …` or
/// nothing), parsed, in time order.
fn each_of(
    store: &dyn Store,
    vocab: &query::Vocabulary,
    events: &[(EventKey, i64)],
    and: &str,
    f: &mut dyn FnMut(crate::view::EventView) -> Result<()>,
) -> Result<()> {
    // The list as the only named set of a private vocabulary, so no rule's name can clash.
    let mut vocab = vocab.clone();
    vocab.sets = vec![(
        "rule:events".to_string(),
        Arc::new(EventSet::new(events.iter().copied())),
    )];
    store
        .select(&format!("rule:events{and}"), &vocab)??
        .each_event(f)
}

/// The document detections are kept under in a store.
const DETECTIONS_DOC: &str = "detections.json";

/// Detections of a case in any store: kept with it when they match the case and the rules,
/// otherwise run and kept.
pub fn ensure_in(store: &dyn Store, rules: &[Rule], rescan: bool) -> Result<Detections> {
    if !rescan
        && let Some(d) = load_stored_in(store)
        && d.rules_digest == hits_digest(rules)
        && d.case_state == manifest_state(store.manifest())
    {
        return Ok(d);
    }
    let d = detect_in(store, rules)?;
    save_in(store, &d)?;
    Ok(d)
}

/// Keeps detections with a case in any store.
pub fn save_in(store: &dyn Store, d: &Detections) -> Result<()> {
    let text = serde_json::to_string(d).map_err(|e| Error::Usage(e.to_string()))?;
    store.save_doc(DETECTIONS_DOC, &text)
}

/// The detections kept with a case in any store, whatever they were computed on.
pub fn load_stored_in(store: &dyn Store) -> Option<Detections> {
    let text = store.load_doc(DETECTIONS_DOC).ok()??;
    serde_json::from_str(&text).ok()
}

/// The events one rule finds (event key, time), or why the index cannot run it on this case:
/// its query is checked when the rule is loaded, but what the index builds for it (a regex's
/// automaton, bounded in size) depends on the case's fields.
fn hits_of(
    rule: &Rule,
    store: &dyn Store,
    vocab: &query::Vocabulary,
) -> Result<std::result::Result<Vec<(EventKey, i64)>, String>> {
    // A pattern the index cannot search (too large as an automaton, a Unicode `\b`) is relaxed
    // in the candidate query, one at a time, and checked on each candidate instead.
    let mut text = std::borrow::Cow::Borrowed(rule.matcher.index_text.as_str());
    let sel = loop {
        match store.select(&text, vocab)? {
            Ok(sel) => break sel,
            Err(e) => match query::Matcher::relax_pattern_at(&text, e.column) {
                Some(relaxed) if e.message.starts_with(query::BAD_REGEX) && relaxed != text => {
                    text = std::borrow::Cow::Owned(relaxed);
                }
                _ => return Ok(Err(e.message)),
            },
        }
    };
    // Only what the index could not evaluate (`raw:`, a relaxed pattern) needs checking event by
    // event; the index's answer is otherwise the query's meaning, as `trawl search` gives it.
    if rule.matcher.exact_in_index && text == rule.matcher.index_text {
        return sel.all_keys().map(Ok);
    }
    if let Err(why) = rule.matcher.ready() {
        return Ok(Err(why));
    }
    let mut found = Vec::new();
    sel.each_event(&mut |ev| {
        if rule.matcher.matches(&ev) {
            found.push((EventKey::new(ev.file_id, ev.line), ev.ts_ms));
        }
        Ok(())
    })?;
    Ok(Ok(found))
}

fn info(r: &Rule) -> RuleInfo {
    RuleInfo {
        id: r.spec.id.clone(),
        title: r.spec.title.clone(),
        severity: r.spec.severity,
        category: r.spec.category,
        description: r.spec.description.trim().to_string(),
        references: r.spec.references.clone(),
        attack: r.spec.attack.clone(),
        suspects: r.spec.suspects,
        origin: r.origin.clone(),
        outcome: r.spec.outcome(),
        success_when: r.spec.success_when.clone(),
        by_agent: r.spec.by_agent,
    }
}
