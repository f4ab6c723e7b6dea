//! `trawl tag`: tag (or untag) every event of a query, as `:tag` does in the timeline.

use std::io::Write;

use super::output::{compile, plural, w};
use crate::case::Case;
use crate::error::Result;
use crate::selection::Selection;

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
    let verb = if remove { "Untagged" } else { "Tagged" };
    let already = targets.len() - changed;
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
