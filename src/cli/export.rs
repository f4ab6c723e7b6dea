//! `trawl export`: a query's events as CSV, JSON lines, Timesketch or ECS.

use std::io::Write;
use std::path::Path;

use super::output::{Bar, plural, select, w};
use crate::error::{Error, Result};
use crate::marks::Annotations;
use crate::query::Vocabulary;
use crate::store::Store;

pub(super) fn export(
    out: &mut impl Write,
    store: &dyn Store,
    vocab: &Vocabulary,
    annotations: &Annotations,
    text: &str,
    format: Option<crate::export::Format>,
    (output, keep): (&Path, &crate::sink::Keep),
) -> Result<u8> {
    let format = match format
        .or_else(|| crate::export::Format::from_path(&output.to_string_lossy()))
    {
        Some(f) => f,
        None => {
            return Err(Error::Usage(format!(
                "{}: say --format (csv, jsonl, timesketch-csv, timesketch-jsonl, ecs) or use a known extension",
                output.display()
            )));
        }
    };
    let sel = match select(store, vocab, text)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let bar = Bar::new(true, "{bar:30} {pos}/{len} events, eta {eta}");
    let n =
        crate::export::export_to_file(&sel, annotations, format, output, keep, &|p| bar.report(p))?;
    bar.finish();
    let said = format!(
        "Exported {} to {} ({})",
        plural(n, "event", "events"),
        output.display(),
        format.name()
    );
    // On standard output the events are the output; the summary goes beside them.
    if crate::sink::is_stdout(output) {
        eprintln!("{said}");
    } else {
        writeln!(out, "{said}").map_err(w)?;
    }
    Ok(0)
}
