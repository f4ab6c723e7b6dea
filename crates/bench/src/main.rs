//! In-process query and timeline timings for BENCHMARKS.md: `trawl-bench --case DIR`, run by
//! `scripts/bench.sh` after it has timed the ingest.
//!
//! Each measurement opens nothing new: the case is opened once, then every operation runs
//! `runs` times after one warm-up, and the median is reported, as a responder's session would
//! see it with a warm page cache.

use std::time::Instant;

use serde::Serialize;

use clap::Parser;
use trawl::case::Case;
use trawl::error::Result;
use trawl::selection::{Order, bucket_width};
use trawl::store::Store;

/// One measured operation.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub name: String,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Matching events (or values, for aggregations).
    pub result: u64,
}

fn time<F: FnMut() -> Result<u64>>(name: &str, runs: usize, mut f: F) -> Result<Timing> {
    let result = f()?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(summarize(name, samples, result))
}

fn summarize(name: &str, mut samples: Vec<f64>, result: u64) -> Timing {
    samples.sort_by(f64::total_cmp);
    Timing {
        name: name.to_string(),
        median_ms: samples.get(samples.len() / 2).copied().unwrap_or(0.0),
        min_ms: samples.first().copied().unwrap_or(0.0),
        max_ms: samples.last().copied().unwrap_or(0.0),
        result,
    }
}

/// The timeline as a user meets it, drawn into an off-screen 160×50 terminal (the harness the
/// timeline's tests use): the first frame (open the case, select everything, fetch and draw the
/// visible rows), a pivot on an IP from key to redrawn screen, and scrolling one page.
fn timeline_screen(case: &Case, ip: &str, runs: usize) -> Result<Vec<Timing>> {
    use ratatui::crossterm::event::KeyCode;
    use trawl::session::Session;
    use trawl_testkit::Harness;

    let open = || {
        let mut h = Harness::with_session(&case.dir, Session::default(), 160, 50);
        h.app.side_panes = false;
        h.settle();
        h
    };
    let first = time(
        "timeline: first frame (open, select all, draw)",
        runs,
        || Ok(open().app.total),
    )?;
    // One session for the interactive measurements.
    let mut h = open();
    // A pivot: the filter a key pushes, the query run, the visible rows fetched, the screen
    // drawn. Popping the filter between runs is not measured.
    let mut samples = Vec::new();
    let mut hits = 0;
    for _ in 0..=runs.max(1) {
        h.app.act(trawl::tui::keys::Action::PopFilter);
        h.settle();
        let start = Instant::now();
        h.app.pivot_on("ip", ip, false);
        h.settle();
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
        hits = h.app.total;
    }
    samples.remove(0);
    let pivot = summarize(
        &format!("timeline: pivot on ip {ip}, key to redrawn screen"),
        samples,
        hits,
    );
    h.app.act(trawl::tui::keys::Action::PopFilter);
    h.settle();
    let scroll = time(
        "timeline: scroll one page of all events and redraw",
        runs,
        || {
            h.key(KeyCode::PageDown);
            Ok(h.app.cursor)
        },
    )?;
    Ok(vec![first, pivot, scroll])
}

/// Runs the benchmark queries through the store seam (`trawl::store`), which the local case and
/// a ClickHouse case both answer: the first 100 events by time of an IP pivot, a path wildcard
/// and an IP plus time-range query (each fetching and parsing the 100 events shown), top-20
/// user agents and IPs and an hourly histogram over the whole case, every detection hit, a
/// count of everything, a page of 50 rows deep in the unfiltered timeline, and what the
/// timeline's first frame needs (everything selected, its histogram, the first screen of rows).
fn run_store(
    store: &dyn trawl::store::Store,
    ip: &str,
    path_pattern: &str,
    day: &str,
    runs: usize,
) -> Result<Vec<Timing>> {
    let vocab = store.vocabulary();
    let select =
        |q: &str| -> Result<Box<dyn trawl::store::Selected + '_>> { Ok(store.select(q, &vocab)??) };
    let first_page = |q: &str| -> Result<u64> {
        let sel = select(q)?;
        sel.events(0, 100)?;
        Ok(sel.len())
    };
    let all = select("*")?;
    let mut out = vec![
        time(
            &format!("ip pivot `ip:{ip}`, first 100 by time"),
            runs,
            || first_page(&format!("ip:{ip}")),
        )?,
        time(
            &format!("path wildcard `path:{path_pattern}`, first 100"),
            runs,
            || first_page(&format!("path:{path_pattern}")),
        )?,
        time(&format!("`ip:{ip} AND ts:{day}`, first 100"), runs, || {
            first_page(&format!("ip:{ip} AND ts:{day}"))
        })?,
        time("top-20 user agents, all events", runs, || {
            Ok(all.top_values("ua", 20, Order::Top, false)?.distinct)
        })?,
        time("top-20 client IPs, all events", runs, || {
            Ok(all.top_values("ip", 20, Order::Top, false)?.distinct)
        })?,
    ];
    if let Some((first, last)) = all.span()? {
        out.push(time("histogram of all events, 120 buckets", runs, || {
            let (width, _) = bucket_width(last - first + 1, 120);
            Ok(all.histogram(first, width, 120)?.iter().sum())
        })?);
    }
    if let Some(d) = trawl::hunt::load_stored_in(store) {
        let mut with_sets = vocab.clone();
        with_sets.sets = d.sets();
        out.push(time(
            "`rule:*` (every detection hit), first 100",
            runs,
            || {
                let sel = store.select("rule:*", &with_sets)??;
                sel.events(0, 100)?;
                Ok(sel.len())
            },
        )?);
    }
    out.push(time(
        "select everything (unfiltered timeline)",
        runs,
        || Ok(select("*")?.len()),
    )?);
    out.push(time(
        "page of 50 rows at the middle of everything",
        runs,
        || Ok(all.events(all.len() / 2, 50)?.len() as u64),
    )?);
    out.push(time(
        "first frame's data: select all, span, 120-bucket histogram, 50 rows",
        runs,
        || {
            let sel = select("*")?;
            if let Some((first, last)) = sel.span()? {
                let (width, _) = bucket_width(last - first + 1, 120);
                sel.histogram(first, width, 120)?;
            }
            Ok(sel.events(0, 50)?.len() as u64)
        },
    )?);
    Ok(out)
}

/// Times the benchmark queries and the timeline on a case.
#[derive(Debug, Parser)]
#[command(name = "trawl-bench")]
struct Args {
    /// The case to measure.
    #[arg(long)]
    case: std::path::PathBuf,
    /// Address for the IP pivots.
    #[arg(long, default_value = "185.220.101.47")]
    ip: String,
    /// Pattern for the path wildcard query.
    #[arg(long, default_value = "/ecp/*.js")]
    path: String,
    /// Day for the IP + time range query.
    #[arg(long, default_value = "2024-03-05")]
    day: String,
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// A ClickHouse store (`--case` then names the case in it) (clickhouse://HOST:PORT/DATABASE[?cluster=NAME]).
    #[arg(long)]
    store: Option<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let timings = match &args.store {
        Some(url) => trawl::store::clickhouse::Spec::parse(url).and_then(|spec| {
            let name = args.case.to_string_lossy();
            let start = Instant::now();
            let store = trawl::store::clickhouse::ClickHouse::open(&spec, &name)?;
            let open = summarize(
                "open the case (its commits and manifests)",
                vec![start.elapsed().as_secs_f64() * 1000.0],
                store.manifest().files.len() as u64,
            );
            let mut t = vec![open];
            t.extend(run_store(
                &store, &args.ip, &args.path, &args.day, args.runs,
            )?);
            // The timeline itself, off-screen (160×50), as `trawl --store …` opens it.
            t.push(time(
                "timeline: first frame (open, select all, draw)",
                args.runs,
                || {
                    let source = trawl::source::Source::store(&spec, &name)?;
                    let h = trawl_testkit::Harness::with_source(source, 160, 50);
                    Ok(h.app.total)
                },
            )?);
            Ok(t)
        }),
        None => Case::open(&args.case).and_then(|case| {
            let store = trawl::store::local::LocalStore::new(&case)?;
            let mut t = run_store(&store, &args.ip, &args.path, &args.day, args.runs)?;
            t.extend(timeline_screen(&case, &args.ip, args.runs)?);
            Ok(t)
        }),
    };
    match timings {
        Ok(timings) => {
            for t in timings {
                println!(
                    "{:>9.2} ms  (min {:.2}, max {:.2})  {:>10}  {}",
                    t.median_ms, t.min_ms, t.max_ms, t.result, t.name
                );
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trawl-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
