//! `trawl stats`: hosts, sources, proxies, files and top values of the case.

use std::io::Write;

use serde_json::json;

use super::ingest::host_ranges;
use super::output::{plural, thousands, w};
use crate::case::Manifest;
use crate::error::Result;
use crate::formats::time::format_ms;
use crate::query;
use crate::sanitize::escape_controls;
use crate::selection::Order;
use crate::store::Store;

pub(super) fn stats(
    out: &mut impl Write,
    store: &dyn Store,
    proxies: &[crate::hunt::Proxy],
    json: bool,
    top: usize,
) -> Result<()> {
    let vocab = store.vocabulary();
    let all = store.select("*", &vocab)??;
    let m: &Manifest = store.manifest();
    let (events, malformed) = m.totals();
    let hosts = host_ranges(store)?;
    let sources = all.top_values("source", usize::MAX, Order::Top, false)?;
    // Which logs (web log types, event-log channels) each host has: what a verdict rests on.
    let host_sources = hosts
        .iter()
        .map(|(host, _, _)| {
            let sel = store.select(&query::host_query(host), &vocab)??;
            Ok(sel
                .top_values("source", usize::MAX, Order::Top, false)?
                .values)
        })
        .collect::<Result<Vec<_>>>()?;
    let tops: Vec<_> = ["client", "ip", "ua", "path", "status", "user"]
        .iter()
        .map(|f| all.top_values(f, top, Order::Top, true))
        .collect::<Result<_>>()?;
    let span = all.span()?;
    if json {
        let doc = json!({
            "case": store.name(),
            "events": events,
            "indexed_events": all.len(),
            "malformed": malformed,
            "unrecognised": m.unrecognised,
            "first": span.map(|s| format_ms(s.0)),
            "last": span.map(|s| format_ms(s.1)),
            "hosts": hosts.iter().zip(&host_sources).map(|((h, n, s), sources)| json!({
                "host": h, "events": n,
                "first": s.map(|s| format_ms(s.0)), "last": s.map(|s| format_ms(s.1)),
                "sources": sources,
            })).collect::<Vec<_>>(),
            "sources": sources.values,
            "proxies": proxies,
            "trusted_proxies": m.trusted_proxies,
            "files": m.files.iter().map(|f| json!({
                "path": f.path, "format": f.format.name(), "source": f.source, "host": f.host,
                "size": f.size, "sha256": f.sha256, "lines": f.lines, "events": f.events,
                "malformed": f.malformed, "duplicate_events": f.duplicate_events,
                "skipped": f.skipped, "continuation_lines": f.continuation_lines,
                "torn_records": f.torn_records,
                "complete": f.complete,
                "first": f.first_ts.map(format_ms), "last": f.last_ts.map(format_ms),
                "malformed_examples": f.malformed_examples,
                "read_error": f.read_error,
            })).collect::<Vec<_>>(),
            "top": tops.iter().map(|t| (t.field.clone(), json!(t.values))).collect::<serde_json::Map<_, _>>(),
        });
        writeln!(
            out,
            "{}",
            crate::sanitize::json_escape_unsafe(doc.to_string())
        )
        .map_err(w)?;
        return Ok(());
    }
    writeln!(
        out,
        "Case {}: {} from {}, {}, {} unrecognised",
        store.name(),
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
    for ((host, n, span), sources) in hosts.iter().zip(&host_sources) {
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
        let logs: Vec<String> = sources
            .iter()
            .map(|v| format!("{} {}", escape_controls(&v.value), thousands(v.count)))
            .collect();
        writeln!(out, "    logs: {}", logs.join(", ")).map_err(w)?;
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
        for p in proxies {
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
        if let Some(skew) = &f.clock_skew {
            writeln!(out, "             clock: {skew}").map_err(w)?;
        }
        if f.duplicate_events > 0 {
            writeln!(
                out,
                "             and {} Windows events the case has from another copy of their log",
                thousands(f.duplicate_events)
            )
            .map_err(w)?;
        }
        if f.torn_records > 0 {
            writeln!(
                out,
                "             {} of its lines hold a record torn by a crash and then a whole one (both counted)",
                thousands(f.torn_records)
            )
            .map_err(w)?;
        }
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
