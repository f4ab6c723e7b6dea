//! `trawl [PATH…]`: ingest what is given, then open the interactive timeline.

use std::io::{self, IsTerminal, Write};

use super::Cli;
use crate::case::Case;
use crate::error::{Error, Result};

pub(super) fn open(out: &mut impl Write, cli: &Cli) -> Result<u8> {
    // Without evidence to ingest the case must exist: a mistyped --case creates nothing.
    let mut case = if cli.paths.is_empty() {
        Case::open(&cli.case)?
    } else {
        super::ingest::check_paths(&cli.paths)?;
        Case::open_or_create(&cli.case)?
    };
    if !cli.paths.is_empty() {
        super::ingest::ingest(out, &mut case, &cli.paths, &cli.ingest)?;
    } else if case.manifest.files.is_empty() {
        return Err(Error::Usage(format!(
            "case {} is empty: give evidence to ingest (trawl PATH…)",
            cli.case.display()
        )));
    }
    if !io::stdout().is_terminal() {
        eprintln!("trawl: not a terminal, so no timeline: use `trawl search` and `trawl stats`");
        return Ok(0);
    }
    crate::tui::run(case)?;
    Ok(0)
}
