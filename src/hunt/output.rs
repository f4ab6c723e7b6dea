//! `trawl hunt` output: a triage summary to paste (text, Markdown), a stable JSON document, and a
//! CSV hit list (one row per finding example, as Test-ProxyLogon's CSVs are read).

use std::fmt::Write as _;

use super::{EventRef, Finding, Report};
use crate::sanitize::escape_controls;

/// Text for a terminal or a ticket: one VERDICT line per host first.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let range = match (&r.first_event, &r.last_event) {
        (Some(a), Some(b)) => format!("{a} .. {b}"),
        _ => "no events".into(),
    };
    for t in &r.time_warnings {
        let _ = writeln!(o, "TIME WARNING {}: {}", esc(&t.file), esc(&t.warning));
    }
    let width = r.verdicts.iter().map(|v| v.host.len()).max().unwrap_or(0);
    for v in &r.verdicts {
        let span = match (&v.first, &v.last) {
            (Some(a), Some(b)) => format!(" {a} .. {b}"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "VERDICT {:<width$}  {:<11}{span}",
            esc(&v.host),
            v.verdict.to_string().to_uppercase(),
        );
        for why in v.reasons.iter().take(4) {
            let _ = writeln!(o, "    {}", esc(why));
        }
        if v.reasons.len() > 4 {
            let _ = writeln!(o, "    … {} more reason(s)", v.reasons.len() - 4);
        }
        for c in v.evidence.iter().take(3) {
            let _ = writeln!(
                o,
                "    evidence: {} {} {}:{} ({})",
                c.ts,
                c.outcome,
                esc(&c.file),
                c.line,
                c.rule
            );
        }
    }
    if r.verdicts.is_empty() {
        let _ = writeln!(o, "VERDICT: the case holds no events.");
    }
    let _ = writeln!(
        o,
        "\ntrawl hunt: case {}, {} events, {range}",
        esc(&r.case),
        r.events
    );
    if !r.proxies.is_empty() {
        let _ = writeln!(
            o,
            "\nProxies and balancers (clients are attributed behind them):"
        );
        for p in &r.proxies {
            let _ = writeln!(o, "  {} ({}): {}", p.address, p.role, esc(&p.why));
        }
    }
    section(&mut o, "Findings", &r.findings, &[]);
    if !r.webshells.is_empty() {
        let _ = writeln!(o, "\nWeb shells:");
        for w in &r.webshells {
            let used = if !w.first_seen.is_empty() {
                format!(
                    "first answered {}, {} request(s) ({} POST)",
                    w.first_seen, w.requests, w.posts
                )
            } else if w.host_web_logged {
                format!("never answered, {} request(s)", w.requests)
            } else {
                "no web logs of its host in the case: whether it answered is unknown".to_string()
            };
            let _ = writeln!(
                o,
                "  {} on {}: {used}; {}",
                esc(&w.path),
                esc(&w.host),
                esc(&w.why)
            );
            match (&w.written_by, &w.written_by_note) {
                (Some(e), _) => {
                    let _ = writeln!(o, "    written by: {}", dated(e));
                }
                (None, Some(note)) => {
                    let _ = writeln!(o, "    written by: unknown: {}", esc(note));
                }
                (None, None) => {}
            }
            for c in &w.clients {
                let _ = writeln!(
                    o,
                    "    client {} — {} request(s), {} .. {}",
                    c.client, c.requests, c.first, c.last
                );
            }
            if !w.worker_processes.is_empty() {
                let _ = writeln!(
                    o,
                    "    then the web server's worker started processes ({} event(s)):",
                    w.worker_process_events
                );
                for e in &w.worker_processes {
                    let _ = writeln!(o, "      {}", dated(e));
                }
            }
        }
    }
    if !r.suspects.is_empty() {
        let _ = writeln!(o, "\nSuspect clients:");
        for s in &r.suspects {
            let _ = writeln!(
                o,
                "  {} ({}) — {} events, {} .. {}",
                s.client, s.role, s.events, s.first, s.last
            );
            for why in &s.reasons {
                let _ = writeln!(o, "    {}", esc(why));
            }
        }
    }
    if !r.windows.is_empty() {
        let _ = writeln!(o, "\nIncident windows:");
        for w in &r.windows {
            let _ = writeln!(o, "  {}  {} .. {}", w.host, w.first, w.last);
            let _ = writeln!(
                o,
                "    first: {} ({}:{})",
                esc(&w.first_event.summary),
                esc(&w.first_event.file),
                w.first_event.line
            );
            let _ = writeln!(
                o,
                "    last:  {} ({}:{})",
                esc(&w.last_event.summary),
                esc(&w.last_event.file),
                w.last_event.line
            );
        }
    }
    let suspects: Vec<&str> = r.suspects.iter().map(|s| s.client.as_str()).collect();
    section(
        &mut o,
        "Noise (looks like an attack, is not compromise)",
        &r.noise,
        &suspects,
    );
    o
}

fn esc(s: &str) -> String {
    escape_controls(s).into_owned()
}

/// An event as a line: its time, summary and place in the evidence.
fn dated(e: &EventRef) -> String {
    format!("{} {} ({}:{})", e.ts, esc(&e.summary), esc(&e.file), e.line)
}

/// `suspects`: clients named as suspects elsewhere in the report; a noise finding says which of
/// its clients are (an attacker runs the public vulnerability check before the exploit: that
/// probe is noise as a finding, and the first step of the intrusion in the timeline).
fn section(o: &mut String, title: &str, findings: &[Finding], suspects: &[&str]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{title}:");
    for f in findings {
        // Said only where logs repeat a request (IIS and HttpProxy): a count of events is
        // otherwise one of requests.
        let requests = f
            .fewer_requests()
            .map_or(String::new(), |n| format!(" in {n} request(s)"));
        let _ = writeln!(
            o,
            "  {:<6} {}  {} event(s){requests} ({}), {} .. {}",
            f.severity.to_string().to_uppercase(),
            f.rule,
            f.count,
            f.outcomes_text(),
            f.first_seen,
            f.last_seen
        );
        let _ = writeln!(o, "         {}", esc(&f.title));
        let list = |v: &[String], n: usize| {
            let mut s: Vec<String> = v.iter().take(n).map(|x| esc(x)).collect();
            if v.len() > n {
                s.push(format!("… {} more", v.len() - n));
            }
            if s.is_empty() {
                "-".to_string()
            } else {
                s.join(", ")
            }
        };
        let _ = writeln!(
            o,
            "         hosts: {}; clients: {}",
            list(&f.hosts, 5),
            list(&f.clients, 5)
        );
        let suspected: Vec<String> = f
            .clients
            .iter()
            .filter(|c| suspects.contains(&c.as_str()))
            .cloned()
            .collect();
        if !suspected.is_empty() {
            let _ = writeln!(
                o,
                "         suspect clients among them: {} (their probes belong to the intrusion)",
                list(&suspected, 5)
            );
        }
        if !f.uas.is_empty() {
            let _ = writeln!(o, "         agents: {}", list(&f.uas, 3));
        }
        for e in f.examples.iter().take(3) {
            let _ = writeln!(
                o,
                "         e.g. {}:{} {}",
                esc(&e.file),
                e.line,
                esc(&e.summary)
            );
        }
    }
}

/// Markdown, for a report or a ticket.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# trawl hunt: {}\n", r.case);
    let _ = writeln!(
        o,
        "{} events, {} .. {}\n",
        r.events,
        r.first_event.as_deref().unwrap_or("-"),
        r.last_event.as_deref().unwrap_or("-")
    );
    if !r.time_warnings.is_empty() {
        let _ = writeln!(o, "## Time warnings\n");
        for t in &r.time_warnings {
            let _ = writeln!(o, "- `{}`: {}", md_code(&t.file), md(&t.warning));
        }
        o.push('\n');
    }
    if !r.verdicts.is_empty() {
        let _ = writeln!(
            o,
            "## Verdicts\n\n| host | verdict | from | to | why | evidence |\n|---|---|---|---|---|---|"
        );
        for v in &r.verdicts {
            let evidence: Vec<String> = v
                .evidence
                .iter()
                .take(5)
                .map(|c| {
                    format!(
                        "`{}:{}` ({}, {})",
                        md_code(&c.file),
                        c.line,
                        md(&c.rule),
                        c.outcome
                    )
                })
                .collect();
            let _ = writeln!(
                o,
                "| {} | **{}** | {} | {} | {} | {} |",
                md(&v.host),
                v.verdict,
                v.first.as_deref().unwrap_or("-"),
                v.last.as_deref().unwrap_or("-"),
                md(&v.reasons.join("; ")),
                evidence.join("<br>")
            );
        }
        o.push('\n');
    }
    if !r.proxies.is_empty() {
        let _ = writeln!(
            o,
            "## Proxies and balancers\n\n| address | role | why |\n|---|---|---|"
        );
        for p in &r.proxies {
            let _ = writeln!(o, "| {} | {} | {} |", p.address, p.role, md(&p.why));
        }
        o.push('\n');
    }
    if !r.windows.is_empty() {
        let _ = writeln!(
            o,
            "## Incident windows\n\n| host | first malicious event | last |\n|---|---|---|"
        );
        for w in &r.windows {
            let _ = writeln!(
                o,
                "| {} | {} `{}:{}` | {} `{}:{}` |",
                md(&w.host),
                w.first,
                md_code(&w.first_event.file),
                w.first_event.line,
                w.last,
                md_code(&w.last_event.file),
                w.last_event.line
            );
        }
        o.push('\n');
    }
    for (title, list) in [("Findings", &r.findings), ("Noise", &r.noise)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "## {title}\n\n| severity | outcomes | rule | events | first seen | last seen | hosts | clients | examples |\n|---|---|---|---|---|---|---|---|---|"
        );
        for f in list {
            let examples: Vec<String> = f
                .examples
                .iter()
                .take(3)
                .map(|e| format!("`{}:{}`", md_code(&e.file), e.line))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | `{}` {} | {} | {} | {} | {} | {} | {} |",
                f.severity,
                f.outcomes_text(),
                f.rule,
                md(&f.title),
                f.count_cell(),
                f.first_seen,
                f.last_seen,
                md(&f.hosts.join(", ")),
                md(&f
                    .clients
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")),
                examples.join("<br>")
            );
        }
        o.push('\n');
    }
    if !r.webshells.is_empty() {
        let _ = writeln!(
            o,
            "## Web shells\n\n| path | host | use | written by |\n|---|---|---|---|"
        );
        for w in &r.webshells {
            let written = w.written_by.as_ref().map_or_else(
                || md(w.written_by_note.as_deref().unwrap_or("-")),
                |e| format!("{} `{}:{}`", e.ts, md_code(&e.file), e.line),
            );
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {} |",
                md_code(&w.path),
                md(&w.host),
                md(&w.use_summary()),
                written
            );
        }
        o.push('\n');
    }
    if !r.suspects.is_empty() {
        let _ = writeln!(
            o,
            "## Suspect clients\n\n| client | role | events | first | last | reasons |\n|---|---|---|---|---|---|"
        );
        for s in &r.suspects {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                s.client,
                s.role,
                s.events,
                s.first,
                s.last,
                md(&s.reasons.join("; "))
            );
        }
    }
    o
}

/// Escapes text for a Markdown table cell.
/// Markdown text: `<` written as an entity, so that what an attacker wrote in a path or an
/// agent is not raw HTML once the report is converted.
pub fn md(s: &str) -> String {
    md_code(s).replace('<', "&lt;")
}

/// Markdown inside a code span (where an entity would show as written, and HTML is not read).
pub fn md_code(s: &str) -> String {
    // A backtick would close the span and let what follows be read as Markdown or HTML.
    escape_controls(s)
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('`', "'")
}

/// CSV: one row per example of each finding (compromise and noise); `finding_events` is how
/// many events the whole finding has (the rows are its examples: `trawl export --query
/// rule:ID` gives them all).
pub fn csv(r: &Report) -> String {
    let mut o = String::from(
        "category,severity,outcome,rule,title,ts,file,line,summary,host,finding_events\n",
    );
    for f in r.findings.iter().chain(&r.noise) {
        for e in &f.examples {
            let row = [
                format!("{:?}", f.category).to_lowercase(),
                f.severity.to_string(),
                e.outcome.unwrap_or(f.outcome).to_string(),
                f.rule.clone(),
                f.title.clone(),
                e.ts.clone(),
                e.file.clone(),
                e.line.to_string(),
                e.summary.clone(),
                e.host.clone().unwrap_or_default(),
                f.count.to_string(),
            ];
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            let _ = writeln!(o, "{}", cells.join(","));
        }
    }
    o
}

/// Quotes a CSV cell when needed; a leading `=`, `+`, `-` or `@` is prefixed with `'` so that
/// spreadsheets do not run attacker-written text as a formula.
pub fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}
