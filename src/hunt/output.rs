//! `trawl hunt` output: a triage summary to paste (text, Markdown), a stable JSON document, and a
//! CSV hit list (one row per finding example, as Test-ProxyLogon's CSVs are read).

use std::fmt::Write as _;

use super::{Finding, Report};
use crate::sanitize::escape_controls;

/// Text for a terminal or a ticket.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let range = match (&r.first_event, &r.last_event) {
        (Some(a), Some(b)) => format!("{a} .. {b}"),
        _ => "no events".into(),
    };
    let _ = writeln!(
        o,
        "trawl hunt: case {}, {} events, {range}",
        r.case, r.events
    );
    let _ = writeln!(o);
    if r.windows.is_empty() {
        let _ = writeln!(
            o,
            "VERDICT: no compromise finding (check log coverage before concluding)."
        );
    } else {
        for w in &r.windows {
            let _ = writeln!(
                o,
                "VERDICT: {} compromised: first malicious event {}, last {}",
                w.host, w.first, w.last
            );
        }
    }
    section(&mut o, "Findings", &r.findings);
    if !r.webshells.is_empty() {
        let _ = writeln!(o, "\nWeb shells (inferred):");
        for w in &r.webshells {
            let _ = writeln!(
                o,
                "  {} on {}: first answered {}, {} requests ({} POST); {}",
                esc(&w.path),
                w.host,
                w.first_seen,
                w.requests,
                w.posts,
                w.why
            );
            if let Some(e) = &w.written_by {
                let _ = writeln!(
                    o,
                    "    written by: {} {} ({}:{})",
                    e.ts,
                    esc(&e.summary),
                    esc(&e.file),
                    e.line
                );
            }
            for c in &w.clients {
                let _ = writeln!(
                    o,
                    "    client {} — {} request(s), {} .. {}",
                    c.ip, c.requests, c.first, c.last
                );
            }
        }
    }
    if !r.suspects.is_empty() {
        let _ = writeln!(o, "\nSuspect addresses:");
        for s in &r.suspects {
            let _ = writeln!(
                o,
                "  {} — {} events, {} .. {}",
                s.ip, s.events, s.first, s.last
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
    section(
        &mut o,
        "Noise (looks like an attack, is not compromise)",
        &r.noise,
    );
    o
}

fn esc(s: &str) -> String {
    escape_controls(s).into_owned()
}

fn section(o: &mut String, title: &str, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{title}:");
    for f in findings {
        let _ = writeln!(
            o,
            "  {:<6} {}  {} event(s), {} .. {}",
            f.severity.to_string().to_uppercase(),
            f.rule,
            f.count,
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
            "         hosts: {}; ips: {}",
            list(&f.hosts, 5),
            list(&f.ips, 5)
        );
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
    if !r.windows.is_empty() {
        let _ = writeln!(
            o,
            "## Incident windows\n\n| host | first malicious event | last |\n|---|---|---|"
        );
        for w in &r.windows {
            let _ = writeln!(o, "| {} | {} | {} |", md(&w.host), w.first, w.last);
        }
        o.push('\n');
    }
    for (title, list) in [("Findings", &r.findings), ("Noise", &r.noise)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "## {title}\n\n| severity | rule | events | first seen | last seen | hosts | ips |\n|---|---|---|---|---|---|---|"
        );
        for f in list {
            let _ = writeln!(
                o,
                "| {} | `{}` {} | {} | {} | {} | {} | {} |",
                f.severity,
                f.rule,
                md(&f.title),
                f.count,
                f.first_seen,
                f.last_seen,
                md(&f.hosts.join(", ")),
                md(&f
                    .ips
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "))
            );
        }
        o.push('\n');
    }
    if !r.webshells.is_empty() {
        let _ = writeln!(
            o,
            "## Web shells\n\n| path | host | first answered | clients | written by |\n|---|---|---|---|---|"
        );
        for w in &r.webshells {
            let clients: Vec<String> = w
                .clients
                .iter()
                .map(|c| format!("{} ({})", c.ip, c.requests))
                .collect();
            let written = w.written_by.as_ref().map_or("-".to_string(), |e| {
                format!("{} `{}:{}`", e.ts, md(&e.file), e.line)
            });
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {} | {} |",
                md(&w.path),
                md(&w.host),
                w.first_seen,
                clients.join(", "),
                written
            );
        }
        o.push('\n');
    }
    if !r.suspects.is_empty() {
        let _ = writeln!(
            o,
            "## Suspect addresses\n\n| ip | events | first | last | reasons |\n|---|---|---|---|---|"
        );
        for s in &r.suspects {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                s.ip,
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
pub fn md(s: &str) -> String {
    escape_controls(s).replace('|', "\\|").replace('\n', " ")
}

/// CSV: one row per example of each finding (compromise and noise).
pub fn csv(r: &Report) -> String {
    let mut o = String::from("category,severity,rule,title,ts,file,line,summary\n");
    for f in r.findings.iter().chain(&r.noise) {
        for e in &f.examples {
            let row = [
                format!("{:?}", f.category).to_lowercase(),
                f.severity.to_string(),
                f.rule.clone(),
                f.title.clone(),
                e.ts.clone(),
                e.file.clone(),
                e.line.to_string(),
                e.summary.clone(),
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
