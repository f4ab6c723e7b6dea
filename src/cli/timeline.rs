//! `trawl [PATH…]`: open the interactive timeline on the case; evidence given is ingested
//! beside it, the timeline filling as commits land (and, with `--follow`, as logs grow).

use std::io::{self, IsTerminal, Write};

use super::Cli;
use super::output::load_rules;
use crate::case::Case;
use crate::error::{Error, Result};

/// `trawl --store … --case NAME`: the timeline of a case in a store (evidence is ingested into
/// it with `trawl ingest --store …`, on the machines that hold it).
pub(super) fn open_store(
    cli: &Cli,
    spec: &crate::store::clickhouse::Spec,
    name: &str,
) -> Result<u8> {
    if !cli.paths.is_empty() {
        return Err(Error::Usage(format!(
            "with --store, ingest with `trawl ingest --store {} --case {name} PATH…`, then open the timeline without paths",
            spec.url
        )));
    }
    if !io::stdout().is_terminal() {
        eprintln!("trawl: not a terminal, so no timeline: use `trawl search` and `trawl stats`");
        return Ok(0);
    }
    let rules = super::output::load_rules_from(None, &cli.ingest.rules)?;
    let source = crate::source::Source::store(spec, name)?;
    crate::tui::run_on(source, crate::tui::Options { rules, live: None })?;
    Ok(0)
}

pub(super) fn open(out: &mut impl Write, cli: &Cli) -> Result<u8> {
    // Without evidence to ingest the case must exist: a mistyped --case creates nothing.
    let case = if cli.paths.is_empty() {
        Case::open(&cli.case)?
    } else {
        super::ingest::check_paths(&cli.paths)?;
        Case::open_or_create(&cli.case)?
    };
    if !io::stdout().is_terminal() {
        // No timeline to fill: the ingest says what it read, as `trawl ingest` does.
        drop(case);
        if !cli.paths.is_empty() {
            super::ingest::run(out, &cli.case, None, &cli.paths, &cli.ingest)?;
        }
        eprintln!("trawl: not a terminal, so no timeline: use `trawl search` and `trawl stats`");
        return Ok(0);
    }
    if cli.paths.is_empty() && case.manifest.files.is_empty() {
        return Err(Error::Usage(format!(
            "case {} is empty: give evidence to ingest (trawl PATH…)",
            cli.case.display()
        )));
    }
    if !cli.paths.is_empty() {
        super::ingest::remember_rules(out, &cli.case, &cli.ingest.rules)?;
    }
    let rules = load_rules(&case, &cli.ingest.rules)?;
    let live = if cli.paths.is_empty() {
        None
    } else {
        let mut opts = cli.ingest.options(&case)?;
        opts.commit_interval = Some(crate::live::COMMIT_INTERVAL);
        Some(crate::tui::ingest::LiveIngest {
            case,
            paths: cli.paths.clone(),
            opts,
            follow: cli.ingest.follow,
        })
    };
    // The timeline reads the case through a handle of its own; the ingest writes through its.
    let reading = Case::open(&cli.case)?;
    let outcome = crate::tui::run(reading, crate::tui::Options { rules, live })?;
    if let Some(report) = &outcome.ingested {
        let source = crate::source::Source::local(Case::open(&cli.case)?)?;
        super::ingest::print_ingest_summary(out, &source, report)?;
    }
    if let Some(e) = &outcome.ingest_failed {
        return Err(Error::Usage(format!(
            "the ingest beside the timeline failed: {e} (the case is as of its last commit)"
        )));
    }
    if outcome.ingest_unfinished {
        writeln!(
            out,
            "trawl: the ingest stopped at its last commit when the timeline closed; run `trawl --case {} PATH…` again to complete it",
            cli.case.display()
        )
        .map_err(super::output::w)?;
    }
    Ok(0)
}
