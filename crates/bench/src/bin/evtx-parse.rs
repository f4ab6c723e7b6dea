//! The `evtx` crate's own parse rate, the anchor for trawl's EVTX ingest in BENCHMARKS.md:
//! every `.evtx` under the given paths is parsed with the settings trawl's ingest uses (all
//! cores, records rendered as XML) and nothing else is done with the records.
//!
//! `evtx-parse PATH…` prints records, bytes, seconds, records/s and MB/s.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()?;
        entries.sort();
        for e in entries {
            collect(&e, out)?;
        }
    } else if path.extension().is_some_and(|e| e == "evtx") {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let mut files = Vec::new();
    for arg in std::env::args_os().skip(1) {
        if let Err(e) = collect(Path::new(&arg), &mut files) {
            eprintln!("evtx-parse: {}: {e}", Path::new(&arg).display());
            return std::process::ExitCode::FAILURE;
        }
    }
    let start = Instant::now();
    let (mut records, mut errors, mut bytes, mut xml) = (0u64, 0u64, 0u64, 0u64);
    for file in &files {
        bytes += std::fs::metadata(file).map_or(0, |m| m.len());
        let settings = evtx::ParserSettings::new()
            .num_threads(0)
            .validate_checksums(false)
            .indent(false);
        let mut parser = match evtx::EvtxParser::from_path(file) {
            Ok(p) => p.with_configuration(settings),
            Err(_) => {
                errors += 1;
                continue;
            }
        };
        for record in parser.records() {
            match record {
                Ok(r) => {
                    records += 1;
                    xml += r.data.len() as u64;
                }
                Err(_) => errors += 1,
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "evtx crate: {} files, {records} records ({errors} errors), {:.1} MB EVTX, {:.1} MB XML in {secs:.2} s: {:.0} records/s, {:.1} MB/s",
        files.len(),
        bytes as f64 / 1e6,
        xml as f64 / 1e6,
        records as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    std::process::ExitCode::SUCCESS
}
