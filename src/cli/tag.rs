//! `trawl tag`: tag (or untag) every event of a query, as `:tag` does in the timeline.

use std::io::Write;

use super::output::{compile, plural, select, w};
use crate::case::Case;
use crate::error::Result;
use crate::query::Vocabulary;
use crate::selection::Selection;
use crate::store::Store;

pub(super) fn tag(
    out: &mut impl Write,
    case: &Case,
    name: &str,
    text: &str,
    remove: bool,
) -> Result<u8> {
    let compiled = match compile(case, text)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let reader = case.reader()?;
    let sel = Selection::select(&reader.searcher(), &compiled)?;
    let targets = crate::marks::targets_of(&sel, &case.manifest)?;
    let mut marks = crate::marks::Marks::load(case)?;
    let changed = marks.set_tag(&targets, name, !remove)?;
    say(out, name, remove, changed, targets.len())
}

/// `trawl tag --store …`: the tag kept in the store, for every responder of the case.
pub(super) fn tag_store(
    out: &mut impl Write,
    store: &dyn Store,
    vocab: &Vocabulary,
    name: &str,
    text: &str,
    remove: bool,
) -> Result<u8> {
    let sel = match select(store, vocab, text)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let (changed, matched) = crate::marks::Marks::tag_in(store, &sel, name, !remove)?;
    say(out, name, remove, changed, matched)
}

fn say(
    out: &mut impl Write,
    name: &str,
    remove: bool,
    changed: usize,
    matched: usize,
) -> Result<u8> {
    let verb = if remove { "Untagged" } else { "Tagged" };
    let already = matched - changed;
    let rest = match (already, remove) {
        (0, _) => String::new(),
        (n, false) => format!(" ({n} already were)"),
        (n, true) => format!(" ({n} of those matched were not)"),
    };
    writeln!(
        out,
        "{verb} {} {name}{rest}",
        plural(changed as u64, "event", "events")
    )
    .map_err(w)?;
    Ok(0)
}
