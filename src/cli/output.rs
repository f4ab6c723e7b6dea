//! What every command shares: numbers as people read them, progress bars, and one answer to
//! a query that cannot be understood.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use crate::case::Case;
use crate::error::{Error, Result};

/// Exit codes.
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_BAD_QUERY: u8 = 2;

/// Selects a command's query's events in a store, with everything the case can name (fields,
/// and the rule hits and marks of `vocab`). A query that cannot be understood is said on stderr
/// with a caret under where, and the command ends with [`EXIT_BAD_QUERY`]: `Err(code)`.
pub(super) fn select(
    store: &dyn crate::store::Store,
    vocab: &crate::query::Vocabulary,
    text: &str,
) -> Result<std::result::Result<crate::store::Owned, u8>> {
    match store.select(text, vocab)? {
        Ok(sel) => {
            let unindexed = crate::query::unindexed_words(text);
            if !unindexed.is_empty() {
                eprintln!(
                    "trawl: note: {} not searched as a word (runs of 5+ digits and hex runs of 8+ are not indexed, a hash's are): ask the field that holds it (ProcessId:23392, LogonId:0x3e7)",
                    crate::sanitize::escape_controls(&unindexed.join(", "))
                );
            }
            Ok(Ok(sel))
        }
        Err(e) => Ok(Err(bad_query(text, &e))),
    }
}

fn bad_query(text: &str, e: &crate::error::QueryError) -> u8 {
    let (shown, caret) = around(text, e.column);
    eprintln!(
        "trawl: bad query: {}",
        crate::sanitize::escape_controls(&e.to_string())
    );
    eprintln!("  {shown}");
    eprintln!("  {}^", " ".repeat(caret));
    EXIT_BAD_QUERY
}

/// The part of a query around a column (1-based, in characters) that fits a line, escaped, and
/// where the caret goes under it: a query of a megabyte is not echoed whole.
fn around(text: &str, column: usize) -> (String, usize) {
    const WIDTH: usize = 100;
    let chars: Vec<char> = text.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let start = at.saturating_sub(WIDTH / 2);
    let end = (start + WIDTH).min(chars.len());
    let piece: String = chars[start..end].iter().collect();
    let before: String = chars[start..at].iter().collect();
    let lead = if start > 0 { "…" } else { "" };
    let tail = if end < chars.len() { "…" } else { "" };
    let caret = lead.chars().count() + crate::sanitize::escape_controls(&before).chars().count();
    (
        format!("{lead}{}{tail}", crate::sanitize::escape_controls(&piece)),
        caret,
    )
}

/// The rules in force for a case. Sigma rules trawl cannot express are said on stderr, one
/// line each, so a responder knows what did not run.
pub(super) fn load_rules(case: &Case, extra: &[PathBuf]) -> Result<Vec<crate::rules::Rule>> {
    load_rules_from(Some(&case.dir), extra)
}

/// The built-in rules, a case directory's (when the case has one) and `extra`.
pub(super) fn load_rules_from(
    dir: Option<&Path>,
    extra: &[PathBuf],
) -> Result<Vec<crate::rules::Rule>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(dir) = dir {
        let config = crate::case::CaseConfig::load(dir)?;
        for path in config.rules.iter().map(|p| dir.join(p)) {
            if path.exists() {
                paths.push(path);
            } else {
                // Moved or deleted since it was named: said, and the case still opens.
                eprintln!(
                    "trawl: rules named in {} not found, not run: {}",
                    dir.join(crate::case::CONFIG_FILE).display(),
                    crate::sanitize::escape_controls(&path.display().to_string())
                );
            }
        }
    }
    paths.extend(extra.iter().cloned());
    // A path named by the case and given again (as `ingest --rules` names them) is read once.
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    let set = crate::rules::load(&match dir {
        Some(dir) => crate::rules::files_for(dir, &paths),
        None => paths,
    })
    .map_err(|e| Error::Usage(format!("rules: {e}")))?;
    for s in &set.skipped {
        left_out("sigma rule not used", &s.file, &s.rule, &s.reason);
    }
    Ok(set.rules)
}

/// The rules' hits for the commands, with the rules the index could not run on this case
/// listed on stderr (one line each, like the Sigma rules trawl does not use).
pub(super) fn detections(
    source: &crate::source::Source,
    rules: &[crate::rules::Rule],
    rescan: bool,
) -> Result<crate::hunt::Detections> {
    let d = source.detections_for(rules, rescan)?;
    for n in &d.not_run {
        left_out("rule not run", &n.origin, &n.id, &n.reason);
    }
    Ok(d)
}

/// One line on stderr for a rule left out, `trawl: WHAT: FILE: ID: why` (the file and the
/// reason come from the rules' authors: escaped).
fn left_out(what: &str, file: &str, id: &str, reason: &str) {
    use crate::sanitize::escape_controls;
    eprintln!(
        "trawl: {what}: {}: {}: {}",
        escape_controls(file),
        escape_controls(id),
        escape_controls(reason)
    );
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub(super) struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    pub(super) fn new(enabled: bool, template: &str) -> Bar {
        Bar((enabled && io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        }))
    }

    pub(super) fn for_ingest(enabled: bool) -> Bar {
        Bar::new(
            enabled,
            "{spinner} {bytes}/{total_bytes} {bar:30} {msg} eta {eta}",
        )
    }

    pub(super) fn report(&self, p: crate::progress::Progress) {
        let Some(bar) = &self.0 else {
            return;
        };
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.unit == crate::progress::Unit::Bytes {
            let secs = bar.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} events, {:.0}/s",
                p.events,
                p.events as f64 / secs
            ));
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

pub(super) fn w(e: io::Error) -> Error {
    Error::io("<stdout>", e)
}

pub(super) use crate::sanitize::thousands;

pub(super) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub(super) fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(9_876_543), "9,876,543");
    }
}
