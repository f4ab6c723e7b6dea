//! The incident report built from a case (`trawl report`): hosts and log coverage with gaps,
//! detection findings, inferred web shells and suspects, the marked evidence in time order with
//! tags, notes and `file:line`, indicators ready for a blocklist, and a histogram of malicious
//! activity. Markdown, or one self-contained HTML file that opens offline.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::error::Result;
use crate::formats::time::format_ms;
use crate::hunt::{self, Report as Hunt};
use crate::marks::Marks;
use crate::query;
use crate::sanitize::escape_controls;
use crate::selection::{Order, bucket_width};
use crate::store::{Selected, Store};

/// Log coverage of one host and source.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub host: String,
    pub source: String,
    pub events: u64,
    pub first: String,
    pub last: String,
    /// Whole hours without any event inside the covered span: (start, end).
    pub gaps: Vec<(String, String)>,
}

/// One marked event.
#[derive(Debug, Clone, Serialize)]
pub struct MarkedEvent {
    pub ts: String,
    pub host: String,
    pub summary: String,
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub bookmark: bool,
    pub file: String,
    pub line: u64,
}

/// Everything the report shows.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentReport {
    pub hunt: Hunt,
    pub coverage: Vec<Coverage>,
    pub evidence: Vec<MarkedEvent>,
    pub indicators_ips: Vec<String>,
    pub indicators_uas: Vec<String>,
    pub indicators_paths: Vec<String>,
    /// User agents the suspects sent that other clients send too (a monitoring job's
    /// `python-requests`): blocking them would break those, so they are not indicators.
    pub shared_uas: Vec<SharedAgent>,
    /// Malicious events over time, per host.
    pub activity: Option<Activity>,
}

/// A user agent seen from suspects and from other clients.
#[derive(Debug, Clone, Serialize)]
pub struct SharedAgent {
    pub ua: String,
    /// Its events in the case, and those from addresses that are not suspects.
    pub events: u64,
    pub from_others: u64,
    /// A few of those other addresses.
    pub others: Vec<String>,
}

/// Malicious events (high-severity hits, the suspects' requests, web shell requests) counted
/// in equal buckets over their whole span.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub start_ms: i64,
    pub width_ms: i64,
    /// The bucket width in words (`15m`, `1h`).
    pub label: String,
    pub hosts: Vec<HostActivity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostActivity {
    pub host: String,
    pub counts: Vec<u64>,
    /// The host's verdict window, when it has one.
    pub window: Option<(i64, i64)>,
}

/// Gaps shorter than this many hours are not worth a line.
const MIN_GAP_HOURS: usize = 2;

/// Gathers the report's content.
pub fn build(
    store: &dyn Store,
    detections: &hunt::Detections,
    marks: &Marks,
) -> Result<IncidentReport> {
    let hunt_report = hunt::report_in(store, detections)?;
    let mut vocab = store.vocabulary();
    vocab.sets = detections.sets();
    vocab.sets.extend(marks.sets());
    vocab.unknown_fields_match_nothing = true;
    let select = |q: &str| -> Result<Box<dyn Selected + '_>> { Ok(store.select(q, &vocab)??) };

    let mut coverage = Vec::new();
    let all = select("*")?;
    let mut hosts: Vec<String> = all
        .top_values("host", 1000, Order::Top, false)?
        .values
        .into_iter()
        .map(|v| v.value)
        .collect();
    // Logs that name no server are coverage too: a verdict cannot rest on what they hold.
    if !select(&query::host_query(query::NO_HOST))?.is_empty() {
        hosts.push(query::NO_HOST.to_string());
    }
    for host in hosts {
        let q_host = query::host_query(&host);
        let on_host = select(&q_host)?;
        for source in on_host.top_values("source", 100, Order::Top, false)?.values {
            let sel = select(&format!(
                "{q_host} AND source:{}",
                query::quote_value(&source.value)
            ))?;
            let Some((first, last)) = sel.span()? else {
                continue;
            };
            coverage.push(Coverage {
                host: host.clone(),
                source: source.value,
                events: sel.len(),
                first: format_ms(first),
                last: format_ms(last),
                gaps: if steady(sel.len(), first, last) {
                    gaps(&sel, first, last)?
                } else {
                    Vec::new()
                },
            });
        }
    }

    let marked = select("marked:true")?;
    let mut evidence = Vec::new();
    let mut found = std::collections::HashSet::new();
    for ev in marked.events(0, marked.len() as usize)? {
        found.insert(crate::event::EventKey::new(ev.file_id, ev.line));
        let mark = marks.get(ev.file_id, ev.line).cloned().unwrap_or_default();
        let e = hunt::evidence_of(&ev);
        evidence.push(MarkedEvent {
            ts: ev.ts.clone(),
            host: ev.host.clone().unwrap_or_default(),
            summary: e.summary,
            tags: mark.tags.into_iter().collect(),
            note: mark.note,
            bookmark: mark.bookmark,
            file: ev.file.clone(),
            line: ev.line,
        });
    }

    // Marks whose event the case no longer holds (its file removed, or changed and re-read)
    // are still the responder's word: listed, not dropped.
    let orphans = marks.marks.iter().filter(|(k, _)| !found.contains(*k));
    let orphans: Vec<MarkedEvent> = orphans
        .map(|(_, m)| MarkedEvent {
            ts: m.ts.clone(),
            host: String::new(),
            summary: "(this event is no longer in the case)".into(),
            tags: m.tags.iter().cloned().collect(),
            note: m.note.clone(),
            bookmark: m.bookmark,
            file: m.file.clone(),
            line: m.line,
        })
        .collect();
    if !orphans.is_empty() {
        evidence.extend(orphans);
        evidence.sort_by(|a, b| a.ts.cmp(&b.ts));
    }

    let indicators_ips: Vec<String> = hunt_report
        .suspects
        .iter()
        .map(|s| s.client.clone())
        .collect();
    let mut uas = BTreeSet::new();
    let suspects_query = indicators_ips
        .iter()
        .map(|ip| format!("client:{}", query::quote_value(ip)))
        .collect::<Vec<_>>()
        .join(" OR ");
    for ip in &indicators_ips {
        let sel = select(&format!("client:{}", query::quote_value(ip)))?;
        for v in sel.top_values("ua", 10, Order::Top, false)?.values {
            // The index counts user agents without case; a blocklist wants them as sent.
            let one = select(&format!(
                "client:{} AND ua:{}",
                query::quote_value(ip),
                query::quote_value(&v.value)
            ))?;
            let written = one.events(0, 1)?.into_iter().next().and_then(|e| e.ua);
            uas.insert(written.unwrap_or(v.value));
        }
    }
    // An agent is an indicator only when (nearly) all of its events come from suspects.
    let mut indicators_uas = Vec::new();
    let mut shared_uas = Vec::new();
    for ua in uas {
        let everywhere = select(&format!("ua:{}", query::quote_value(&ua)))?;
        let others = select(&format!(
            "ua:{} AND NOT ({suspects_query})",
            query::quote_value(&ua)
        ))?;
        if others.len() * 20 <= everywhere.len() {
            indicators_uas.push(ua);
        } else {
            shared_uas.push(SharedAgent {
                ua,
                events: everywhere.len(),
                from_others: others.len(),
                others: others
                    .top_values("client", 3, Order::Top, false)?
                    .values
                    .into_iter()
                    .map(|v| v.value)
                    .collect(),
            });
        }
    }
    let indicators_paths: Vec<String> = hunt_report
        .webshells
        .iter()
        .map(|w| w.path.clone())
        .collect();

    let activity = activity(&hunt_report, &select)?;
    Ok(IncidentReport {
        hunt: hunt_report,
        coverage,
        evidence,
        indicators_ips,
        indicators_uas,
        indicators_paths,
        shared_uas,
        activity,
    })
}

/// Gaps only mean something in a log that normally writes every hour (ten events an hour or
/// more); ECP, OAB and event logs are quiet for hours on a normal day.
fn steady(events: u64, first: i64, last: i64) -> bool {
    let hours = ((last - first) / 3_600_000).max(1) as u64;
    events / hours >= 10
}

fn gaps(sel: &dyn Selected, first: i64, last: i64) -> Result<Vec<(String, String)>> {
    const HOUR: i64 = 3_600_000;
    let start = first.div_euclid(HOUR) * HOUR;
    let hours = ((last - start) / HOUR + 1) as usize;
    let counts = sel.histogram(start, HOUR, hours)?;
    let mut out = Vec::new();
    let mut run_start = None;
    for (i, c) in counts.iter().chain(std::iter::once(&1)).enumerate() {
        match (c, run_start) {
            (0, None) => run_start = Some(i),
            (0, Some(_)) => {}
            (_, Some(s)) => {
                if i - s >= MIN_GAP_HOURS {
                    out.push((
                        format_ms(start + s as i64 * HOUR),
                        format_ms(start + i as i64 * HOUR),
                    ));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Buckets across the malicious events' span, about this many.
const ACTIVITY_BUCKETS: usize = 96;

fn activity<'s>(
    h: &Hunt,
    select: &dyn Fn(&str) -> Result<Box<dyn Selected + 's>>,
) -> Result<Option<Activity>> {
    let mut parts: Vec<String> = h
        .findings
        .iter()
        .filter(|f| f.severity == crate::rules::Severity::High)
        .map(|f| format!("rule:{}", f.rule))
        .collect();
    parts.extend(
        h.suspects
            .iter()
            .map(|s| format!("client:{}", query::quote_value(&s.client))),
    );
    parts.extend(
        h.webshells
            .iter()
            .map(|w| format!("path:{}", query::quote_value(&w.path))),
    );
    if parts.is_empty() {
        return Ok(None);
    }
    let malicious = format!("({})", parts.join(" OR "));
    let sel = select(&malicious)?;
    let Some((first, last)) = sel.span()? else {
        return Ok(None);
    };
    let (width, label) = bucket_width(last - first + 1, ACTIVITY_BUCKETS);
    let start = first.div_euclid(width) * width;
    let n = ((last - start) / width + 1) as usize;
    let mut hosts = Vec::new();
    for v in sel.top_values("host", 1000, Order::Top, false)?.values {
        let on_host = select(&format!(
            "{malicious} AND host:{}",
            query::quote_value(&v.value)
        ))?;
        let window = h.verdicts.iter().find(|x| x.host == v.value).and_then(|x| {
            let ms = |t: &Option<String>| {
                t.as_deref()
                    .and_then(|t| crate::formats::time::parse_iso(t, crate::formats::utc()))
                    .map(|i| i.ms)
            };
            Some((ms(&x.first)?, ms(&x.last)?))
        });
        hosts.push(HostActivity {
            host: v.value,
            counts: on_host.histogram(start, width, n)?,
            window,
        });
    }
    Ok(Some(Activity {
        start_ms: start,
        width_ms: width,
        label: label.to_string(),
        hosts,
    }))
}

/// The activity as an inline SVG: a row of bars per host over one time axis, the verdict's
/// window shaded behind them. Self-contained: the report opens offline.
fn activity_svg(a: &Activity) -> String {
    const LEFT: usize = 90;
    const ROW: usize = 46;
    const PLOT: usize = 960;
    let n = a.hosts.first().map_or(0, |h| h.counts.len()).max(1);
    let bar = PLOT as f64 / n as f64;
    let height = a.hosts.len() * ROW + 30;
    let span_ms = (a.width_ms * n as i64).max(1) as f64;
    let x_of = |ms: i64| {
        LEFT as f64 + ((ms - a.start_ms) as f64 / span_ms * PLOT as f64).clamp(0.0, PLOT as f64)
    };
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {height}\" width=\"100%\" role=\"img\" aria-label=\"malicious events per host over time\" font-family=\"sans-serif\" font-size=\"11\">",
        LEFT + PLOT + 10
    );
    for (row, h) in a.hosts.iter().enumerate() {
        let top = row * ROW + 4;
        let max = h.counts.iter().copied().max().unwrap_or(0).max(1);
        if let Some((from, to)) = h.window {
            let (x0, x1) = (x_of(from), x_of(to + a.width_ms));
            let _ = write!(
                o,
                "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{}\" fill=\"#fde2e2\"><title>verdict window {} .. {}</title></rect>",
                (x1 - x0).max(1.0),
                ROW - 8,
                format_ms(from),
                format_ms(to)
            );
        }
        let _ = write!(
            o,
            "<text x=\"0\" y=\"{}\">{}</text><line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>",
            top + ROW / 2,
            esc(&h.host),
            top + ROW - 4,
            LEFT + PLOT,
            top + ROW - 4
        );
        for (i, &c) in h.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let bar_height = ((c as f64 / max as f64) * (ROW - 10) as f64).max(1.0);
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar_height:.1}\" fill=\"#b00\"><title>{} {c}</title></rect>",
                LEFT as f64 + i as f64 * bar,
                (top + ROW - 4) as f64 - bar_height,
                (bar - 0.5).max(0.5),
                format_ms(a.start_ms + i as i64 * a.width_ms)
            );
        }
    }
    let axis = a.hosts.len() * ROW + 20;
    let end = a.start_ms + a.width_ms * n as i64;
    let _ = write!(
        o,
        "<text x=\"{LEFT}\" y=\"{axis}\">{}</text><text x=\"{}\" y=\"{axis}\" text-anchor=\"end\">{}</text></svg>",
        format_ms(a.start_ms),
        LEFT + PLOT,
        format_ms(end)
    );
    o
}

fn esc(s: &str) -> String {
    escape_controls(s).into_owned()
}

/// A verdict's first deciding events, each written by `cite`, after its reason (or nothing).
fn evidence_suffix(v: &hunt::HostVerdict, cite: impl Fn(&hunt::Cited) -> String) -> String {
    let cited: Vec<String> = v.evidence.iter().take(3).map(cite).collect();
    if cited.is_empty() {
        String::new()
    } else {
        format!("; evidence {}", cited.join(", "))
    }
}

fn md_cell(s: &str) -> String {
    hunt::output::md(s)
}

fn md_code(s: &str) -> String {
    hunt::output::md_code(s)
}

/// The report in Markdown.
pub fn markdown(r: &IncidentReport, case: &str) -> String {
    let mut o = String::new();
    let h = &r.hunt;
    let _ = writeln!(o, "# Incident report: {}\n", md_cell(case));
    let _ = writeln!(
        o,
        "Generated by trawl {} at {}. All times UTC.\n",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    for t in &h.time_warnings {
        let _ = writeln!(
            o,
            "**Time warning** `{}`: {}\n",
            md_code(&t.file),
            md_cell(&t.warning)
        );
    }
    let _ = writeln!(o, "## Summary\n");
    for v in &h.verdicts {
        let span = match (&v.first, &v.last) {
            (Some(a), Some(b)) => format!(", {a} .. {b}"),
            _ => String::new(),
        };
        let evidence = evidence_suffix(v, |c| {
            format!("`{}:{}` ({})", md_code(&c.file), c.line, md_cell(&c.rule))
        });
        let _ = writeln!(
            o,
            "- **{}: {}**{span}: {}{evidence}",
            md_cell(&v.host),
            v.verdict,
            md_cell(v.reasons.first().map_or("", String::as_str))
        );
    }
    if h.windows.is_empty() {
        let _ = writeln!(
            o,
            "\nNo compromise finding. Check the log coverage below before concluding.\n"
        );
    }
    for w in &h.windows {
        let _ = writeln!(
            o,
            "- **{}** compromised: first malicious event {} (`{}:{}`), last {} (`{}:{}`)",
            md_cell(&w.host),
            w.first,
            md_code(&w.first_event.file),
            w.first_event.line,
            w.last,
            md_code(&w.last_event.file),
            w.last_event.line
        );
    }
    for s in &h.webshells {
        let _ = writeln!(
            o,
            "- web shell `{}` on {}: {}",
            md_code(&s.path),
            md_cell(&s.host),
            md_cell(&s.use_summary())
        );
    }
    let _ = writeln!(
        o,
        "\n## Hosts and log coverage\n\n| host | log | events | first | last | gaps (≥ {MIN_GAP_HOURS} h without events, in logs that write hourly) |\n|---|---|---|---|---|---|"
    );
    for c in &r.coverage {
        let gaps: Vec<String> = c
            .gaps
            .iter()
            .take(5)
            .map(|(a, b)| format!("{a} – {b}"))
            .collect();
        let more = if c.gaps.len() > 5 {
            format!(" (+{} more)", c.gaps.len() - 5)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {}{more} |",
            md_cell(&c.host),
            md_cell(&c.source),
            c.events,
            c.first,
            c.last,
            gaps.join("; ")
        );
    }
    if let Some(a) = &r.activity {
        let _ = writeln!(
            o,
            "\n## Malicious activity over time ({} per line, empty stretches folded)\n\n```text",
            a.label
        );
        for h in &a.hosts {
            let max = h.counts.iter().copied().max().unwrap_or(0).max(1);
            let _ = writeln!(o, "{}", esc(&h.host));
            let mut empty = 0;
            for (i, &c) in h.counts.iter().enumerate() {
                if c == 0 {
                    empty += 1;
                    continue;
                }
                if empty > 0 {
                    let _ = writeln!(o, "  … {empty} empty");
                    empty = 0;
                }
                let bar = "█".repeat(((c * 50).div_ceil(max)) as usize);
                let t = format_ms(a.start_ms + i as i64 * a.width_ms);
                let _ = writeln!(o, "  {t} {c:>6} {bar}");
            }
        }
        let _ = writeln!(o, "```\n");
    }
    let _ = writeln!(o, "## Marked evidence\n");
    if r.evidence.is_empty() {
        let _ = writeln!(
            o,
            "No event was marked (in the timeline: `m` bookmark, `t` tag, `n` note).\n"
        );
    } else {
        let _ = writeln!(
            o,
            "| time | host | event | tags | note | evidence |\n|---|---|---|---|---|---|"
        );
        for e in &r.evidence {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | `{}:{}` |",
                e.ts,
                md_cell(&e.host),
                md_cell(&e.summary),
                md_cell(&e.tags.join(", ")),
                md_cell(e.note.as_deref().unwrap_or("")),
                md_code(&e.file),
                e.line
            );
        }
        o.push('\n');
    }
    let indicators: Vec<String> = r
        .indicators_ips
        .iter()
        .chain(&r.indicators_paths)
        .chain(&r.indicators_uas)
        .map(|v| esc(v))
        .collect();
    // A fence longer than any run of backticks in the values, which attackers write.
    let longest_run = indicators
        .iter()
        .flat_map(|v| v.split(|c| c != '`').map(str::len))
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let _ = writeln!(o, "## Indicators\n\n{fence}text");
    for v in &indicators {
        let _ = writeln!(o, "{v}");
    }
    let _ = writeln!(o, "{fence}\n");
    if !r.shared_uas.is_empty() {
        let _ = writeln!(
            o,
            "Not indicators: user agents the suspects sent that other clients send too (blocking them would break those):\n"
        );
        for u in &r.shared_uas {
            let _ = writeln!(
                o,
                "* `{}`: {} events, {} from other addresses ({})",
                md_code(&u.ua).replace('`', "'"),
                u.events,
                u.from_others,
                md_cell(&u.others.join(", "))
            );
        }
        o.push('\n');
    }
    o.push_str(
        &hunt::output::markdown(h)
            .replacen("# trawl hunt", "## Detections", 1)
            .replace("\n## ", "\n### "),
    );
    o
}

fn html_escape(s: &str) -> String {
    esc(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report as one self-contained HTML file (inline styles, no scripts, nothing fetched).
pub fn html(r: &IncidentReport, case: &str) -> String {
    let h = &r.hunt;
    let e = html_escape;
    let mut o = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    let _ = writeln!(o, "<title>Incident report: {}</title>", e(case));
    o.push_str("<style>body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1200px}table{border-collapse:collapse;margin:1em 0;width:100%;table-layout:fixed}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top;font-size:90%;overflow-wrap:anywhere}pre{white-space:pre-wrap;overflow-wrap:anywhere}th{background:#eee}code,pre{font-family:ui-monospace,monospace}.sev-high{color:#b00;font-weight:bold}.sev-medium{color:#a60}.bar{background:#b00;height:.8em;display:inline-block}pre{background:#f5f5f5;padding:1em}</style></head><body>\n");
    let _ = writeln!(o, "<h1>Incident report: {}</h1>", e(case));
    let _ = writeln!(
        o,
        "<p>Generated by trawl {} at {}. All times UTC.</p>",
        env!("CARGO_PKG_VERSION"),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    for t in &h.time_warnings {
        let _ = writeln!(
            o,
            "<p><b>Time warning</b> <code>{}</code>: {}</p>",
            e(&t.file),
            e(&t.warning)
        );
    }
    o.push_str("<h2>Summary</h2><ul>");
    for v in &h.verdicts {
        let span = match (&v.first, &v.last) {
            (Some(a), Some(b)) => format!(", {a} .. {b}"),
            _ => String::new(),
        };
        let evidence = evidence_suffix(v, |c| {
            format!("<code>{}:{}</code> ({})", e(&c.file), c.line, e(&c.rule))
        });
        let _ = write!(
            o,
            "<li><b>{}: {}</b>{span}: {}{evidence}</li>",
            e(&v.host),
            v.verdict,
            e(v.reasons.first().map_or("", String::as_str))
        );
    }
    if h.windows.is_empty() {
        o.push_str(
            "<li>No compromise finding. Check the log coverage below before concluding.</li>",
        );
    }
    for w in &h.windows {
        let _ = write!(
            o,
            "<li><b>{}</b> compromised: first malicious event {} (<code>{}:{}</code>), last {} (<code>{}:{}</code>)</li>",
            e(&w.host),
            w.first,
            e(&w.first_event.file),
            w.first_event.line,
            w.last,
            e(&w.last_event.file),
            w.last_event.line
        );
    }
    for s in &h.webshells {
        let _ = write!(
            o,
            "<li>web shell <code>{}</code> on {}: {}</li>",
            e(&s.path),
            e(&s.host),
            e(&s.use_summary())
        );
    }
    o.push_str("</ul>\n<h2>Hosts and log coverage</h2><table><tr><th>host</th><th>log</th><th>events</th><th>first</th><th>last</th><th>gaps</th></tr>");
    for c in &r.coverage {
        let gaps: Vec<String> = c.gaps.iter().map(|(a, b)| format!("{a} – {b}")).collect();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&c.host),
            e(&c.source),
            c.events,
            c.first,
            c.last,
            e(&gaps.join("; "))
        );
    }
    o.push_str("</table>\n");
    if let Some(a) = &r.activity {
        let _ = write!(
            o,
            "<h2>Malicious activity over time</h2><p>Per host, {} per bar; the verdict's window shaded.</p>{}",
            e(&a.label),
            activity_svg(a)
        );
    }
    o.push_str("\n<h2>Detection findings</h2><table><tr><th>severity</th><th>rule</th><th>events</th><th>first seen</th><th>last seen</th><th>hosts</th><th>addresses</th><th>example</th></tr>");
    for f in &h.findings {
        let example = f.examples.first().map_or(String::new(), |x| {
            format!("<code>{}:{}</code>", e(&x.file), x.line)
        });
        let _ = write!(
            o,
            "<tr><td class=\"sev-{}\">{}</td><td><code>{}</code><br>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{example}</td></tr>",
            f.severity,
            f.severity,
            e(&f.rule),
            e(&f.title),
            f.count_cell(),
            f.first_seen,
            f.last_seen,
            e(&f.hosts.join(", ")),
            e(&f.clients
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
    o.push_str("</table>\n<h2>Suspect addresses</h2><table><tr><th>address</th><th>events</th><th>first</th><th>last</th><th>why</th></tr>");
    for s in &h.suspects {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&s.client),
            s.events,
            s.first,
            s.last,
            e(&s.reasons.join("; "))
        );
    }
    o.push_str("</table>\n<h2>Marked evidence</h2>");
    if r.evidence.is_empty() {
        o.push_str("<p>No event was marked.</p>");
    } else {
        o.push_str("<table><tr><th>time</th><th>host</th><th>event</th><th>tags</th><th>note</th><th>evidence</th></tr>");
        for x in &r.evidence {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}:{}</code></td></tr>",
                x.ts,
                e(&x.host),
                e(&x.summary),
                e(&x.tags.join(", ")),
                e(x.note.as_deref().unwrap_or("")),
                e(&x.file),
                x.line
            );
        }
        o.push_str("</table>");
    }
    o.push_str("\n<h2>Indicators</h2><pre>");
    for line in r
        .indicators_ips
        .iter()
        .chain(&r.indicators_paths)
        .chain(&r.indicators_uas)
    {
        let _ = writeln!(o, "{}", e(line));
    }
    o.push_str("</pre>");
    if !r.shared_uas.is_empty() {
        o.push_str("<p>Not indicators: user agents the suspects sent that other clients send too (blocking them would break those):</p><ul>");
        for u in &r.shared_uas {
            let _ = write!(
                o,
                "<li><code>{}</code>: {} events, {} from other addresses ({})</li>",
                e(&u.ua),
                u.events,
                u.from_others,
                e(&u.others.join(", "))
            );
        }
        o.push_str("</ul>");
    }
    o.push_str("\n<h2>Noise</h2><table><tr><th>rule</th><th>events</th><th>addresses</th></tr>");
    for f in &h.noise {
        let _ = write!(
            o,
            "<tr><td><code>{}</code> {}</td><td>{}</td><td>{}</td></tr>",
            e(&f.rule),
            e(&f.title),
            f.count_cell(),
            e(&f.clients.join(", "))
        );
    }
    o.push_str("</table></body></html>\n");
    o
}
