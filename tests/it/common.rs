//! Shared helpers for integration tests: the real binary, temporary cases, the public corpus.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `trawl` binary built for these tests.
pub fn trawl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trawl"))
}

/// Runs trawl with arguments, returning its output (not checking the status).
pub fn run(args: &[&str]) -> Output {
    trawl().args(args).output().expect("run trawl")
}

/// Runs trawl and requires success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "trawl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// How many events of `case` match `query` (`trawl search --count`).
pub fn count(case: &Path, query: &str) -> u64 {
    ok(&["search", "--case", path_str(case), "--count", query])
        .trim()
        .parse()
        .expect("a count")
}

/// `trawl hunt --format json` on `case`.
pub fn hunt_json(case: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["hunt", "--case", path_str(case), "--format", "json"]))
        .expect("hunt's JSON")
}

/// The verdicts of a `hunt --format json` report, in its order: host and verdict.
pub fn verdicts(report: &serde_json::Value) -> Vec<(String, String)> {
    report["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|v| {
            (
                v["host"].as_str().expect("a host").to_string(),
                v["verdict"].as_str().expect("a verdict").to_string(),
            )
        })
        .collect()
}

/// How many events a finding of `rule` cites in a `hunt --format json` report (0: none).
pub fn finding_count(report: &serde_json::Value, rule: &str) -> u64 {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule"] == rule)
        .map_or(0, |f| f["count"].as_u64().expect("a count"))
}

/// A Windows event as `evtx_dump` writes it in JSON: record `n` (under 10) of host
/// `EX1.corp.example`, at `2021-03-05T10:00:0n`, with `data` as its EventData.
pub fn windows_event(
    n: u32,
    provider: &str,
    id: u32,
    channel: &str,
    data: serde_json::Value,
) -> String {
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": provider}},
            "EventID": id,
            "TimeCreated": {"#attributes": {"SystemTime": format!("2021-03-05T10:00:0{n}.000Z")}},
            "EventRecordID": n,
            "Channel": channel,
            "Computer": "EX1.corp.example"
        },
        "EventData": data
    }})
    .to_string()
}

/// A failed logon (Security 4625 of user `user{n}`) as [`windows_event`] writes record `n`.
pub fn failed_logon(n: u32) -> String {
    windows_event(
        n,
        "Microsoft-Windows-Security-Auditing",
        4625,
        "Security",
        serde_json::json!({"TargetUserName": format!("user{n}")}),
    )
}

/// Records `ns` as [`failed_logon`]s, one JSON line each.
pub fn failed_logons(ns: std::ops::RangeInclusive<u32>) -> String {
    ns.map(failed_logon).collect::<Vec<_>>().join("\n") + "\n"
}

/// The events of `case` matching `query`, as `trawl export` writes them in JSON lines (into a
/// file beside the case, replaced on each call).
pub fn exported(case: &Path, query: &str) -> Vec<serde_json::Value> {
    let out = case.with_extension("export.jsonl");
    ok(&[
        "export",
        "--case",
        path_str(case),
        "--query",
        query,
        "--force",
        "-o",
        path_str(&out),
    ]);
    json_lines(&std::fs::read_to_string(&out).expect("the export"))
}

/// Writes `lines` as the JSON lines file `name` under `dir/evidence` and ingests it into
/// `dir/case`; returns the case.
pub fn ingest_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).expect("evidence folder");
    std::fs::write(evidence.join(name), lines.join("\n") + "\n").expect("evidence file");
    let case = dir.join("case");
    ingest(&case, &evidence);
    case
}

/// Ingests `input` into `case` without a progress bar; returns the summary.
pub fn ingest(case: &Path, input: &Path) -> String {
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(case),
        path_str(input),
    ])
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The public sample corpus (`../shared/corpus`), or None with a printed reason.
pub fn corpus() -> Option<PathBuf> {
    let dir = repo().join("../shared/corpus");
    if dir.join("SOURCES.md").is_file() {
        Some(dir.canonicalize().expect("canonical corpus path"))
    } else {
        eprintln!(
            "skipping: the public corpus is not at {} (CI always has it)",
            dir.display()
        );
        None
    }
}

/// The bundled sample case.
pub fn sample_logs() -> PathBuf {
    repo().join("sample-logs")
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Parses JSON lines.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Kills a child process (SIGKILL) as soon as `now` says so; waits for it either way. Returns
/// whether it was killed, rather than ending first. Polls every 10 ms, for a minute at most.
pub fn kill_when(child: &mut std::process::Child, now: impl Fn() -> bool) -> bool {
    let mut killed = false;
    for _ in 0..6000 {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if now() {
            child.kill().expect("kill");
            killed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait().expect("wait");
    killed
}

/// A Sigma rule no case can run: its regex is too large both for the index's automata and
/// for checking events in memory. Its id is `7a2b3c4d-5e6f-4a70-8b9c-0d1e2f3a4b5c`.
pub const RULE_TOO_LARGE_TO_RUN: &str = r"title: A very long word in the user agent
id: 7a2b3c4d-5e6f-4a70-8b9c-0d1e2f3a4b5c
logsource: {category: webserver}
detection:
  selection: {cs-user-agent|re: '\w{200}'}
  condition: selection
level: low
";
