//! `trawl hunt`: verdicts, findings, web shells, suspects and windows, as text, JSON, CSV or
//! Markdown.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::HuntFormat;
use super::output::{load_rules, w};
use crate::case::Case;
use crate::error::{Error, Result};

pub(super) fn hunt(
    out: &mut impl Write,
    case: &Case,
    format: HuntFormat,
    output: Option<&Path>,
    rescan: bool,
    extra: &[PathBuf],
) -> Result<()> {
    let rules = load_rules(case, extra)?;
    let d = if rescan {
        let d = crate::hunt::detect(case, &rules)?;
        crate::hunt::save(case, &d)?;
        d
    } else {
        crate::hunt::ensure(case, &rules)?
    };
    let report = crate::hunt::report(case, &d)?;
    use crate::hunt::output;
    let text = match format {
        HuntFormat::Text => output::text(&report),
        HuntFormat::Md => output::markdown(&report),
        HuntFormat::Csv => output::csv(&report),
        HuntFormat::Json => {
            let mut s = crate::sanitize::json_escape_unsafe(
                serde_json::to_string_pretty(&report).map_err(|e| Error::Usage(e.to_string()))?,
            );
            s.push('\n');
            s
        }
    };
    match output {
        Some(path) => crate::sink::write(path, text.as_bytes()),
        None => out.write_all(text.as_bytes()).map_err(w),
    }
}
