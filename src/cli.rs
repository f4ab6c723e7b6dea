//! Command-line interface: argument parsing and the text/JSON output of each command.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::case::{Case, DEFAULT_DIR, Manifest};
use crate::error::{Error, Result};
use crate::formats::time::{format_ms, parse_tz_arg};
use crate::ingest::{IngestOptions, IngestReport, ingest};
use crate::query;
use crate::sanitize::escape_controls;
use crate::selection::{Order, Selection};
use crate::view;

/// Incident triage for Microsoft Exchange and IIS logs.
#[derive(Debug, Parser)]
#[command(name = "trawl", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Case directory.
    #[arg(long, global = true, default_value = DEFAULT_DIR)]
    pub case: PathBuf,
    /// Evidence to ingest before opening the case (files, folders, .gz, .zip).
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub ingest: IngestArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest log files, folders, .gz and .zip archives into the case.
    Ingest {
        /// Files or folders to ingest.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        args: IngestArgs,
    },
    /// Search the case; results in time order.
    Search {
        /// Query, e.g. `ip:192.0.2.7 AND path:"/ecp/y.js"`.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Newest first.
        #[arg(long)]
        reverse: bool,
        /// Print only the number of matching events.
        #[arg(long)]
        count: bool,
    },
    /// Summarise the case: events per host, source and file, time range, top values.
    Stats {
        #[arg(long)]
        json: bool,
        /// How many top values per field.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Run the detection rules: findings, inferred web shells, suspect addresses, incident windows.
    Hunt {
        /// Output format.
        #[arg(long, value_enum, default_value_t = HuntFormat::Text)]
        format: HuntFormat,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Run the rules again even if the stored detections are current.
        #[arg(long)]
        rescan: bool,
        /// More rule files (besides the built-in pack and the case's rules.toml).
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
    },
    /// Export events (a query, a tag, or everything) as CSV, JSON lines, Timesketch or ECS.
    Export {
        /// Events to export (default: all).
        #[arg(long, default_value = "*")]
        query: String,
        /// Only events with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Format (default: from the file name: .csv, .jsonl, .timesketch.csv,
        /// .timesketch.jsonl, .ecs.jsonl).
        #[arg(long, value_enum)]
        format: Option<crate::export::Format>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Tag every event of a query (as `:tag NAME` does in the timeline).
    Tag {
        /// The tag.
        name: String,
        /// Events to tag (`*` for all, up to 100,000).
        #[arg(long)]
        query: String,
        /// Remove the tag instead.
        #[arg(long)]
        remove: bool,
    },
    /// Write the incident report: coverage, findings, marked evidence, indicators.
    Report {
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// More rule files (besides the built-in pack and the case's rules.toml).
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
    },
}

/// `trawl report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
}

/// `trawl hunt --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    Text,
    Json,
    Csv,
    Md,
}

#[derive(Debug, Args, Clone)]
pub struct IngestArgs {
    /// Zone of timestamps written without one (UTC, +01:00, -0500).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Host name for files whose records and folders name none.
    #[arg(long)]
    pub host: Option<String>,
    /// Reader and parser threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Commit after this many events (a crash loses at most this much work; they are held in
    /// memory to be sorted by time, and a commit also comes when they take 384 MiB).
    #[arg(long, default_value_t = 1_000_000, hide = true)]
    pub commit_every: u64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// More rule files to apply after ingest (besides the built-in pack and the case's
    /// rules.toml).
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// A load balancer or reverse proxy (address or CIDR range) whose X-Forwarded-For names
    /// the real client; repeatable. Private addresses relaying X-Forwarded-For are recognised
    /// without it. Also `trusted_proxies` in the case's trawl.toml.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_cidr_arg)]
    pub trusted_proxy: Vec<crate::attribution::Cidr>,
}

fn parse_cidr_arg(s: &str) -> std::result::Result<crate::attribution::Cidr, String> {
    crate::attribution::Cidr::parse(s)
        .ok_or_else(|| format!("'{s}' is not an address or a CIDR range (10.0.0.0/8)"))
}

impl IngestArgs {
    fn options(&self, case: &Case) -> Result<IngestOptions> {
        let tz = parse_tz_arg(&self.tz).ok_or_else(|| {
            Error::Usage(format!(
                "--tz {}: expected UTC or an offset like +01:00",
                self.tz
            ))
        })?;
        let mut opts = IngestOptions {
            tz,
            host: self.host.clone(),
            commit_every: self.commit_every.max(1),
            ..IngestOptions::default()
        };
        if let Some(t) = self.threads {
            opts.threads = t.max(1);
        }
        // Declared once, a proxy stays declared for the case.
        let mut declared = case.manifest.trusted_proxies.clone();
        for c in case
            .config
            .trusted_proxies
            .iter()
            .chain(&self.trusted_proxy)
        {
            if !declared.contains(c) {
                declared.push(*c);
            }
        }
        opts.proxies = crate::attribution::TrustedProxies::new(declared);
        Ok(opts)
    }
}

/// Exit codes.
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_BAD_QUERY: u8 = 2;

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let out = &mut io::stdout().lock();
    match cli.command {
        Some(Command::Ingest { paths, args }) => {
            let mut case = Case::open_or_create(&cli.case)?;
            let opts = args.options(&case)?;
            let bar = Bar::for_ingest(!args.quiet);
            let report = ingest(&mut case, &paths, &opts, &|p| bar.report(p));
            bar.finish();
            let report = report?;
            print_ingest_summary(out, &case, &report)?;
            print_detections(out, &case, &args.rules)?;
            Ok(0)
        }
        Some(Command::Hunt {
            format,
            output,
            rescan,
            rules,
        }) => {
            let case = Case::open(&cli.case)?;
            hunt(out, &case, format, output.as_deref(), rescan, &rules)?;
            Ok(0)
        }
        Some(Command::Search {
            query,
            json,
            limit,
            reverse,
            count,
        }) => {
            let case = Case::open(&cli.case)?;
            search(out, &case, &query.join(" "), json, limit, reverse, count)
        }
        Some(Command::Stats { json, top }) => {
            let case = Case::open(&cli.case)?;
            stats(out, &case, json, top)?;
            Ok(0)
        }
        Some(Command::Export {
            query,
            tag,
            format,
            output,
        }) => {
            let case = Case::open(&cli.case)?;
            let text = match tag {
                Some(t) => format!("({query}) AND tag:{}", query::quote_value(&t)),
                None => query,
            };
            export(out, &case, &text, format, &output)
        }
        Some(Command::Tag {
            name,
            query: text,
            remove,
        }) => {
            let case = Case::open(&cli.case)?;
            let compiled =
                match query::compile(&text, &case.fields, &crate::marks::vocabulary(&case)?) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("trawl: bad query: {e}");
                        return Ok(EXIT_BAD_QUERY);
                    }
                };
            let reader = case.reader()?;
            let sel = Selection::select(&reader.searcher(), &compiled)?;
            let targets = crate::marks::targets_of(&sel, &case.manifest)?;
            let mut marks = crate::marks::Marks::load(&case)?;
            marks.set_tag(&targets, &name, !remove)?;
            let verb = if remove { "Untagged" } else { "Tagged" };
            writeln!(
                out,
                "{verb} {} {name}",
                plural(targets.len() as u64, "event", "events")
            )
            .map_err(w)?;
            Ok(0)
        }
        Some(Command::Report {
            format,
            output,
            rules,
        }) => {
            let case = Case::open(&cli.case)?;
            let d = crate::hunt::ensure(&case, &load_rules(&case, &rules)?)?;
            let report = crate::report::build(&case, &d)?;
            let text = match format {
                ReportFormat::Md => crate::report::markdown(&report, &case),
                ReportFormat::Html => crate::report::html(&report, &case),
            };
            crate::case::write_atomic(&output, text.as_bytes())?;
            writeln!(out, "Wrote the report to {}", output.display()).map_err(w)?;
            Ok(0)
        }
        None => {
            let mut case = Case::open_or_create(&cli.case)?;
            if !cli.paths.is_empty() {
                let opts = cli.ingest.options(&case)?;
                let bar = Bar::for_ingest(!cli.ingest.quiet);
                let report = ingest(&mut case, &cli.paths, &opts, &|p| bar.report(p));
                bar.finish();
                let report = report?;
                print_ingest_summary(out, &case, &report)?;
                print_detections(out, &case, &cli.ingest.rules)?;
            } else if case.manifest.files.is_empty() {
                return Err(Error::Usage(format!(
                    "case {} is empty: give evidence to ingest (trawl PATH…)",
                    cli.case.display()
                )));
            }
            if !io::stdout().is_terminal() {
                eprintln!(
                    "trawl: not a terminal, so no timeline: use `trawl search` and `trawl stats`"
                );
                return Ok(0);
            }
            crate::tui::run(case)?;
            Ok(0)
        }
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new(enabled: bool, template: &str) -> Bar {
        Bar((enabled && io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        }))
    }

    fn for_ingest(enabled: bool) -> Bar {
        Bar::new(
            enabled,
            "{spinner} {bytes}/{total_bytes} {bar:30} {msg} eta {eta}",
        )
    }

    fn report(&self, p: crate::progress::Progress) {
        let Some(bar) = &self.0 else {
            return;
        };
        bar.set_length(p.total);
        bar.set_position(p.done);
        if p.unit == crate::progress::Unit::Bytes {
            let secs = bar.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} events, {:.0}/s",
                p.events,
                p.events as f64 / secs
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn w(e: io::Error) -> Error {
    Error::io("<stdout>", e)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Hosts with their event counts and time ranges, from the index.
/// A host, its event count and the time of its first and last events.
type HostRange = (String, u64, Option<(i64, i64)>);

fn host_ranges(case: &Case) -> Result<Vec<HostRange>> {
    let reader = case.reader()?;
    let searcher = reader.searcher();
    let vocab = crate::query::Vocabulary::of(&case.manifest);
    let all = Selection::select(&searcher, &query::compile("*", &case.fields, &vocab)?)?;
    let hosts = all.top_values("host", usize::MAX, Order::Top)?;
    let mut out = Vec::new();
    for v in hosts.values {
        let q = format!("host:{}", query::quote_value(&v.value));
        let sel = Selection::select(&searcher, &query::compile(&q, &case.fields, &vocab)?)?;
        out.push((v.value, v.count, sel.span()));
    }
    let without = all.len() - hosts.with_value;
    if without > 0 {
        out.push(("(no host)".into(), without, None));
    }
    Ok(out)
}

fn print_ingest_summary(out: &mut impl Write, case: &Case, r: &IngestReport) -> Result<()> {
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
        "  files: {} new, {} grown, {} changed and re-read, {} resumed, {} unchanged",
        r.new_files, r.grown_files, r.replaced_files, r.resumed_files, r.unchanged_files
    )
    .map_err(w)?;
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
    let (events, malformed) = case.manifest.totals();
    writeln!(
        out,
        "Case {}: {}, {} in {} ({:.1} MB on disk)",
        case.dir.display(),
        plural(events, "event", "events"),
        plural(malformed, "malformed line", "malformed lines"),
        plural(case.manifest.files.len() as u64, "file", "files"),
        dir_size(&case.dir) as f64 / 1e6
    )
    .map_err(w)?;
    for (host, n, span) in host_ranges(case)? {
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
    let naive: u64 = case.manifest.files.iter().map(|f| f.naive_times).sum();
    if naive > 0 {
        let zones: std::collections::BTreeSet<&str> = case
            .manifest
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

fn load_rules(case: &Case, extra: &[PathBuf]) -> Result<Vec<crate::rules::Rule>> {
    crate::rules::load(&crate::rules::files_for(&case.dir, extra))
        .map_err(|e| Error::Usage(format!("rules: {e}")))
}

/// Runs the rules after an ingest and says what they found.
fn print_detections(out: &mut impl Write, case: &Case, extra: &[PathBuf]) -> Result<()> {
    let rules = load_rules(case, extra)?;
    let d = crate::hunt::ensure(case, &rules)?;
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
            "Detections: no compromise finding from {} rules (trawl hunt for details)",
            rules.len()
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

fn hunt(
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
            let mut s =
                serde_json::to_string_pretty(&report).map_err(|e| Error::Usage(e.to_string()))?;
            s.push('\n');
            s
        }
    };
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| Error::io(path, e)),
        None => out.write_all(text.as_bytes()).map_err(w),
    }
}

fn export(
    out: &mut impl Write,
    case: &Case,
    text: &str,
    format: Option<crate::export::Format>,
    output: &Path,
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
    let compiled = match query::compile(text, &case.fields, &crate::marks::vocabulary(case)?) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trawl: bad query: {e}");
            return Ok(EXIT_BAD_QUERY);
        }
    };
    let bar = Bar::new(true, "{bar:30} {pos}/{len} events, eta {eta}");
    let n = crate::export::export_to_file(case, &compiled, format, output, &|p| bar.report(p))?;
    bar.finish();
    writeln!(
        out,
        "Exported {} to {} ({format:?})",
        plural(n, "event", "events"),
        output.display()
    )
    .map_err(w)?;
    Ok(0)
}

fn search(
    out: &mut impl Write,
    case: &Case,
    text: &str,
    json: bool,
    limit: u64,
    reverse: bool,
    count: bool,
) -> Result<u8> {
    let compiled = match query::compile(text, &case.fields, &crate::marks::vocabulary(case)?) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trawl: bad query: {e}");
            eprintln!("  {text}");
            eprintln!("  {}^", " ".repeat(e.column.saturating_sub(1)));
            return Ok(EXIT_BAD_QUERY);
        }
    };
    let reader = case.reader()?;
    let searcher = reader.searcher();
    let sel = Selection::select(&searcher, &compiled)?;
    if count {
        writeln!(out, "{}", sel.len()).map_err(w)?;
        return Ok(0);
    }
    let n = limit.min(sel.len());
    let start = if reverse { sel.len() - n } else { 0 };
    let mut rows = sel.rows(start, n as usize);
    if reverse {
        rows.reverse();
    }
    let mut loader = view::Loader::new(&searcher, &case.fields, &case.manifest);
    // Rule hits and the responder's marks travel with each event, as in exports.
    let rules = crate::hunt::load_stored(case)
        .map(|d| d.by_event())
        .unwrap_or_default();
    let marks = crate::marks::Marks::load(case)?;
    for row in rows {
        let mut ev = loader.load(row.addr)?;
        if let Some(ids) = rules.get(&row.key()) {
            ev.rules = ids.clone();
        }
        if let Some(m) = marks.get(row.file_id, row.line) {
            ev.tags = m.tags.iter().cloned().collect();
            ev.note = m.note.clone();
            ev.bookmark = m.bookmark;
        }
        if json {
            let line = serde_json::to_string(&ev).map_err(|e| Error::Usage(e.to_string()))?;
            writeln!(out, "{line}").map_err(w)?;
        } else {
            writeln!(out, "{}", escape_controls(&text_line(&ev))).map_err(w)?;
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
        _ => ev
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("message") || k.eq_ignore_ascii_case("cmd"))
            .map_or("-".into(), |(_, v)| v.clone()),
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

fn stats(out: &mut impl Write, case: &Case, json: bool, top: usize) -> Result<()> {
    let reader = case.reader()?;
    let searcher = reader.searcher();
    let vocab = crate::query::Vocabulary::of(&case.manifest);
    let all = Selection::select(&searcher, &query::compile("*", &case.fields, &vocab)?)?;
    let m: &Manifest = &case.manifest;
    let (events, malformed) = m.totals();
    let hosts = host_ranges(case)?;
    let sources = all.top_values("source", usize::MAX, Order::Top)?;
    let proxies = crate::hunt::proxies(case)?;
    let tops: Vec<_> = ["client", "ip", "ua", "path", "status", "user"]
        .iter()
        .map(|f| all.top_values(f, top, Order::Top))
        .collect::<Result<_>>()?;
    let span = all.span();
    if json {
        let doc = json!({
            "case": case.dir,
            "events": events,
            "indexed_events": all.len(),
            "malformed": malformed,
            "unrecognised": m.unrecognised,
            "first": span.map(|s| format_ms(s.0)),
            "last": span.map(|s| format_ms(s.1)),
            "hosts": hosts.iter().map(|(h, n, s)| json!({
                "host": h, "events": n,
                "first": s.map(|s| format_ms(s.0)), "last": s.map(|s| format_ms(s.1)),
            })).collect::<Vec<_>>(),
            "sources": sources.values,
            "proxies": proxies,
            "trusted_proxies": m.trusted_proxies,
            "files": m.files.iter().map(|f| json!({
                "path": f.path, "format": f.format.name(), "source": f.source, "host": f.host,
                "size": f.size, "sha256": f.sha256, "lines": f.lines, "events": f.events,
                "malformed": f.malformed, "complete": f.complete,
                "first": f.first_ts.map(format_ms), "last": f.last_ts.map(format_ms),
                "malformed_examples": f.malformed_examples,
                "read_error": f.read_error,
            })).collect::<Vec<_>>(),
            "top": tops.iter().map(|t| (t.field.clone(), json!(t.values))).collect::<serde_json::Map<_, _>>(),
        });
        writeln!(out, "{doc}").map_err(w)?;
        return Ok(());
    }
    writeln!(
        out,
        "Case {}: {} from {}, {}, {} unrecognised",
        case.dir.display(),
        plural(events, "event", "events"),
        plural(m.files.len() as u64, "file", "files"),
        plural(malformed, "malformed line", "malformed lines"),
        m.unrecognised.len()
    )
    .map_err(w)?;
    if let Some((a, b)) = span {
        writeln!(out, "Time range: {} .. {}", format_ms(a), format_ms(b)).map_err(w)?;
    }
    writeln!(out, "\nHosts:").map_err(w)?;
    for (host, n, span) in &hosts {
        let range = span.map_or(String::new(), |(a, b)| {
            format!("  {} .. {}", format_ms(a), format_ms(b))
        });
        writeln!(
            out,
            "  {:<24} {:>12}{range}",
            escape_controls(host),
            thousands(*n)
        )
        .map_err(w)?;
    }
    writeln!(out, "\nSources:").map_err(w)?;
    for v in &sources.values {
        writeln!(out, "  {:<24} {:>12}", v.value, thousands(v.count)).map_err(w)?;
    }
    if !proxies.is_empty() {
        writeln!(
            out,
            "\nProxies and balancers (`client` is attributed behind them):"
        )
        .map_err(w)?;
        for p in &proxies {
            writeln!(
                out,
                "  {:<24} {:<19} {}",
                p.address,
                p.role,
                escape_controls(&p.why)
            )
            .map_err(w)?;
        }
    }
    writeln!(out, "\nFiles:").map_err(w)?;
    for f in &m.files {
        let state = if f.complete { "" } else { " (incomplete)" };
        writeln!(
            out,
            "  {:>10} events {:>6} malformed  {:<13} {}{state}",
            thousands(f.events),
            thousands(f.malformed),
            f.format.name(),
            escape_controls(&f.path)
        )
        .map_err(w)?;
    }
    for t in &tops {
        writeln!(
            out,
            "\nTop {} ({} distinct):",
            t.field,
            thousands(t.distinct)
        )
        .map_err(w)?;
        for v in &t.values {
            writeln!(
                out,
                "  {:>10}  {}",
                thousands(v.count),
                escape_controls(&v.value)
            )
            .map_err(w)?;
        }
    }
    if !m.unrecognised.is_empty() {
        writeln!(out, "\nUnrecognised files:").map_err(w)?;
        for u in &m.unrecognised {
            writeln!(out, "  {}: {}", escape_controls(&u.path), u.reason).map_err(w)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(9_876_543), "9,876,543");
    }
}
