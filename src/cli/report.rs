//! `trawl report`: the incident report, Markdown or one self-contained HTML file.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ReportFormat;
use super::output::{detections, load_rules_from, w};
use crate::error::Result;
use crate::source::Source;

pub(super) fn report(
    out: &mut impl Write,
    source: &Source,
    format: ReportFormat,
    output: &Path,
    keep: &crate::sink::Keep,
    rules: &[PathBuf],
) -> Result<()> {
    let d = detections(source, &load_rules_from(source.dir(), rules)?, false)?;
    let marks = source.marks()?;
    let (report, name) =
        source.with(|s| Ok::<_, crate::Error>((crate::report::build(s, &d, &marks)?, s.name())))?;
    write(out, &report, &name, format, output, keep)
}

fn write(
    out: &mut impl Write,
    report: &crate::report::IncidentReport,
    name: &str,
    format: ReportFormat,
    output: &Path,
    keep: &crate::sink::Keep,
) -> Result<()> {
    let text = match format {
        ReportFormat::Md => crate::report::markdown(report, name),
        ReportFormat::Html => crate::report::html(report, name),
    };
    crate::sink::write(output, text.as_bytes(), keep)?;
    if crate::sink::is_stdout(output) {
        return Ok(());
    }
    writeln!(out, "Wrote the report to {}", output.display()).map_err(w)
}
