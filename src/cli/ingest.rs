//! `trawl ingest` (and `trawl PATH…` before the timeline opens): the summary of what was read,
//! and what the rules found.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::IngestArgs;
use super::output::{Bar, detections, dir_size, load_rules_from, plural, thousands, w};
use crate::case::Case;
use crate::error::Result;
use crate::formats::time::format_ms;
use crate::ingest::{Destination, IngestOptions, IngestReport};
use crate::query;
use crate::sanitize::escape_controls;
use crate::selection::Order;
use crate::source::Source;
use crate::store::Store;

/// Ingests `paths` into the case with a progress bar, then says what was read and what the
/// rules found.
/// Every path given must exist before anything is created: a typo is an error, never an empty
/// case.
pub(super) fn check_paths(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        if let Err(e) = std::fs::metadata(path) {
            return Err(crate::error::Error::io(path, e));
        }
    }
    Ok(())
}

/// How a command that ingests reads the case afterwards: opened again as committed (the ingest
/// worked on its own handle).
pub(super) type Reopen<'a> = &'a dyn Fn() -> Result<Source>;

/// Ingests `paths` with a progress bar, then says what was read, what the case holds and what
/// the rules found.
pub(super) fn ingest(
    out: &mut impl Write,
    dest: &mut dyn Destination,
    reopen: Reopen<'_>,
    paths: &[PathBuf],
    args: &IngestArgs,
    opts: &IngestOptions,
) -> Result<()> {
    let bar = Bar::for_ingest(!args.quiet);
    let report = crate::ingest::ingest(dest, paths, opts, &|p| bar.report(p));
    bar.finish();
    let source = reopen()?;
    let summary = print_ingest_summary(out, &source, &report?);
    // The rules run, and their hits are kept in the case, even when nobody reads on (`| head`).
    let detections = print_detections(out, &source, &args.rules);
    summary.and(detections)
}

/// The local case (created if need be) or the store's, as a destination with its options, and
/// how to read it after each round; then [`ingest`] or [`follow`].
pub(super) fn run(
    out: &mut impl Write,
    dir: &Path,
    spec: Option<&crate::store::clickhouse::Spec>,
    paths: &[PathBuf],
    args: &IngestArgs,
) -> Result<()> {
    let reopen = || super::open_source(dir, spec);
    let (mut local, mut remote);
    let (dest, mut opts): (&mut dyn Destination, IngestOptions) = match spec {
        Some(spec) => {
            remote = crate::store::clickhouse::ingest::ClickHouseDestination::open(
                spec,
                &super::case_name(dir),
            )?;
            let opts = args.options_for(remote.manifest(), &crate::case::CaseConfig::default())?;
            if !args.rules.is_empty() {
                writeln!(
                    out,
                    "Note: a case in a store does not keep the rules given to its ingest: give them (--rules) to hunt, report and the timeline as well"
                )
                .map_err(w)?;
            }
            (&mut remote, opts)
        }
        None => {
            local = Case::open_or_create(dir)?;
            remember_rules(out, dir, &args.rules)?;
            let opts = args.options(&local)?;
            (&mut local, opts)
        }
    };
    if args.follow {
        opts.commit_interval = Some(crate::live::COMMIT_INTERVAL);
        follow(out, dest, &reopen, paths, args, &opts)
    } else {
        ingest(out, dest, &reopen, paths, args, &opts)
    }
}

/// Names the rules given to an ingest in the case's `trawl.toml`: their hits are the case's,
/// and a later `trawl hunt` (or report, or timeline) runs them without being told again.
pub(super) fn remember_rules(out: &mut impl Write, dir: &Path, rules: &[PathBuf]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    // Only rules that load are named: a bad one would stop every later command of the case.
    crate::rules::load(rules).map_err(|e| crate::Error::Usage(format!("rules: {e}")))?;
    let added = crate::case::CaseConfig::remember_rules(dir, rules)?;
    for path in &added {
        writeln!(
            out,
            "Rules {} are now the case's (named in {}): every command of the case runs them",
            path.display(),
            dir.join(crate::case::CONFIG_FILE).display()
        )
        .map_err(w)?;
    }
    Ok(())
}

/// `trawl ingest --follow`: the first round as a plain ingest says it, then one line per round
/// that changed something, until Ctrl-C (the case keeps every commit; the next run completes
/// what a round had begun). Into a store, a log server's logs are shipped to the team's case as
/// they are written.
pub(super) fn follow(
    out: &mut impl Write,
    dest: &mut dyn Destination,
    reopen: Reopen<'_>,
    paths: &[PathBuf],
    args: &IngestArgs,
    opts: &IngestOptions,
) -> Result<()> {
    // The bar shows the first round, which reads everything; later rounds get a line each.
    let bar = Bar::for_ingest(!args.quiet);
    let first_done = std::sync::atomic::AtomicBool::new(false);
    let on_progress = |p| {
        if !first_done.load(std::sync::atomic::Ordering::Relaxed) {
            bar.report(p);
        }
    };
    let follow = std::sync::atomic::AtomicBool::new(true);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut first = true;
    let mut failure = None;
    let mut on_round = |round: crate::live::Round<'_>| -> bool {
        let report = match round {
            crate::live::Round::Done(r) => r,
            crate::live::Round::Failed(e) => {
                failure = Some(e.to_string());
                return false;
            }
        };
        // The case as committed by this round.
        let Ok(source) = reopen() else {
            return false;
        };
        let written = if first {
            first = false;
            first_done.store(true, std::sync::atomic::Ordering::Relaxed);
            bar.finish();
            let summary = print_ingest_summary(out, &source, report);
            let detections = print_detections(out, &source, &args.rules);
            summary.and(detections).and_then(|()| {
                writeln!(
                    out,
                    "Following {} into {} (Ctrl-C stops; every commit is kept)",
                    plural(paths.len() as u64, "path", "paths"),
                    source.with(|s| s.name())
                )
                .map_err(w)
            })
        } else {
            print_round(out, source.manifest(), report)
        };
        let _ = out.flush();
        written.is_ok()
    };
    crate::live::run(
        dest,
        paths,
        opts,
        &follow,
        &stop,
        &on_progress,
        &mut on_round,
    )?;
    match failure {
        Some(e) => Err(crate::error::Error::Usage(format!(
            "following stopped: {e}"
        ))),
        None => Ok(()),
    }
}

/// One line for a follow round that changed the case: when, what was read, the case's total.
fn print_round(
    out: &mut impl Write,
    manifest: &crate::case::Manifest,
    r: &IngestReport,
) -> Result<()> {
    let files = r.new_files + r.grown_files + r.replaced_files + r.resumed_files;
    if files == 0 && r.unrecognised.is_empty() && r.read_errors.is_empty() {
        return Ok(());
    }
    let (events, _) = manifest.totals();
    writeln!(
        out,
        "{}  +{} in {} ({} new, {} grown, {} changed and re-read), {}; case {} events",
        format_ms(chrono::Utc::now().timestamp_millis()),
        plural(r.new_events, "event", "events"),
        plural(files, "file", "files"),
        r.new_files,
        r.grown_files,
        r.replaced_files,
        plural(r.new_malformed, "malformed line", "malformed lines"),
        thousands(events)
    )
    .map_err(w)?;
    for (path, m) in &r.malformed_examples {
        writeln!(
            out,
            "  malformed {}:{}: {}: {}",
            escape_controls(path),
            m.line,
            m.reason,
            m.excerpt
        )
        .map_err(w)?;
    }
    for u in &r.unrecognised {
        writeln!(
            out,
            "  unrecognised {}: {}",
            escape_controls(&u.path),
            u.reason
        )
        .map_err(w)?;
    }
    for (path, e) in &r.read_errors {
        writeln!(out, "  read error: {}: {e}", escape_controls(path)).map_err(w)?;
    }
    Ok(())
}

/// Hosts with their event counts and time ranges, from the index.
/// A host, its event count and the time of its first and last events.
type HostRange = (String, u64, Option<(i64, i64)>);

pub(super) fn host_ranges(store: &dyn Store) -> Result<Vec<HostRange>> {
    let vocab = store.vocabulary();
    let all = store.select("*", &vocab)??;
    let hosts = all.top_values("host", usize::MAX, Order::Top, false)?;
    let mut out = Vec::new();
    for v in hosts.values {
        let q = format!("host:{}", query::quote_value(&v.value));
        let sel = store.select(&q, &vocab)??;
        out.push((v.value, v.count, sel.span()?));
    }
    let without = all.len() - hosts.with_value;
    if without > 0 {
        let sel = store.select(&query::host_query(query::NO_HOST), &vocab)??;
        out.push((query::NO_HOST.into(), without, sel.span()?));
    }
    Ok(out)
}

/// What one ingest read, then what the case holds.
pub(super) fn print_ingest_summary(
    out: &mut impl Write,
    source: &Source,
    r: &IngestReport,
) -> Result<()> {
    print_ingest_report(out, r)?;
    let size = source.dir().map(dir_size);
    source.with(|store| print_case_totals(out, store, size))
}

/// What one ingest read.
fn print_ingest_report(out: &mut impl Write, r: &IngestReport) -> Result<()> {
    let files = r.new_files + r.grown_files + r.replaced_files + r.resumed_files;
    let secs = r.elapsed.as_secs_f64().max(0.001);
    writeln!(
        out,
        "Ingested {} ({:.1} MB) in {:.1} s ({:.1} MB/s): {}, {}, {}",
        plural(files, "file", "files"),
        r.bytes_read as f64 / 1e6,
        secs,
        r.bytes_read as f64 / 1e6 / secs,
        plural(r.new_events, "new event", "new events"),
        plural(r.new_malformed, "malformed line", "malformed lines"),
        plural(
            r.unrecognised.len() as u64,
            "unrecognised file",
            "unrecognised files"
        ),
    )
    .map_err(w)?;
    if !r.files_by_format.is_empty() {
        let by: Vec<String> = r
            .files_by_format
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        writeln!(out, "  by format: {}", by.join(", ")).map_err(w)?;
    }
    writeln!(
        out,
        "  files: {} new, {} grown, {} changed and re-read, {} resumed, {} unchanged, {} already in the case under another path",
        r.new_files,
        r.grown_files,
        r.replaced_files,
        r.resumed_files,
        r.unchanged_files,
        r.duplicate_files
    )
    .map_err(w)?;
    if r.duplicate_events > 0 {
        // Counted once: a second collection of a log, or an EVTX beside its export.
        writeln!(
            out,
            "  {} already in the case from another copy of their log (the same computer, channel, record number and second): not added again",
            plural(r.duplicate_events, "Windows event", "Windows events")
        )
        .map_err(w)?;
    }
    if r.reattributed_files > 0 {
        // Their HttpProxy or back-end rows came before the front end's: now they inherit.
        writeln!(
            out,
            "  {} already in the case read again ({}): their requests' clients come from the front-end logs read now",
            plural(
                r.reattributed_files,
                "HttpProxy or back-end log",
                "HttpProxy or back-end logs"
            ),
            plural(r.reattributed_events, "event", "events")
        )
        .map_err(w)?;
    }
    if !r.malformed_examples.is_empty() {
        writeln!(
            out,
            "Malformed lines (first {}):",
            r.malformed_examples.len()
        )
        .map_err(w)?;
        for (path, m) in &r.malformed_examples {
            writeln!(
                out,
                "  {}:{}: {}: {}",
                escape_controls(path),
                m.line,
                m.reason,
                m.excerpt
            )
            .map_err(w)?;
        }
    }
    for (label, list) in [
        ("Unrecognised", &r.unrecognised),
        ("Unreadable", &r.unreadable),
    ] {
        if !list.is_empty() {
            writeln!(out, "{label} files (skipped):").map_err(w)?;
            for u in list {
                writeln!(out, "  {}: {}", escape_controls(&u.path), u.reason).map_err(w)?;
            }
        }
    }
    for (path, e) in &r.read_errors {
        writeln!(out, "Read error: {}: {e}", escape_controls(path)).map_err(w)?;
    }
    for warning in &r.warnings {
        writeln!(out, "Warning: {}", escape_controls(warning)).map_err(w)?;
    }
    Ok(())
}

/// What the case holds after an ingest: events, files, hosts; its size on disk when local.
fn print_case_totals(out: &mut impl Write, store: &dyn Store, size: Option<u64>) -> Result<()> {
    let manifest = store.manifest();
    let (events, malformed) = manifest.totals();
    let size = size.map_or(String::new(), |s| {
        format!(" ({:.1} MB on disk)", s as f64 / 1e6)
    });
    writeln!(
        out,
        "Case {}: {}, {} in {}{size}",
        store.name(),
        plural(events, "event", "events"),
        plural(malformed, "malformed line", "malformed lines"),
        plural(manifest.files.len() as u64, "file", "files"),
    )
    .map_err(w)?;
    let hosts = host_ranges(store)?;
    let unnamed = hosts.iter().any(|(host, _, _)| host == query::NO_HOST);
    for (host, n, span) in hosts {
        let range = span.map_or(String::new(), |(a, b)| {
            format!("  {} .. {}", format_ms(a), format_ms(b))
        });
        writeln!(
            out,
            "  {:<24} {:>12} events{range}",
            escape_controls(&host),
            thousands(n)
        )
        .map_err(w)?;
    }
    if unnamed {
        // Verdicts are per host: events of several servers without names would be judged as
        // one.
        writeln!(
            out,
            "Note: some files name no host in their records, folders or server address: ingested with `--host NAME` (into a new case: files already in one are not read again), they are that host's"
        )
        .map_err(w)?;
    }
    let naive: u64 = manifest.files.iter().map(|f| f.naive_times).sum();
    if naive > 0 {
        let zones: std::collections::BTreeSet<&str> = manifest
            .files
            .iter()
            .filter_map(|f| f.tz.as_deref())
            .collect();
        writeln!(
            out,
            "Note: {} had no time zone and were read as {} (--tz)",
            plural(naive, "timestamp", "timestamps"),
            zones.into_iter().collect::<Vec<_>>().join(", ")
        )
        .map_err(w)?;
    }
    Ok(())
}

/// Runs the rules after an ingest and says what they found.
pub(super) fn print_detections(
    out: &mut impl Write,
    source: &Source,
    extra: &[PathBuf],
) -> Result<()> {
    let rules = load_rules_from(source.dir(), extra)?;
    let d = detections(source, &rules, false)?;
    let rules = rules.len();
    let mut by_severity = std::collections::BTreeMap::new();
    for (id, hits) in &d.hits {
        if let Some(r) = d.rule(id)
            && r.category == crate::rules::Category::Compromise
        {
            *by_severity
                .entry(std::cmp::Reverse(r.severity))
                .or_insert(0u64) += hits.len() as u64;
        }
    }
    if by_severity.is_empty() {
        writeln!(
            out,
            "Detections: no compromise finding from {rules} rules (trawl hunt for details)"
        )
        .map_err(w)?;
    } else {
        let parts: Vec<String> = by_severity
            .iter()
            .map(|(s, n)| format!("{} {}", plural(*n, "hit", "hits"), s.0))
            .collect();
        writeln!(
            out,
            "Detections: {} (trawl hunt for the findings)",
            parts.join(", ")
        )
        .map_err(w)?;
    }
    Ok(())
}
