//! `trawl-gen OUT` writes the sample case; `trawl-gen OUT --bench-lines N [--days D]` writes an
//! IIS benchmark corpus. `--seed S` changes the benign background (default 2021).

use std::path::PathBuf;
use std::process::ExitCode;

use trawl_gen::{BenchOptions, SampleOptions, write_bench_corpus, write_sample_case};

const USAGE: &str = "usage: trawl-gen OUT [--bench-lines N] [--days D] [--seed S]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trawl-gen: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let mut out = None;
    let (mut lines, mut days, mut seed) = (None, 7u32, 2021u64);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--bench-lines" => lines = Some(number(&value("--bench-lines")?)?),
            "--days" => days = number(&value("--days")?)? as u32,
            "--seed" => seed = number(&value("--seed")?)?,
            "-h" | "--help" => return Ok(USAGE.to_string()),
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other}\n{USAGE}"));
            }
            other if out.is_none() => out = Some(PathBuf::from(other)),
            other => return Err(format!("unexpected argument {other}\n{USAGE}")),
        }
    }
    let out = out.ok_or_else(|| USAGE.to_string())?;
    let summary = match lines {
        Some(lines) => write_bench_corpus(&out, &BenchOptions { lines, seed, days }),
        None => write_sample_case(&out, &SampleOptions { seed }),
    }
    .map_err(|e| format!("{}: {e}", out.display()))?;
    let (lines, bytes) = summary
        .files
        .iter()
        .fold((0, 0), |(l, b), f| (l + f.1, b + f.2));
    Ok(format!(
        "Wrote {} files ({lines} lines, {:.1} MB) to {}",
        summary.files.len(),
        bytes as f64 / 1e6,
        out.display()
    ))
}

fn number(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))
}
