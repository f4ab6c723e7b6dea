//! In-process query timings for BENCHMARKS.md (`trawl bench`, used by `scripts/bench.sh`).
//!
//! Each measurement opens nothing new: the case is opened once, then every operation runs
//! `runs` times after one warm-up, and the median is reported, as a responder's session would
//! see it with a warm page cache.

use std::time::Instant;

use serde::Serialize;

use crate::case::Case;
use crate::error::Result;
use crate::query;
use crate::timeline::{Order, Selection, bucket_width};
use crate::view;

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
    samples.sort_by(f64::total_cmp);
    Ok(Timing {
        name: name.to_string(),
        median_ms: samples[samples.len() / 2],
        min_ms: samples[0],
        max_ms: samples[samples.len() - 1],
        result,
    })
}

/// Runs the benchmark queries: the first 100 events by time of an IP pivot, a path wildcard and
/// an IP plus time-range query (each fetching and parsing the 100 events shown), top-20 user
/// agents and an hourly histogram over the whole case, a count of everything, and a page of 50
/// rows deep in the unfiltered timeline.
pub fn run(
    case: &Case,
    ip: &str,
    path_pattern: &str,
    day: &str,
    runs: usize,
) -> Result<Vec<Timing>> {
    let reader = case.reader()?;
    let searcher = reader.searcher();
    let vocab = case.manifest.vocabulary();
    let first_page = |q: &str| -> Result<u64> {
        let compiled = query::compile(q, &case.fields, &vocab)?;
        let sel = Selection::select(&searcher, &compiled)?;
        for row in sel.rows(0, 100) {
            view::load(&searcher, &case.fields, &case.manifest, row.addr)?;
        }
        Ok(sel.len())
    };
    let all = Selection::select(&searcher, &query::compile("*", &case.fields, &vocab)?)?;
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
            Ok(all.top_values("ua", 20, Order::Top)?.distinct)
        })?,
        time("top-20 client IPs, all events", runs, || {
            Ok(all.top_values("ip", 20, Order::Top)?.distinct)
        })?,
    ];
    if let Some((first, last)) = all.span() {
        out.push(time("histogram of all events, 120 buckets", runs, || {
            let (width, _) = bucket_width(last - first + 1, 120);
            let buckets = all.histogram(first, width, 120);
            Ok(buckets.iter().sum())
        })?);
    }
    out.push(time(
        "select everything (unfiltered timeline)",
        runs,
        || {
            let sel = Selection::select(&searcher, &query::compile("*", &case.fields, &vocab)?)?;
            Ok(sel.len())
        },
    )?);
    out.push(time(
        "page of 50 rows at the middle of everything",
        runs,
        || {
            let rows = all.rows(all.len() / 2, 50);
            for row in &rows {
                view::load(&searcher, &case.fields, &case.manifest, row.addr)?;
            }
            Ok(rows.len() as u64)
        },
    )?);
    Ok(out)
}
