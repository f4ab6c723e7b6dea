//! `trawl search`: a query's events in time order, as lines or JSON.

use std::io::Write;

use super::output::{compile, w};
use crate::case::Case;
use crate::error::{Error, Result};
use crate::sanitize::escape_controls;
use crate::selection::Selection;
use crate::view;

pub(super) fn search(
    out: &mut impl Write,
    case: &Case,
    text: &str,
    json: bool,
    limit: u64,
    reverse: bool,
    count: bool,
) -> Result<u8> {
    let compiled = match compile(case, text)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let reader = case.reader()?;
    let searcher = reader.searcher();
    let sel = Selection::select(&searcher, &compiled)?;
    if count {
        writeln!(out, "{}", sel.len()).map_err(w)?;
        return Ok(0);
    }
    let n = limit.min(sel.len());
    let start = if reverse { sel.len() - n } else { 0 };
    let mut rows = sel.rows(start, n as usize);
    if reverse {
        rows.reverse();
    }
    let mut loader = view::Loader::new(&searcher, &case.fields, &case.manifest);
    // Rule hits and the responder's marks travel with each event, as in exports.
    let annotations = crate::marks::Annotations::load(case)?;
    for row in rows {
        let mut ev = loader.load(row.addr)?;
        annotations.apply(&mut ev);
        if json {
            let line = serde_json::to_string(&ev).map_err(|e| Error::Usage(e.to_string()))?;
            let line = crate::sanitize::json_escape_unsafe(line);
            writeln!(out, "{line}").map_err(w)?;
        } else {
            writeln!(out, "{}", escape_controls(&text_line(&ev))).map_err(w)?;
        }
    }
    if !json && sel.len() > n {
        eprintln!("({} of {} events shown; --limit N for more)", n, sel.len());
    }
    Ok(0)
}

/// One event as a line of text.
fn text_line(ev: &view::EventView) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let target = match (&ev.path, &ev.query) {
        (Some(p), Some(q)) => format!("{p}?{q}"),
        (Some(p), None) => p.clone(),
        _ => ev.summary().unwrap_or_else(|| "-".into()),
    };
    format!(
        "{} {} {} {} {} {} {} \"{}\" {}",
        ev.ts,
        dash(&ev.host),
        ev.source,
        ev.address(),
        dash(&ev.method),
        ev.status.map_or("-".into(), |s| s.to_string()),
        target,
        dash(&ev.ua),
        ev.location()
    )
}
