//! `trawl hunt`: verdicts, findings, web shells, suspects and windows, as text, JSON, CSV or
//! Markdown.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::HuntFormat;
use super::output::{detections, load_rules_from, w};
use crate::error::{Error, Result};
use crate::source::Source;

pub(super) fn hunt(
    out: &mut impl Write,
    source: &Source,
    format: HuntFormat,
    output: Option<(&Path, crate::sink::Keep)>,
    rescan: bool,
    extra: &[PathBuf],
) -> Result<()> {
    let rules = load_rules_from(source.dir(), extra)?;
    let d = detections(source, &rules, rescan)?;
    let report = source.with(|s| crate::hunt::report_in(s, &d))?;
    write_report(out, &report, format, output)
}

fn write_report(
    out: &mut impl Write,
    report: &crate::hunt::Report,
    format: HuntFormat,
    output: Option<(&Path, crate::sink::Keep)>,
) -> Result<()> {
    use crate::hunt::output;
    let text = match format {
        HuntFormat::Text => output::text(report),
        HuntFormat::Md => output::markdown(report),
        HuntFormat::Csv => output::csv(report),
        HuntFormat::Json => {
            let mut s = crate::sanitize::json_escape_unsafe(
                serde_json::to_string_pretty(report).map_err(|e| Error::Usage(e.to_string()))?,
            );
            s.push('\n');
            s
        }
    };
    match output {
        Some((path, keep)) => crate::sink::write(path, text.as_bytes(), &keep),
        None => out.write_all(text.as_bytes()).map_err(w),
    }
}
