//! The responder's annotations: bookmarks, tags and notes on events, kept in the case directory
//! (`marks.json`) and written atomically on every change, so a crash loses at most the change
//! being made and never corrupts the file. A change is made under a lock (`marks.lock`) on the
//! marks as the file holds them, so two trawls marking one case take turns and lose nothing.
//!
//! An event is identified by its file and line (see [`crate::event::EventKey`]); the file's path
//! and the event's time are kept too, so marks find their event again if the file is re-read
//! under a new id.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::case::{Case, Manifest, write_atomic};
use crate::error::{Error, Result};
use crate::event::EventKey;
use crate::sets::EventSet;

/// What the responder said about one event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub file: String,
    pub line: u64,
    /// The event's time (RFC 3339), for reports and for finding it again.
    pub ts: String,
    #[serde(default)]
    pub bookmark: bool,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Mark {
    /// The event's time in ms (the mark stores it as written in reports).
    fn ts_ms(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.ts).map_or(i64::MIN, |t| t.timestamp_millis())
    }

    fn is_empty(&self) -> bool {
        !self.bookmark && self.tags.is_empty() && self.note.is_none()
    }

    /// Takes in another mark of the same event.
    fn merge(&mut self, other: Mark) {
        if self.file.is_empty() {
            self.file = other.file;
            self.line = other.line;
            self.ts = other.ts;
        }
        self.bookmark |= other.bookmark;
        self.tags.extend(other.tags);
        self.note = match (self.note.take(), other.note) {
            (Some(a), Some(b)) if a != b => Some(format!("{a}\n{b}")),
            (a, b) => a.or(b),
        };
    }
}

fn file_ids(manifest: &Manifest) -> HashMap<String, u64> {
    manifest
        .files
        .iter()
        .map(|f| (f.path.clone(), f.id))
        .collect()
}

/// Every mark of a case, by event key.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Marks {
    #[serde(default)]
    pub marks: BTreeMap<EventKey, Mark>,
    #[serde(skip)]
    path: PathBuf,
    /// The case's files by path, to re-attach marks whose file was re-read under a new id.
    #[serde(skip)]
    file_ids: HashMap<String, u64>,
    /// Kept in a shared store's journal instead of `path` (see [`Marks::load_from`]).
    #[serde(skip)]
    journal: Option<Journal>,
}

/// A shared store holding a case's marks as a journal.
#[derive(Clone)]
pub struct Journal(pub Arc<dyn crate::store::Store + Send + Sync>);

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Journal({})", self.0.name())
    }
}

/// Where an event is, to mark it.
#[derive(Debug, Clone)]
pub struct Target {
    pub file_id: u64,
    pub file: String,
    pub line: u64,
    pub ts: String,
}

/// At most this many events are tagged at once: every mark is a line of `marks.json`, which is
/// rewritten on each change, so tagging millions would make every later keystroke slow.
pub const MAX_TAGGED_AT_ONCE: u64 = 100_000;

/// The events of a selection, to mark them all.
pub fn targets_of(sel: &crate::selection::Selection, manifest: &Manifest) -> Result<Vec<Target>> {
    check_count(sel.len())?;
    let mut keys = Vec::with_capacity(sel.len() as usize);
    for page in sel.pages(4096) {
        keys.extend(page.into_iter().map(|r| (r.key(), r.ts_ms)));
    }
    Ok(targets_of_keys(&keys, manifest))
}

/// The events of a selection in any store, to mark them all.
pub fn targets_of_selected(
    sel: &dyn crate::store::Selected,
    manifest: &Manifest,
) -> Result<Vec<Target>> {
    check_count(sel.len())?;
    Ok(targets_of_keys(&sel.all_keys()?, manifest))
}

fn check_count(n: u64) -> Result<()> {
    if n > MAX_TAGGED_AT_ONCE {
        return Err(Error::Usage(format!(
            "{n} events are more than {MAX_TAGGED_AT_ONCE} to tag at once: narrow the query"
        )));
    }
    Ok(())
}

/// Events by key and time, to mark them.
pub fn targets_of_keys(keys: &[(EventKey, i64)], manifest: &Manifest) -> Vec<Target> {
    let paths: HashMap<u64, &str> = manifest
        .files
        .iter()
        .map(|f| (f.id, f.path.as_str()))
        .collect();
    keys.iter()
        .map(|(k, ts)| Target {
            file_id: k.file_id(),
            file: paths
                .get(&k.file_id())
                .map_or_else(|| format!("<file #{}>", k.file_id()), |p| (*p).to_string()),
            line: k.line(),
            ts: crate::formats::time::format_ms(*ts),
        })
        .collect()
}

/// The journal a shared store keeps marks in.
const MARKS_JOURNAL: &str = "marks";

fn append_changes(store: &dyn crate::store::Store, changes: &[Change]) -> Result<()> {
    let entries = changes
        .iter()
        .map(|c| serde_json::to_string(c).map_err(|e| Error::Usage(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    store.append_entries(MARKS_JOURNAL, &entries)
}

/// One change of marks as a shared store keeps them: every responder's changes are appended
/// and replayed in order, so that two responders marking at once both keep their marks.
#[derive(Debug, Serialize, Deserialize)]
struct Change {
    file_id: u64,
    file: String,
    line: u64,
    ts: String,
    /// A tag added (`on`) or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
    #[serde(default)]
    on: bool,
    /// The bookmark set or cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bookmark: Option<bool>,
    /// The note set (`Some("")` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl Change {
    fn of(key: EventKey, m: &Mark) -> Change {
        Change {
            file_id: key.file_id(),
            file: m.file.clone(),
            line: m.line,
            ts: m.ts.clone(),
            tag: None,
            on: false,
            bookmark: None,
            note: None,
        }
    }

    /// What turns `before` into `after`, event by event.
    fn diff(before: &BTreeMap<EventKey, Mark>, after: &BTreeMap<EventKey, Mark>) -> Vec<Change> {
        let empty = Mark::default();
        let mut out = Vec::new();
        let keys: BTreeSet<&EventKey> = before.keys().chain(after.keys()).collect();
        for key in keys {
            let (b, a) = (
                before.get(key).unwrap_or(&empty),
                after.get(key).unwrap_or(&empty),
            );
            let base = after.get(key).or(before.get(key)).unwrap_or(&empty);
            for tag in a.tags.difference(&b.tags) {
                out.push(Change {
                    tag: Some(tag.clone()),
                    on: true,
                    ..Change::of(*key, base)
                });
            }
            for tag in b.tags.difference(&a.tags) {
                out.push(Change {
                    tag: Some(tag.clone()),
                    ..Change::of(*key, base)
                });
            }
            if a.bookmark != b.bookmark {
                out.push(Change {
                    bookmark: Some(a.bookmark),
                    ..Change::of(*key, base)
                });
            }
            if a.note != b.note {
                out.push(Change {
                    note: Some(a.note.clone().unwrap_or_default()),
                    ..Change::of(*key, base)
                });
            }
        }
        out
    }

    fn apply(self, marks: &mut Marks) {
        let t = Target {
            file_id: self.file_id,
            file: self.file,
            line: self.line,
            ts: self.ts,
        };
        let mark = marks.mark_mut(&t);
        if let Some(tag) = self.tag {
            if self.on {
                mark.tags.insert(tag);
            } else {
                mark.tags.remove(&tag);
            }
        }
        if let Some(b) = self.bookmark {
            mark.bookmark = b;
        }
        if let Some(note) = self.note {
            mark.note = (!note.is_empty()).then_some(note);
        }
        marks.drop_if_empty(&t);
    }
}

impl Marks {
    /// The marks kept in a shared store (its journal replayed).
    pub fn load_from(store: &dyn crate::store::Store) -> Result<Marks> {
        let mut marks = Marks::default();
        marks.replay(store)?;
        Ok(marks)
    }

    /// The marks of a shared store, changed through its journal from then on (the timeline).
    pub fn journaled(store: Arc<dyn crate::store::Store + Send + Sync>) -> Result<Marks> {
        let mut marks = Marks::load_from(store.as_ref())?;
        marks.journal = Some(Journal(store));
        Ok(marks)
    }

    fn replay(&mut self, store: &dyn crate::store::Store) -> Result<()> {
        self.marks.clear();
        for entry in store.entries(MARKS_JOURNAL)? {
            let c: Change = serde_json::from_str(&entry)
                .map_err(|e| Error::Usage(format!("unreadable mark in the store: {e}")))?;
            c.apply(self);
        }
        Ok(())
    }
}

impl Target {
    fn key(&self) -> EventKey {
        EventKey::new(self.file_id, self.line)
    }
}

/// A tag name: letters, digits and `-_.:`; marks are data a report prints.
fn check_tag(tag: &str) -> Result<()> {
    if valid_tag(tag) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "tag '{tag}': use letters, digits and - _ . : (64 at most)"
        )))
    }
}

pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

impl Marks {
    /// Loads the case's marks (none yet is fine), re-attaching marks whose file was re-read.
    pub fn load(case: &Case) -> Result<Marks> {
        let mut marks = Marks {
            path: case.dir.join("marks.json"),
            file_ids: file_ids(&case.manifest),
            ..Marks::default()
        };
        marks.reload()?;
        Ok(marks)
    }

    /// Reads the file again.
    fn reload(&mut self) -> Result<()> {
        self.marks = match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                serde_json::from_str::<Marks>(&text)
                    .map_err(|e| Error::Case {
                        path: self.path.clone(),
                        message: format!("unreadable marks: {e}"),
                    })?
                    .marks
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        self.reattach();
        Ok(())
    }

    /// After a change: writes it, or on failure goes back to what the file holds, so that
    /// nothing is shown as saved that is not.
    fn commit(&mut self) -> Result<()> {
        match self.save() {
            Ok(()) => Ok(()),
            Err(e) => {
                // The write failed; what the file holds is the truth. If it cannot be read
                // either, the write's error is the one to report.
                let _ = self.reload();
                Err(e)
            }
        }
    }

    /// Marks whose file id is gone are moved to the file now ingested under the same path
    /// (merged with any mark already there); marks whose file is not in the case at all are
    /// kept as they are (a responder's notes are never dropped silently), they just match no
    /// event.
    fn reattach(&mut self) {
        let live: HashSet<u64> = self.file_ids.values().copied().collect();
        let stale: Vec<EventKey> = self
            .marks
            .keys()
            .copied()
            .filter(|k| !live.contains(&k.file_id()))
            .collect();
        for key in stale {
            let Some(id) = self
                .marks
                .get(&key)
                .and_then(|m| self.file_ids.get(&m.file).copied())
            else {
                continue;
            };
            if let Some(mark) = self.marks.remove(&key) {
                let slot = self.marks.entry(EventKey::new(id, mark.line)).or_default();
                slot.merge(mark);
            }
        }
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Usage(e.to_string()))?;
        write_atomic(&self.path, text.as_bytes())
    }

    pub fn get(&self, file_id: u64, line: u64) -> Option<&Mark> {
        self.marks.get(&EventKey::new(file_id, line))
    }

    /// Makes a change under the case's marks lock, on the marks as the file holds them, and
    /// saves it; the lock is released when the change is on disk (or undone).
    fn transaction<R>(&mut self, change: impl FnOnce(&mut Marks) -> R) -> Result<R> {
        if let Some(Journal(store)) = self.journal.clone() {
            // Others' changes first; then this one, appended as what it changed.
            self.replay(store.as_ref())?;
            let before = self.marks.clone();
            let out = change(self);
            let changes = Change::diff(&before, &self.marks);
            if let Err(e) = append_changes(store.as_ref(), &changes) {
                self.marks = before;
                return Err(e);
            }
            return Ok(out);
        }
        let lock_path = self.path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        // Another trawl (a second timeline, `trawl tag`) may have written since we last read.
        self.reload()?;
        let out = change(self);
        self.commit()?;
        Ok(out)
    }

    /// The mark of an event, created if it has none.
    fn mark_mut(&mut self, t: &Target) -> &mut Mark {
        self.marks.entry(t.key()).or_insert_with(|| Mark {
            file: t.file.clone(),
            line: t.line,
            ts: t.ts.clone(),
            ..Mark::default()
        })
    }

    /// Drops an event's mark when nothing is left in it.
    fn drop_if_empty(&mut self, t: &Target) {
        if self.marks.get(&t.key()).is_some_and(Mark::is_empty) {
            self.marks.remove(&t.key());
        }
    }

    fn update(&mut self, t: &Target, change: impl FnOnce(&mut Mark)) -> Result<()> {
        self.transaction(|marks| {
            change(marks.mark_mut(t));
            marks.drop_if_empty(t);
        })
    }

    /// Toggles the bookmark of an event; returns whether it is now bookmarked.
    pub fn toggle_bookmark(&mut self, t: &Target) -> Result<bool> {
        let mut now = false;
        self.update(t, |m| {
            m.bookmark = !m.bookmark;
            now = m.bookmark;
        })?;
        Ok(now)
    }

    /// Adds a tag to events, or removes it when every one of them already has it; returns
    /// whether it was added.
    pub fn toggle_tag(&mut self, targets: &[Target], tag: &str) -> Result<bool> {
        check_tag(tag)?;
        let tag = tag.to_lowercase();
        self.transaction(|marks| {
            let all_have = targets.iter().all(|t| {
                marks
                    .marks
                    .get(&t.key())
                    .is_some_and(|m| m.tags.contains(&tag))
            });
            marks.apply_tag(targets, &tag, !all_have);
            !all_have
        })
    }

    /// Adds (or removes) a tag on events, saved once for all of them. Tags are kept in lower
    /// case, as queries match them.
    /// Tags or untags events; returns how many changed (an event already tagged, or not
    /// tagged when removing, is not counted).
    pub fn set_tag(&mut self, targets: &[Target], tag: &str, on: bool) -> Result<usize> {
        check_tag(tag)?;
        let tag = tag.to_lowercase();
        self.transaction(|marks| marks.apply_tag(targets, &tag, on))
    }

    fn apply_tag(&mut self, targets: &[Target], tag: &str, on: bool) -> usize {
        let mut changed = 0;
        for t in targets {
            let mark = self.mark_mut(t);
            let did = if on {
                mark.tags.insert(tag.to_string())
            } else {
                mark.tags.remove(tag)
            };
            changed += usize::from(did);
            self.drop_if_empty(t);
        }
        changed
    }

    /// Sets (or with an empty text, removes) the note of an event.
    pub fn set_note(&mut self, t: &Target, note: &str) -> Result<()> {
        let note = note.trim();
        self.update(t, |m| m.note = (!note.is_empty()).then(|| note.to_string()))
    }

    /// Every tag in use, for completion.
    pub fn tags(&self) -> BTreeSet<String> {
        self.marks
            .values()
            .flat_map(|m| m.tags.iter().cloned())
            .collect()
    }

    /// The bookmarked events.
    pub fn bookmarked(&self) -> EventSet {
        EventSet::new(
            self.marks
                .iter()
                .filter(|(_, m)| m.bookmark)
                .map(|(k, m)| (*k, m.ts_ms())),
        )
    }

    /// Event sets for the query language: `tag:<name>`, `marked:true`, `bookmarked:true`,
    /// `noted:true`.
    pub fn sets(&self) -> Vec<(String, Arc<EventSet>)> {
        let mut by_tag: BTreeMap<String, Vec<(EventKey, i64)>> = BTreeMap::new();
        let (mut bookmarked, mut noted, mut marked) = (Vec::new(), Vec::new(), Vec::new());
        for (key, m) in &self.marks {
            let event = (*key, m.ts_ms());
            for tag in &m.tags {
                by_tag.entry(tag.to_lowercase()).or_default().push(event);
            }
            if m.bookmark {
                bookmarked.push(event);
            }
            if m.note.is_some() {
                noted.push(event);
            }
            marked.push(event);
        }
        let mut out: Vec<(String, Arc<EventSet>)> = by_tag
            .into_iter()
            .map(|(t, events)| (format!("tag:{t}"), Arc::new(EventSet::new(events))))
            .collect();
        out.push(("marked:true".into(), Arc::new(EventSet::new(marked))));
        out.push((
            "bookmarked:true".into(),
            Arc::new(EventSet::new(bookmarked)),
        ));
        out.push(("noted:true".into(), Arc::new(EventSet::new(noted))));
        out
    }
}

/// What travels with each event shown or exported: its rule hits and the responder's marks.
#[derive(Debug, Default)]
pub struct Annotations {
    /// Each rule's hits, by rule id (the same sets the query vocabulary names `rule:<id>`).
    rules: Vec<(String, std::sync::Arc<crate::sets::EventSet>)>,
    pub marks: Marks,
}

impl Annotations {
    /// The case's stored rule hits and its marks.
    pub fn load(case: &Case) -> Result<Annotations> {
        Ok(Annotations {
            rules: crate::hunt::load_stored(case)
                .map(|d| d.hit_sets())
                .unwrap_or_default(),
            marks: Marks::load(case)?,
        })
    }

    /// With these rule hits (the timeline shares its detections' sets).
    pub fn new(rules: Vec<(String, std::sync::Arc<crate::sets::EventSet>)>, marks: Marks) -> Self {
        Annotations { rules, marks }
    }

    /// Other rule hits (detections run again).
    pub fn set_rules(&mut self, rules: Vec<(String, std::sync::Arc<crate::sets::EventSet>)>) {
        self.rules = rules;
    }

    /// The rule ids that hit an event.
    pub fn rules_of(&self, key: EventKey, ts_ms: i64) -> Vec<&str> {
        self.rules
            .iter()
            .filter(|(_, set)| set.contains(key, ts_ms))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Every event some rule hit: one search per event, for passes over many events, before
    /// [`Annotations::rules_of`] looks in each rule's set.
    pub fn any_rule(&self) -> crate::sets::EventSet {
        crate::sets::EventSet::union(self.rules.iter().map(|(_, s)| s.as_ref()))
    }

    /// Puts an event's rule hits, tags, note and bookmark on it.
    pub fn apply(&self, ev: &mut crate::view::EventView) {
        let key = EventKey::new(ev.file_id, ev.line);
        ev.rules = self
            .rules_of(key, ev.ts_ms)
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(m) = self.marks.get(ev.file_id, ev.line) {
            ev.tags = m.tags.iter().cloned().collect();
            ev.note = m.note.clone();
            ev.bookmark = m.bookmark;
        }
    }
}

/// What queries may name in this case: its fields, `rule:<id>` from the stored detections, and
/// `tag:`, `marked:`, `bookmarked:`, `noted:` from the responder's marks.
pub fn vocabulary(case: &Case) -> Result<crate::query::Vocabulary> {
    let mut vocab = crate::query::Vocabulary::of(&case.manifest);
    if let Some(d) = crate::hunt::load_stored(case) {
        vocab.sets = d.sets();
    }
    vocab.sets.extend(Marks::load(case)?.sets());
    Ok(vocab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(line: u64) -> Target {
        Target {
            file_id: 3,
            file: "MBX-A/u_ex210305.log".into(),
            line,
            ts: "2021-03-05T17:42:19.000Z".into(),
        }
    }

    fn case() -> (tempfile::TempDir, Case) {
        let dir = tempfile::tempdir().expect("tempdir");
        let case = Case::open_or_create(&dir.path().join("case")).expect("case");
        (dir, case)
    }

    #[test]
    fn marks_survive_a_reopen() {
        let (_dir, case) = case();
        let mut marks = Marks::load(&case).expect("load");
        assert!(marks.toggle_bookmark(&target(5)).expect("bookmark"));
        assert!(
            marks
                .toggle_tag(&[target(5), target(6)], "webshell")
                .expect("tag")
        );
        marks
            .set_note(&target(6), "first POST to the shell")
            .expect("note");
        let again = Marks::load(&case).expect("reload");
        assert_eq!(again.marks.len(), 2);
        let m = again.get(3, 6).expect("mark");
        assert_eq!(m.note.as_deref(), Some("first POST to the shell"));
        assert!(m.tags.contains("webshell"));
        assert!(again.get(3, 5).is_some_and(|m| m.bookmark));
        assert_eq!(again.tags(), BTreeSet::from(["webshell".to_string()]));
        let sets = again.sets();
        let tagged = &sets
            .iter()
            .find(|(n, _)| n == "tag:webshell")
            .expect("set")
            .1;
        assert_eq!(tagged.len(), 2);
    }

    #[test]
    fn two_writers_do_not_overwrite_each_other() {
        let (_dir, case) = case();
        // A timeline open on the case, and `trawl tag` run meanwhile.
        let mut timeline = Marks::load(&case).expect("load");
        let mut cli = Marks::load(&case).expect("load");
        cli.set_tag(&[target(7)], "Exfil", true).expect("tag");
        timeline.toggle_bookmark(&target(8)).expect("bookmark");
        let after = Marks::load(&case).expect("reload");
        assert!(
            after.get(3, 7).is_some_and(|m| m.tags.contains("exfil")),
            "tags kept, in lower case"
        );
        assert!(after.get(3, 8).is_some_and(|m| m.bookmark));
    }

    #[test]
    fn writers_at_the_same_instant_take_turns() {
        let (_dir, case) = case();
        std::thread::scope(|scope| {
            for writer in 0..4u64 {
                let case = &case;
                scope.spawn(move || {
                    let mut marks = Marks::load(case).expect("load");
                    for i in 0..25 {
                        marks
                            .toggle_bookmark(&target(writer * 100 + i))
                            .expect("bookmark");
                    }
                });
            }
        });
        let after = Marks::load(&case).expect("reload");
        assert_eq!(after.bookmarked().len(), 100, "no change lost");
    }

    #[test]
    fn toggling_removes_and_bad_tags_are_refused() {
        let (_dir, case) = case();
        let mut marks = Marks::load(&case).expect("load");
        assert!(marks.toggle_tag(&[target(1)], "exfil").expect("tag"));
        assert!(!marks.toggle_tag(&[target(1)], "exfil").expect("untag"));
        assert!(marks.marks.is_empty(), "an empty mark is dropped");
        assert!(marks.toggle_tag(&[target(1)], "two words").is_err());
        assert!(marks.toggle_tag(&[target(1)], "\x1b[31m").is_err());
    }

    #[test]
    fn a_crash_between_write_and_rename_leaves_the_old_file() {
        let (_dir, case) = case();
        let mut marks = Marks::load(&case).expect("load");
        marks.toggle_bookmark(&target(1)).expect("first");
        let before = std::fs::read(case.dir.join("marks.json")).expect("read");
        crate::case::fail_next_write_before_rename();
        assert!(marks.toggle_bookmark(&target(2)).is_err(), "injected fault");
        let after = std::fs::read(case.dir.join("marks.json")).expect("read");
        assert_eq!(before, after, "the file is the last complete version");
        let reloaded = Marks::load(&case).expect("still readable");
        assert_eq!(reloaded.marks.len(), 1);
        let stray: Vec<_> = std::fs::read_dir(&case.dir)
            .expect("case dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
            .collect();
        assert!(stray.is_empty(), "no temporary file left: {stray:?}");
    }
}
