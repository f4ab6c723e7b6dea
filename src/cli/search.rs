//! `trawl search`: a query's events in time order, as lines or JSON.

use std::io::Write;

use super::output::{select, w};
use crate::error::{Error, Result};
use crate::query::Vocabulary;
use crate::sanitize::escape_controls;
use crate::store::Store;
use crate::view;

#[allow(clippy::too_many_arguments)]
pub(super) fn search(
    out: &mut impl Write,
    store: &dyn Store,
    vocab: &Vocabulary,
    annotate: &dyn Fn(&mut view::EventView),
    text: &str,
    json: bool,
    limit: u64,
    reverse: bool,
    count: bool,
) -> Result<u8> {
    let sel = match select(store, vocab, text)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if count {
        writeln!(out, "{}", sel.len()).map_err(w)?;
        return Ok(0);
    }
    let n = limit.min(sel.len());
    let start = if reverse { sel.len() - n } else { 0 };
    // In pages: a limit of millions is not held in memory at once.
    const PAGE: u64 = 10_000;
    let mut pages: Vec<(u64, u64)> = (0..n.div_ceil(PAGE))
        .map(|i| (start + i * PAGE, PAGE.min(n - i * PAGE)))
        .collect();
    if reverse {
        pages.reverse();
    }
    for (rank, len) in pages {
        let mut events = sel.events(rank, len as usize)?;
        if reverse {
            events.reverse();
        }
        for mut ev in events {
            // Rule hits and the responder's marks travel with each event, as in exports.
            annotate(&mut ev);
            if json {
                let line = serde_json::to_string(&ev).map_err(|e| Error::Usage(e.to_string()))?;
                let line = crate::sanitize::json_escape_unsafe(line);
                writeln!(out, "{line}").map_err(w)?;
            } else {
                writeln!(out, "{}", escape_controls(&text_line(&ev))).map_err(w)?;
            }
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
