//! The case's hand-off on the real binary: tags from the command line, every export format
//! round-tripping the sample case, and the incident report listing the intrusion's evidence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{json_lines, ok, path_str, run, sample_logs};
use serde_json::Value;

/// The sample case, ingested once and tagged as a responder would; tests only read it.
fn case() -> &'static (tempfile::TempDir, PathBuf, u64) {
    static CASE: OnceLock<(tempfile::TempDir, PathBuf, u64)> = OnceLock::new();
    CASE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let case = dir.path().join("case");
        let c = path_str(&case);
        ok(&["ingest", "--case", c, path_str(&sample_logs())]);
        let tagged = ok(&[
            "--case",
            c,
            "tag",
            "webshell",
            "--query",
            "path:\"/aspnet_client/discover.aspx\"",
        ]);
        assert!(tagged.contains("28"), "{tagged}");
        let stats: Value =
            serde_json::from_str(&ok(&["--case", c, "stats", "--json"])).expect("stats json");
        let events = stats["events"].as_u64().expect("events");
        (dir, case, events)
    })
}

fn export(format: &str, extra: &[&str]) -> (String, PathBuf) {
    let (dir, case, _) = case();
    let out = dir.path().join(format!("out-{format}-{}", extra.len()));
    let mut args = vec![
        "--case",
        path_str(case),
        "export",
        "--format",
        format,
        "--force",
        "-o",
        path_str(&out),
    ];
    args.extend_from_slice(extra);
    ok(&args);
    (std::fs::read_to_string(&out).expect("export written"), out)
}

fn csv_rows(path: &Path) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let headers = reader
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader.records().map(|r| r.expect("csv record")).collect();
    (headers, rows)
}

/// The first request to the web shell, as the sample logs hold it.
const SHELL_LINE: &str = "sample-logs/MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log";

#[test]
fn csv_export_has_every_event_with_the_canonical_columns() {
    let events = case().2;
    let (_, path) = export("csv", &[]);
    let (headers, rows) = csv_rows(&path);
    assert_eq!(rows.len() as u64, events, "one row per event");
    for column in [
        "ts", "host", "ip", "method", "path", "status", "ua", "tags", "file", "line", "raw",
    ] {
        assert!(
            headers.iter().any(|h| h == column),
            "column {column} in {headers:?}"
        );
    }
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let shell: Vec<_> = rows
        .iter()
        .filter(|r| &r[col("path")] == "/aspnet_client/discover.aspx")
        .collect();
    assert_eq!(shell.len(), 28);
    let first = shell[0];
    assert_eq!(&first[col("ts")], "2021-03-05T17:43:02.000Z");
    assert_eq!(&first[col("ip")], "198.51.100.144");
    assert_eq!(&first[col("tags")], "webshell");
    assert!(first[col("file")].ends_with(SHELL_LINE));
    assert_eq!(&first[col("line")], "2574");
    // Time order.
    let times: Vec<&str> = rows.iter().map(|r| &r[col("ts")]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn jsonl_export_round_trips_with_source_columns() {
    let events = case().2;
    let (text, _) = export("jsonl", &[]);
    let docs = json_lines(&text);
    assert_eq!(docs.len() as u64, events);
    let proxy = docs
        .iter()
        .find(|d| d["source"] == "httpproxy" && d["path"] == "/ecp/y.js")
        .or_else(|| docs.iter().find(|d| d["source"] == "httpproxy"))
        .expect("an HttpProxy row");
    assert!(proxy["file"].as_str().expect("file").contains("HttpProxy"));
    assert!(proxy["line"].as_u64().is_some());
}

#[test]
fn timesketch_exports_have_the_required_columns() {
    let events = case().2;
    let (_, path) = export("timesketch-csv", &[]);
    let (headers, rows) = csv_rows(&path);
    for required in ["message", "datetime", "timestamp_desc"] {
        assert!(
            headers.iter().any(|h| h == required),
            "{required} in {headers:?}"
        );
    }
    assert_eq!(rows.len() as u64, events);
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    for r in &rows {
        assert!(
            chrono::DateTime::parse_from_rfc3339(&r[col("datetime")]).is_ok(),
            "datetime {:?}",
            &r[col("datetime")]
        );
        assert!(!r[col("message")].is_empty());
        assert!(!r[col("timestamp_desc")].is_empty());
    }

    let (text, _) = export("timesketch-jsonl", &[]);
    let docs = json_lines(&text);
    assert_eq!(docs.len() as u64, events);
    assert!(docs.iter().all(|d| d["message"].is_string()
        && d["datetime"].is_string()
        && d["timestamp_desc"].is_string()));
}

#[test]
fn ecs_export_maps_the_fields() {
    let events = case().2;
    let (text, _) = export("ecs", &[]);
    let docs = json_lines(&text);
    assert_eq!(docs.len() as u64, events);
    let shell = docs
        .iter()
        .find(|d| d["url"]["path"] == "/aspnet_client/discover.aspx")
        .expect("shell request");
    assert_eq!(shell["@timestamp"], "2021-03-05T17:43:02.000Z");
    assert_eq!(shell["source"]["ip"], "198.51.100.144");
    assert_eq!(shell["http"]["request"]["method"], "GET");
    assert_eq!(shell["http"]["response"]["status_code"], 200);
    assert_eq!(shell["user_agent"]["original"], "python-requests/2.25.1");
    assert_eq!(shell["host"]["name"], "MBX-A");
    assert!(
        shell["log"]["file"]["path"]
            .as_str()
            .expect("path")
            .ends_with(SHELL_LINE)
    );
    assert!(
        shell["event"]["original"]
            .as_str()
            .expect("raw")
            .contains("discover.aspx")
    );
    assert_eq!(shell["tags"], serde_json::json!(["webshell"]));
    assert!(docs.iter().all(|d| d["@timestamp"].is_string()));
}

#[test]
fn export_by_tag_and_by_query() {
    let (text, _) = export("jsonl", &["--tag", "webshell"]);
    assert_eq!(json_lines(&text).len(), 28);
    let query = "ip:203.0.113.0/24 AND method:POST";
    let (text, _) = export("jsonl", &["--query", query]);
    let docs = json_lines(&text);
    assert!(docs.iter().all(|d| {
        d["ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("203.0.113."))
            && d["method"] == "POST"
    }));
    // Exactly what the same query searches.
    let (_, case, _) = case();
    let searched = ok(&[
        "--case",
        path_str(case),
        "search",
        "--json",
        "--limit",
        "100000",
        query,
    ]);
    let at = |d: &Value| (d["file"].to_string(), d["line"].to_string());
    let exported: Vec<_> = docs.iter().map(at).collect();
    let found: Vec<_> = json_lines(&searched).iter().map(at).collect();
    assert_eq!(exported, found);
    assert!(docs.len() > 100);
}

#[test]
fn export_needs_a_known_format() {
    let (dir, case, _) = case();
    let out = dir.path().join("no-extension");
    let result = run(&["--case", path_str(case), "export", "-o", path_str(&out)]);
    assert!(!result.status.success());
    assert!(!String::from_utf8_lossy(&result.stderr).trim().is_empty());
}

#[test]
fn the_report_lists_the_intrusion_with_its_evidence() {
    let (dir, case, _) = case();
    let md_path = dir.path().join("report.md");
    ok(&["--case", path_str(case), "report", "-o", path_str(&md_path)]);
    let md = std::fs::read_to_string(&md_path).expect("report");
    for needle in [
        "## Hosts and log coverage",
        "## Marked evidence",
        "## Indicators",
        "MBX-A",
        "MBX-B",
        "/aspnet_client/discover.aspx",
        "/owa/auth/RedirSuiteServerProxy.aspx",
        "198.51.100.144",
        "203.0.113.77",
        // The marked evidence points back to file:line, with its tag.
        "u_ex210305.log:2574",
        "webshell",
        // User agents as the attacker sent them.
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0",
    ] {
        assert!(md.contains(needle), "report lacks {needle}");
    }
    // Every tagged event is listed as evidence.
    let evidence = md
        .split("## Marked evidence")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("evidence section");
    assert_eq!(evidence.matches("webshell").count(), 28);
    // Indicators a blocklist can take: the monitoring job's python-requests/2.25.1 (sent by
    // an attacker too) is named apart, not as an indicator.
    let indicators = md
        .split("## Indicators")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("indicators section");
    let (block, after) = indicators
        .split_once("Not indicators")
        .expect("shared agents");
    assert!(!block.contains("python-requests/2.25.1"), "{block}");
    assert!(
        after.contains("python-requests/2.25.1") && after.contains("172.16.8.50"),
        "{after}"
    );
    // Activity per host, empty stretches folded rather than listed.
    let activity = md
        .split("## Malicious activity over time")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("activity section");
    assert!(
        activity.contains("MBX-A") && activity.contains("… "),
        "{activity}"
    );
    assert!(!activity.contains("      0 "), "{activity}");

    let html_path = dir.path().join("report.html");
    ok(&[
        "--case",
        path_str(case),
        "report",
        "--format",
        "html",
        "-o",
        path_str(&html_path),
    ]);
    let html = std::fs::read_to_string(&html_path).expect("html report");
    assert!(html.contains("u_ex210305.log:2574"));
    assert!(html.contains("203.0.113.77"));
    // The activity is drawn inline, per host, and the page holds its tables.
    assert!(html.contains("<svg") && html.contains("verdict window"));
    assert!(html.contains("max-width:1200px") && html.contains("table-layout:fixed"));
    // One self-contained file: nothing fetched from anywhere.
    for external in [
        "<script src",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(external), "external resource: {external}");
    }
}

/// Every command that takes a query answers a bad one alike: one line saying what, the query
/// with a caret under where, exit code 2.
#[test]
fn a_bad_query_is_shown_with_a_caret_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(
        &case,
        &common::repo().join("tests/fixtures/verdicts/scanned"),
    );
    let out = dir.path().join("x.csv");
    let bad = "status:200 AND (ip:1.2.3.4";
    let commands: [Vec<&str>; 3] = [
        vec!["search", "--case", path_str(&case), bad],
        vec![
            "export",
            "--case",
            path_str(&case),
            "-o",
            path_str(&out),
            "--query",
            bad,
        ],
        vec!["tag", "--case", path_str(&case), "x", "--query", bad],
    ];
    for args in commands {
        let run = common::run(&args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&run.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines[0].starts_with("trawl: bad query:"), "{err}");
        assert_eq!(lines[1].trim(), bad, "{err}");
        assert!(lines[2].trim_end().ends_with('^'), "{err}");
    }
    assert!(!out.exists(), "nothing written for a bad query");

    // Queries built to crash or exhaust the machine are refused at once, and not echoed whole.
    // (An argument is at most 128 KiB on Linux; a rules file can be larger.)
    let deep = format!("{}a{}", "(".repeat(30_000), ")".repeat(30_000));
    let many = "word ".repeat(10_000);
    // A counted repetition whose automaton took 4.5 GB before its NFA was bounded (fuzzing).
    let repeated = "ua:/(python){61,888888}/".to_string();
    for q in [&deep, &many, &("NOT ".repeat(20_000) + "a"), &repeated] {
        let run = common::run(&["search", "--case", path_str(&case), "--count", q]);
        assert_eq!(run.status.code(), Some(2));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.len() < 1_000, "{} bytes of error", err.len());
        assert!(
            err.lines().nth(2).is_some_and(|l| l.ends_with('^')),
            "{err}"
        );
    }
    let rules = dir.path().join("huge.toml");
    std::fs::write(
        &rules,
        format!(
            "[[rule]]\nid = \"huge\"\ntitle = \"t\"\nseverity = \"low\"\nquery = '{}a{}'\n",
            "(".repeat(500_000),
            ")".repeat(500_000)
        ),
    )
    .unwrap();
    let run = common::run(&[
        "hunt",
        "--case",
        path_str(&case),
        "--rules",
        path_str(&rules),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("huge.toml:1: rule 'huge'") && err.contains("KiB"),
        "{err}"
    );
}

/// Outputs never clobber: a FIFO is streamed into, a symlink or a directory is refused and left
/// as it was, `-` is standard output, and a write error is a non-zero exit.
#[cfg(unix)]
#[test]
fn outputs_write_through_fifos_and_never_replace_what_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(
        &case,
        &common::repo().join("tests/fixtures/verdicts/scanned"),
    );
    let c = path_str(&case);
    let fifo = dir.path().join("out.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    ok(&[
        "export",
        "--case",
        c,
        "--format",
        "jsonl",
        "-o",
        path_str(&fifo),
    ]);
    let streamed = reader.join().unwrap();
    assert_eq!(streamed.lines().count(), 62);
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "keep").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    for args in [
        vec!["export", "--case", c, "-o", path_str(&link)],
        vec!["hunt", "--case", c, "-o", path_str(&link)],
        vec!["report", "--case", c, "-o", path_str(&link)],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
    }
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep");

    let to_stdout = ok(&["export", "--case", c, "--format", "csv", "-o", "-"]);
    assert_eq!(to_stdout.lines().count(), 63, "header and 62 events");
    if Path::new("/dev/full").exists() {
        let full = run(&["export", "--case", c, "--format", "csv", "-o", "/dev/full"]);
        assert_eq!(full.status.code(), Some(1), "a full device is an error");
    }
}

/// One slip in a path destroys nothing: an existing file is replaced only with `--force`, and
/// the case's own files and its evidence never are, whatever the command.
#[test]
fn outputs_never_replace_evidence_the_case_or_an_existing_file_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence/EX1/inetpub/logs/LogFiles/W3SVC1");
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("u_ex210810.log");
    std::fs::write(&log, "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n2021-08-10 10:00:00 10.0.0.1 GET /owa/ - 443 - 198.51.100.7 Mozilla/5.0 - 200 0 0 5\n").unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("evidence"));
    let c = path_str(&case);
    let before = std::fs::read(&log).unwrap();
    ok(&["tag", "keep-me", "--case", c, "--query", "*"]);
    let marks = std::fs::read(case.join("marks.json")).unwrap();
    for (target, why) in [
        (log.clone(), "evidence of the case"),
        (case.join("marks.json"), "inside the case's directory"),
    ] {
        for args in [
            vec!["export", "--case", c, "--format", "csv", "--force", "-o"],
            vec!["hunt", "--case", c, "--force", "-o"],
            vec!["report", "--case", c, "--force", "-o"],
        ] {
            let mut args = args;
            args.push(path_str(&target));
            let out = run(&args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(why) && err.lines().count() == 1, "{err}");
        }
    }
    assert_eq!(std::fs::read(&log).unwrap(), before, "the evidence changed");
    assert_eq!(std::fs::read(case.join("marks.json")).unwrap(), marks);

    let out_csv = dir.path().join("out.csv");
    std::fs::write(&out_csv, "mine").unwrap();
    let refused = run(&["export", "--case", c, "-o", path_str(&out_csv)]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&out_csv).unwrap(), "mine");
    ok(&["export", "--case", c, "--force", "-o", path_str(&out_csv)]);
    assert!(
        std::fs::read_to_string(&out_csv)
            .unwrap()
            .starts_with("ts,host,")
    );
}

/// A case on read-only media (an archived copy, a write-protected share) answers `search`,
/// `stats` and `hunt`, and refuses to be added to with one clear line. Read-only media are
/// made with a read-only bind mount in a private mount namespace (`unshare`); where that is not
/// allowed, the test says so and skips.
#[cfg(target_os = "linux")]
#[test]
fn a_read_only_case_is_searched_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let evidence = common::repo().join("tests/fixtures/verdicts/scanned");
    common::ingest(&case, &evidence);
    let expected_count = common::ok(&["search", "--case", path_str(&case), "--count", "*"]);
    let expected_hunt = common::ok(&["hunt", "--case", path_str(&case), "--format", "json"]);
    let view = dir.path().join("ro");
    std::fs::create_dir(&view).unwrap();
    let bin = env!("CARGO_BIN_EXE_trawl");
    let in_ro = |args: &str| {
        std::process::Command::new("unshare")
            .args(["-rm", "sh", "-c"])
            .arg(format!(
                "mount --bind -o ro '{}' '{}' && touch '{}/probe' 2>/dev/null && exit 99; {bin} {args}",
                case.display(),
                view.display(),
                view.display()
            ))
            .output()
    };
    let probe = in_ro("--version");
    match &probe {
        Ok(out) if out.status.success() => {}
        other => {
            eprintln!("skipped: cannot make a read-only mount here ({other:?})");
            return;
        }
    }
    let v = view.display();
    let count = in_ro(&format!("search --case '{v}' --count '*'")).unwrap();
    assert!(count.status.success(), "{count:?}");
    assert_eq!(String::from_utf8_lossy(&count.stdout), expected_count);
    let stats = in_ro(&format!("stats --case '{v}'")).unwrap();
    assert!(stats.status.success(), "{stats:?}");
    let hunt = in_ro(&format!("hunt --case '{v}' --rescan --format json")).unwrap();
    assert!(hunt.status.success(), "{hunt:?}");
    let strip = |t: &str| {
        t.replace(path_str(&case), "CASE")
            .replace(&v.to_string(), "CASE")
    };
    assert_eq!(
        strip(&String::from_utf8_lossy(&hunt.stdout)),
        strip(&expected_hunt),
        "the same answers from memory"
    );
    let ingest = in_ro(&format!("ingest --case '{v}' '{}'", evidence.display())).unwrap();
    assert_eq!(ingest.status.code(), Some(1));
    let err = String::from_utf8_lossy(&ingest.stderr);
    assert!(
        err.contains("read-only") && err.lines().count() == 1,
        "{err}"
    );
}

/// A disk that fills during an ingest: one line that says so and what to do, and once there is
/// room again the same ingest completes the case with every event once. The full disk is a
/// small tmpfs in a private mount namespace (`unshare`); where that is not allowed, the test
/// says so and skips.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_said_and_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let logs = common::sample_logs();
    let expected = {
        let case = dir.path().join("reference");
        common::ingest(&case, &logs);
        common::ok(&["search", "--case", path_str(&case), "--count", "*"])
    };
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let bin = env!("CARGO_BIN_EXE_trawl");
    let case = disk.join("case");
    let script = format!(
        "mount -t tmpfs -o size=3m tmpfs '{d}' || exit 99
         {bin} ingest --quiet --case '{c}' '{l}' > /dev/null 2> '{d}/../err'; echo $? > '{d}/../code'
         mount -o remount,size=400m '{d}' || exit 98
         {bin} ingest --quiet --case '{c}' '{l}' > /dev/null || exit 97
         {bin} search --case '{c}' --count '*'",
        d = disk.display(),
        c = case.display(),
        l = logs.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output();
    let out = match out {
        Ok(o)
            if o.status.code() != Some(99) && o.status.code() != Some(1) || o.status.success() =>
        {
            o
        }
        other => {
            eprintln!("skipped: cannot mount a small tmpfs here ({other:?})");
            return;
        }
    };
    assert!(out.status.success(), "{out:?}");
    let code = std::fs::read_to_string(dir.path().join("code")).unwrap();
    assert_eq!(code.trim(), "1", "the full disk is an error");
    let err = std::fs::read_to_string(dir.path().join("err")).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("disk is full"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "every event, once"
    );
}

/// A Windows event exported reads as one in the tools it goes to: its ID and summary in the
/// CSV, the summary (not the record) as Timesketch's message, Winlogbeat's fields in ECS.
#[test]
fn windows_events_export_with_their_id_summary_and_winlogbeat_fields() {
    let dir = tempfile::tempdir().unwrap();
    let events = [common::windows_event(
        1,
        "Microsoft-Windows-Sysmon",
        1,
        "Microsoft-Windows-Sysmon/Operational",
        serde_json::json!({
            "ParentImage": "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": "cmd /c whoami"
        }),
    )];
    let case = common::ingest_lines(dir.path(), "sysmon.jsonl", &events);
    let out = |format: &str, name: &str| {
        let path = dir.path().join(name);
        ok(&[
            "export",
            "--case",
            path_str(&case),
            "--format",
            format,
            "-o",
            path_str(&path),
        ]);
        path
    };
    let (header, rows) = csv_rows(&out("csv", "events.csv"));
    let cell = |name: &str| {
        let i = header.iter().position(|h| h == name).expect(name);
        rows[0][i].to_string()
    };
    assert_eq!(cell("event_id"), "1");
    assert_eq!(cell("summary"), "1 w3wp.exe → cmd.exe: cmd /c whoami");
    let (header, rows) = csv_rows(&out("timesketch-csv", "events.timesketch.csv"));
    assert_eq!(header[0], "message");
    assert_eq!(&rows[0][0], "1 w3wp.exe → cmd.exe: cmd /c whoami");
    let ecs = std::fs::read_to_string(out("ecs", "events.ecs.jsonl")).unwrap();
    let doc: Value = serde_json::from_str(ecs.lines().next().unwrap()).unwrap();
    assert_eq!(doc["event"]["code"], "1");
    assert_eq!(
        doc["winlog"]["channel"],
        "Microsoft-Windows-Sysmon/Operational"
    );
    assert_eq!(doc["process"]["command_line"], "cmd /c whoami");
    assert_eq!(
        doc["process"]["parent"]["executable"],
        "C:\\Windows\\System32\\inetsrv\\w3wp.exe"
    );
    assert_eq!(doc["message"], "1 w3wp.exe → cmd.exe: cmd /c whoami");
}

/// Logs that name no server (an access log copied without its folder) are coverage too: `stats`
/// lists their logs and time range under "(no host)", and so does the report.
#[test]
fn logs_without_a_host_are_listed_in_stats_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(
        evidence.join("access.log"),
        "192.0.2.7 - - [05/Mar/2021:10:00:00 +0000] \"GET /index.html HTTP/1.1\" 200 512 \"-\" \"curl/7.68.0\"\n\
         192.0.2.8 - - [05/Mar/2021:11:00:00 +0000] \"GET /about.html HTTP/1.1\" 404 128 \"-\" \"curl/7.68.0\"\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    let stats = ok(&["stats", "--case", path_str(&case)]);
    let at = stats.find("(no host)").expect("no-host line");
    let block: Vec<&str> = stats[at..].lines().take(2).collect();
    assert!(
        block[0].contains("2021-03-05T10:00:00.000Z .. 2021-03-05T11:00:00.000Z"),
        "{stats}"
    );
    assert_eq!(block[1].trim(), "logs: access 2", "{stats}");
    let report = dir.path().join("report.md");
    ok(&["report", "--case", path_str(&case), "-o", path_str(&report)]);
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.contains("| (no host) | access | 2 |"), "{md}");
}

/// An account asked by its bare name is found however each log writes it (a Security event's
/// bare `TargetUserName`, IIS's `CORP\name`, a UPN); quoted, or with its domain, it is that
/// value alone; a pivot on a value seen is on that value (a quoted term).
#[test]
fn an_account_is_found_by_its_name_in_every_domain() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = [
        r"CORP\\Administrator",
        "administrator@corp.example",
        "Administrator",
        r"CORP\\Administrators",
        r"Administrator\\x",
        "xadministrator",
    ]
    .iter()
    .enumerate()
    .map(|(i, user)| format!(r#"{{"ts":"2021-03-05T10:00:0{i}Z","user":"{user}","msg":"m{i}"}}"#))
    .collect();
    let case = common::ingest_lines(dir.path(), "users.jsonl", &lines);
    assert_eq!(common::count(&case, "user:administrator"), 3);
    assert_eq!(common::count(&case, "user:Administrator AND msg:m1"), 1);
    assert_eq!(common::count(&case, "NOT user:administrator"), 3);
    assert_eq!(common::count(&case, r#"user:"administrator""#), 1);
    assert_eq!(common::count(&case, r"user:CORP\\administrator"), 1);
    assert_eq!(common::count(&case, "user:admin*"), 3);
    let pivot = trawl::session::Filter::Value {
        field: "user".into(),
        value: "Administrator".into(),
        exclude: false,
    };
    assert_eq!(common::count(&case, &pivot.clause()), 1);
}

/// A record's bytes that are not UTF-8 (a raw C1 CSI, 0x9b) are shown lossily in `raw` and kept
/// exactly: `search --json` and JSON-lines exports carry them as base64 in `raw_bytes`, which
/// decode to the line as written.
#[test]
fn bytes_that_are_not_utf8_are_given_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("ev/EX1/inetpub/logs/LogFiles/W3SVC1");
    std::fs::create_dir_all(&logs).unwrap();
    let line: &[u8] =
        b"2021-08-10 10:00:00 10.0.0.1 GET /owa/raw\x9b31m - 443 - 198.51.100.7 Mozilla/5.0 - 404 0 2 5";
    let mut text = b"#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n".to_vec();
    text.extend_from_slice(line);
    text.push(b'\n');
    std::fs::write(logs.join("u_ex210810.log"), &text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("ev"));
    let decode = |b64: &str| {
        let out = std::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(b64.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        out.stdout
    };
    let found = common::json_lines(&ok(&["search", "--case", path_str(&case), "--json", "*"]));
    assert_eq!(found.len(), 1);
    assert!(found[0]["raw"].as_str().unwrap().contains('\u{fffd}'));
    assert_eq!(decode(found[0]["raw_bytes"].as_str().unwrap()), line);
    let exported = common::exported(&case, "*");
    assert_eq!(decode(exported[0]["raw_bytes"].as_str().unwrap()), line);
}
