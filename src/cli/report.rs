//! `trawl report`: the incident report, Markdown or one self-contained HTML file.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ReportFormat;
use super::output::{load_rules, w};
use crate::case::Case;
use crate::error::Result;

pub(super) fn report(
    out: &mut impl Write,
    case: &Case,
    format: ReportFormat,
    output: &Path,
    rules: &[PathBuf],
) -> Result<()> {
    let d = crate::hunt::ensure(case, &load_rules(case, rules)?)?;
    let report = crate::report::build(case, &d)?;
    let text = match format {
        ReportFormat::Md => crate::report::markdown(&report, case),
        ReportFormat::Html => crate::report::html(&report, case),
    };
    crate::sink::write(output, text.as_bytes())?;
    if crate::sink::is_stdout(output) {
        return Ok(());
    }
    writeln!(out, "Wrote the report to {}", output.display()).map_err(w)
}
