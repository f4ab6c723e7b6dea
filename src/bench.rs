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

/// The timeline as a user meets it, drawn into an off-screen 160×50 terminal: the first frame
/// (open the case, select everything, fetch and draw the visible rows), a pivot on an IP from
/// key to redrawn screen, and scrolling one page.
fn timeline_screen(case: &Case, ip: &str, runs: usize) -> Result<Vec<Timing>> {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

    use crate::tui::app::App;
    use crate::tui::backend::Backend;
    use crate::tui::ui::{self, Theme};

    let theme = Theme { color: true };
    let settle =
        |app: &mut App, backend: &mut Backend, term: &mut Terminal<TestBackend>| -> Result<()> {
            for _ in 0..20 {
                // An off-screen terminal cannot fail.
                let Ok(_) = term.draw(|f| ui::draw(f, app, theme));
                let requests = app.take_requests();
                if requests.is_empty() {
                    break;
                }
                for r in requests {
                    let reply = backend.handle(r);
                    app.on_reply(reply);
                }
            }
            Ok(())
        };
    let key = |c: KeyCode| Event::Key(KeyEvent::new(c, KeyModifiers::NONE));
    let names = crate::tui::field_names(case);
    let first = time(
        "timeline: first frame (open, select all, draw)",
        runs,
        || {
            let case = Case::open(&case.dir)?;
            let mut backend = Backend::new(case)?;
            let mut app = App::new(names.clone());
            app.side_panes = false;
            let mut term = off_screen();
            settle(&mut app, &mut backend, &mut term)?;
            Ok(app.total)
        },
    )?;
    // One session for the interactive measurements.
    let mut backend = Backend::new(Case::open(&case.dir)?)?;
    let mut app = App::new(names);
    app.side_panes = false;
    let mut term = off_screen();
    settle(&mut app, &mut backend, &mut term)?;
    // A pivot: the filter a key pushes, the query run, the visible rows fetched, the screen
    // drawn. Popping the filter between runs is not measured.
    let mut samples = Vec::new();
    let mut hits = 0;
    for _ in 0..=runs.max(1) {
        app.act(crate::tui::keys::Action::PopFilter);
        settle(&mut app, &mut backend, &mut term)?;
        let start = Instant::now();
        app.pivot_on("ip", ip, false);
        settle(&mut app, &mut backend, &mut term)?;
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
        hits = app.total;
    }
    samples.remove(0);
    let pivot = summarize(
        &format!("timeline: pivot on ip {ip}, key to redrawn screen"),
        samples,
        hits,
    );
    app.act(crate::tui::keys::Action::PopFilter);
    settle(&mut app, &mut backend, &mut term)?;
    let scroll = time(
        "timeline: scroll one page of all events and redraw",
        runs,
        || {
            app.on_event(&key(KeyCode::PageDown));
            settle(&mut app, &mut backend, &mut term)?;
            Ok(app.cursor)
        },
    )?;
    Ok(vec![first, pivot, scroll])
}

fn off_screen() -> ratatui::Terminal<ratatui::backend::TestBackend> {
    let Ok(t) = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 50));
    t
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
        let mut loader = view::Loader::new(&searcher, &case.fields, &case.manifest);
        for row in sel.rows(0, 100) {
            loader.load(row.addr)?;
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
    if let Some(d) = crate::hunt::load_stored(case) {
        let mut with_sets = vocab.clone();
        with_sets.sets = d.sets();
        out.push(time(
            "`rule:*` (every detection hit), first 100",
            runs,
            || {
                let compiled = query::compile("rule:*", &case.fields, &with_sets)?;
                let sel = Selection::select(&searcher, &compiled)?;
                let mut loader = view::Loader::new(&searcher, &case.fields, &case.manifest);
                for row in sel.rows(0, 100) {
                    loader.load(row.addr)?;
                }
                Ok(sel.len())
            },
        )?);
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
            let mut loader = view::Loader::new(&searcher, &case.fields, &case.manifest);
            for row in &rows {
                loader.load(row.addr)?;
            }
            Ok(rows.len() as u64)
        },
    )?);
    out.extend(timeline_screen(case, ip, runs)?);
    Ok(out)
}
