//! `trawl tag`: tag (or untag) every event of a query, as `:tag` does in the timeline.

use std::io::Write;

use super::output::{plural, select, w};
use crate::error::Result;
use crate::source::Source;

pub(super) fn tag(
    out: &mut impl Write,
    source: &Source,
    name: &str,
    text: &str,
    remove: bool,
) -> Result<u8> {
    let (vocab, _) = source.annotated()?;
    let sel = match source.with(|store| select(store, &vocab, text))? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let targets = crate::marks::targets_of_selected(&sel, source.manifest())?;
    // Kept where the case keeps its marks: its file, or the store's journal.
    let changed = source.marks()?.set_tag(&targets, name, !remove)?;
    say(out, name, remove, changed, targets.len())
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
    // The tag as kept and queried: in lower case.
    writeln!(
        out,
        "{verb} {} {}{rest}",
        plural(changed as u64, "event", "events"),
        name.to_lowercase()
    )
    .map_err(w)?;
    Ok(0)
}
