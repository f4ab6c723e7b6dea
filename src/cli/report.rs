//! `trawl report`: the incident report, Markdown or one self-contained HTML file.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ReportFormat;
use super::output::{load_rules, load_rules_from, w};
use crate::case::Case;
use crate::error::Result;
use crate::store::Store;

pub(super) fn report(
    out: &mut impl Write,
    case: &Case,
    format: ReportFormat,
    output: &Path,
    rules: &[PathBuf],
) -> Result<()> {
    let d = crate::hunt::ensure(case, &load_rules(case, rules)?)?;
    let store = crate::store::local::LocalStore::new(case)?;
    let marks = crate::marks::Marks::load(case)?;
    let report = crate::report::build(&store, &d, &marks)?;
    write(
        out,
        &report,
        &case.dir.display().to_string(),
        format,
        output,
    )
}

/// `trawl report --store …`: the same from a case in a store.
pub(super) fn report_store(
    out: &mut impl Write,
    store: &dyn Store,
    format: ReportFormat,
    output: &Path,
    rules: &[PathBuf],
) -> Result<()> {
    let d = crate::hunt::ensure_in(store, &load_rules_from(None, rules)?, false)?;
    let marks = crate::marks::Marks::load_from(store)?;
    let report = crate::report::build(store, &d, &marks)?;
    write(out, &report, &store.name(), format, output)
}

fn write(
    out: &mut impl Write,
    report: &crate::report::IncidentReport,
    name: &str,
    format: ReportFormat,
    output: &Path,
) -> Result<()> {
    let text = match format {
        ReportFormat::Md => crate::report::markdown(report, name),
        ReportFormat::Html => crate::report::html(report, name),
    };
    crate::sink::write(output, text.as_bytes())?;
    if crate::sink::is_stdout(output) {
        return Ok(());
    }
    writeln!(out, "Wrote the report to {}", output.display()).map_err(w)
}
