//! The command line: arguments (this file), one file per command, and what they share
//! (`output`): numbers, progress bars and one answer to a bad query.

mod export;
mod hunt;
mod ingest;
mod output;
mod report;
mod search;
mod stats;
mod tag;
mod timeline;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::case::{Case, DEFAULT_DIR};
use crate::error::{Error, Result};
use crate::formats::time::parse_tz_arg;
use crate::ingest::IngestOptions;
use crate::query;
use crate::source::Source;
pub use output::{EXIT_BAD_QUERY, EXIT_ERROR};

/// Incident triage for Microsoft Exchange and IIS logs.
#[derive(Debug, Parser)]
#[command(name = "trawl", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Case directory (with --store: the case's name in the store).
    #[arg(long, global = true, default_value = DEFAULT_DIR)]
    pub case: PathBuf,
    /// Keep the case in ClickHouse instead of a local directory, shared by every machine and
    /// responder that names it: clickhouse://HOST:PORT/DATABASE[?cluster=NAME] (also `store`
    /// in the case's trawl.toml). Every command works there (`trawl --store … --case NAME`
    /// opens its timeline; ingest with `trawl ingest --store …`).
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
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
        /// Replace the output file if it exists (never the case's files or its evidence).
        #[arg(long)]
        force: bool,
        /// Run the rules again even if the stored detections are current.
        #[arg(long)]
        rescan: bool,
        /// More rules: trawl rule files (.toml), Sigma rules (.yml), or folders of them (besides
        /// the built-in pack and the case's rules.toml and sigma/ folder).
        #[arg(long = "rules", visible_alias = "sigma")]
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
        /// Output file (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
        /// Replace the output file if it exists (never the case's files or its evidence).
        #[arg(long)]
        force: bool,
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
        /// Output file (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
        /// Replace the output file if it exists (never the case's files or its evidence).
        #[arg(long)]
        force: bool,
        /// More rules: trawl rule files (.toml), Sigma rules (.yml), or folders of them (besides
        /// the built-in pack and the case's rules.toml and sigma/ folder).
        #[arg(long = "rules", visible_alias = "sigma")]
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

/// `--date-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DateOrderArg {
    Auto,
    Dmy,
    Mdy,
}

#[derive(Debug, Args, Clone)]
pub struct IngestArgs {
    /// Zone of timestamps written without one: UTC, an offset (+01:00, -0500) or an IANA zone
    /// (Europe/Berlin, America/New_York), whose daylight saving time is followed.
    // A western offset begins with '-': a value, not an option.
    #[arg(long, default_value = "UTC", allow_hyphen_values = true)]
    pub tz: String,
    /// Day and month order of dates written as a culture writes them (`Get-WinEvent |
    /// Export-Csv`'s `3/5/2021 6:42:27 PM`): `mdy`, `dmy`, or `auto` (the file's own dates
    /// decide when one has a number past 12; otherwise month first for a date with slashes and
    /// AM/PM in capitals, as in the United States, day first for others).
    #[arg(long, value_enum, default_value_t = DateOrderArg::Auto)]
    pub date_order: DateOrderArg,
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
    /// Keep watching the paths after ingesting them: appended lines and new files (IIS rolls
    /// over daily, HttpProxy hourly) are ingested as they come, until Ctrl-C (or `q` in the
    /// timeline). Readers of the case (`search`, `hunt`, another timeline) see each commit.
    #[arg(long)]
    pub follow: bool,
    /// More rules to apply after ingest: trawl rule files (.toml), Sigma rules (.yml), or
    /// folders of them (besides the built-in pack and the case's rules.toml and sigma/ folder).
    #[arg(long = "rules", visible_alias = "sigma")]
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
        self.options_for(&case.manifest, &case.config)
    }

    fn options_for(
        &self,
        manifest: &crate::case::Manifest,
        config: &crate::case::CaseConfig,
    ) -> Result<IngestOptions> {
        let tz = parse_tz_arg(&self.tz).ok_or_else(|| {
            Error::Usage(format!(
                "--tz {}: expected UTC, an offset like +01:00 or a zone like Europe/Berlin",
                self.tz
            ))
        })?;
        use crate::formats::time::DateOrder;
        let mut opts = IngestOptions {
            tz,
            date_order: match self.date_order {
                DateOrderArg::Auto => DateOrder::Auto,
                DateOrderArg::Dmy => DateOrder::DayFirst,
                DateOrderArg::Mdy => DateOrder::MonthFirst,
            },
            host: self.host.clone(),
            commit_every: self.commit_every.max(1),
            ..IngestOptions::default()
        };
        if let Some(t) = self.threads {
            opts.threads = t.max(1);
        }
        // Declared once, a proxy stays declared for the case.
        let mut declared = manifest.trusted_proxies.clone();
        for c in config.trusted_proxies.iter().chain(&self.trusted_proxy) {
            if !declared.contains(c) {
                declared.push(*c);
            }
        }
        opts.proxies = crate::attribution::TrustedProxies::new(declared);
        Ok(opts)
    }
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let stdout = io::stdout();
    // On a terminal every output (CSV and JSON included) has its control characters escaped;
    // into a pipe or a file it is written as it is.
    let (mut plain, mut safe);
    let mut out: &mut dyn Write = if stdout.is_terminal() {
        safe = crate::sanitize::TerminalSafe::new(stdout.lock());
        &mut safe
    } else {
        plain = stdout.lock();
        &mut plain
    };
    let code = dispatch(&mut out, cli)?;
    out.flush().map_err(output::w)?;
    Ok(code)
}

/// The ClickHouse store named by `--store` or the case's config, if any.
fn store_spec(cli: &Cli) -> Result<Option<crate::store::clickhouse::Spec>> {
    let url = match &cli.store {
        Some(url) => Some(url.clone()),
        None => crate::case::CaseConfig::load(&cli.case)
            .ok()
            .and_then(|c| c.store),
    };
    url.map(|u| crate::store::clickhouse::Spec::parse(&u))
        .transpose()
}

/// The case's name in a store: the last component of `--case`.
fn case_name(case: &std::path::Path) -> String {
    case.file_name().map_or_else(
        || case.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The case a command reads: the local directory, or the case of that name in the store.
fn open_source(
    dir: &std::path::Path,
    spec: Option<&crate::store::clickhouse::Spec>,
) -> Result<Source> {
    match spec {
        Some(spec) => Source::store(spec, &case_name(dir)),
        None => Source::local(Case::open(dir)?),
    }
}

/// The options given before a command that reads the case (`trawl --trusted-proxy X hunt`):
/// they apply when evidence is read, so there they would change nothing, in silence.
fn ingest_options_given(a: &IngestArgs) -> Vec<&'static str> {
    let mut given = Vec::new();
    if parse_tz_arg(&a.tz).is_none_or(|tz| !tz.is_utc()) {
        given.push("--tz");
    }
    if a.date_order != DateOrderArg::Auto {
        given.push("--date-order");
    }
    if a.host.is_some() {
        given.push("--host");
    }
    if !a.trusted_proxy.is_empty() {
        given.push("--trusted-proxy");
    }
    if !a.rules.is_empty() {
        given.push("--rules");
    }
    if a.follow {
        given.push("--follow");
    }
    given
}

fn dispatch(out: &mut impl Write, cli: Cli) -> Result<u8> {
    if cli.command.is_some() {
        let given = ingest_options_given(&cli.ingest);
        if !given.is_empty() {
            let (verb, them) = if given.len() == 1 {
                ("is", "it")
            } else {
                ("are", "them")
            };
            return Err(Error::Usage(format!(
                "{} {verb} given before the command, where nothing reads {them}: give {them} after `ingest` (`trawl ingest {} …`; `hunt` and `report` take their own `--rules`), or to `trawl PATH…` for the timeline; evidence already in the case keeps how it was read (ingest into a new case to read it again)",
                given.join(", "),
                given[0]
            )));
        }
    }
    let spec = store_spec(&cli)?;
    let source = || open_source(&cli.case, spec.as_ref());
    match &cli.command {
        Some(Command::Ingest { paths, args }) => {
            ingest::check_paths(paths)?;
            ingest::run(out, &cli.case, spec.as_ref(), paths, args)?;
            Ok(0)
        }
        Some(Command::Hunt {
            format,
            output,
            force,
            rescan,
            rules,
        }) => {
            let source = source()?;
            let output = output.as_deref().map(|o| (o, source.keep(*force)));
            hunt::hunt(out, &source, *format, output, *rescan, rules)?;
            Ok(0)
        }
        Some(Command::Search {
            query,
            json,
            limit,
            reverse,
            count,
        }) => {
            let source = source()?;
            // Rule hits and the responder's marks travel with each event, as in exports.
            let (vocab, annotations) = source.annotated()?;
            source.with(|store| {
                search::search(
                    out,
                    store,
                    &vocab,
                    &|ev| annotations.apply(ev),
                    &query.join(" "),
                    *json,
                    *limit,
                    *reverse,
                    *count,
                )
            })
        }
        Some(Command::Stats { json, top }) => {
            source()?.with(|store| {
                let proxies = crate::hunt::proxies_in(store)?;
                stats::stats(out, store, &proxies, *json, *top)
            })?;
            Ok(0)
        }
        Some(Command::Export {
            query,
            tag,
            format,
            output,
            force,
        }) => {
            let source = source()?;
            let keep = source.keep(*force);
            let text = match tag {
                Some(t) => format!("({query}) AND tag:{}", query::quote_value(t)),
                None => query.clone(),
            };
            let (vocab, annotations) = source.annotated()?;
            source.with(|store| {
                export::export(
                    out,
                    store,
                    &vocab,
                    &annotations,
                    &text,
                    *format,
                    (output, &keep),
                )
            })
        }
        Some(Command::Tag {
            name,
            query: text,
            remove,
        }) => tag::tag(out, &source()?, name, text, *remove),
        Some(Command::Report {
            format,
            output,
            force,
            rules,
        }) => {
            let source = source()?;
            let keep = source.keep(*force);
            report::report(out, &source, *format, output, &keep, rules)?;
            Ok(0)
        }
        None => match &spec {
            Some(spec) => timeline::open_store(&cli, spec, &case_name(&cli.case)),
            None => timeline::open(out, &cli),
        },
    }
}
