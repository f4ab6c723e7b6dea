//! The real binary on real-format files: ingest the sample case, search it, ingest again, grow
//! and change files, and kill an ingest midway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use common::{count, json_lines, ok, path_str, run};

/// One ingest of the sample logs, shared by the read-only tests of this file.
fn sample_case() -> &'static Path {
    static CASE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, case) = CASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let case = dir.path().join("case");
        common::ingest(&case, &common::sample_logs());
        (dir, case)
    });
    case
}

fn search_json(case: &Path, query: &str) -> Vec<serde_json::Value> {
    json_lines(&ok(&[
        "search",
        "--case",
        path_str(case),
        "--json",
        "--limit",
        "100000",
        query,
    ]))
}

/// Lines of the sample logs containing `needle`, counted independently of trawl.
fn grep_sample(needle: &str) -> u64 {
    fn walk(dir: &Path, needle: &str, n: &mut u64) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, needle, n);
            } else if path.file_name().is_some_and(|f| f != "README.md") {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                *n += text.lines().filter(|l| l.contains(needle)).count() as u64;
            }
        }
    }
    let mut n = 0;
    walk(&common::sample_logs(), needle, &mut n);
    n
}

#[test]
fn sample_case_ingests_every_line() {
    let case = sample_case();
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(case), "--json"])).unwrap();
    let events = stats["events"].as_u64().unwrap();
    assert!(events > 30_000, "{events}");
    assert_eq!(stats["indexed_events"].as_u64(), Some(events));
    // The one line cut by the power loss is reported with its place and reason.
    assert_eq!(stats["malformed"].as_u64(), Some(1));
    let files = stats["files"].as_array().unwrap();
    let cut = files
        .iter()
        .find(|f| f["malformed"].as_u64() == Some(1))
        .unwrap();
    assert!(
        cut["path"]
            .as_str()
            .unwrap()
            .ends_with("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210306.log")
    );
    assert!(
        cut["malformed_examples"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("values for 16")
    );
    // The answer key is not a log, and says so.
    let unrecognised = stats["unrecognised"].as_array().unwrap();
    assert_eq!(unrecognised.len(), 1);
    assert!(
        unrecognised[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("README.md")
    );
    let hosts: BTreeSet<&str> = stats["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, BTreeSet::from(["MBX-A", "MBX-B", "MBX-C", "MBX-D"]));
}

#[test]
fn search_finds_exactly_the_intrusion() {
    let case = sample_case();
    let attacker = search_json(case, "ip:198.51.100.144");
    assert_eq!(attacker.len() as u64, grep_sample("198.51.100.144"));
    assert!(attacker.iter().all(|e| e["ip"] == "198.51.100.144"));
    assert_eq!(attacker[0]["ts"], "2021-03-05T17:41:58.000Z");
    let times: Vec<&str> = attacker.iter().map(|e| e["ts"].as_str().unwrap()).collect();
    assert!(times.is_sorted(), "time order");
    assert!(
        attacker
            .iter()
            .all(|e| e["file"].as_str().unwrap().contains("MBX-A"))
    );
    // Behind the branch's balancer, an address is only in X-Forwarded-For.
    assert_eq!(
        count(case, "ip:198.51.100.0/24 OR xff:198.51.100.0/24"),
        grep_sample("198.51.100.")
    );

    // The SSRF's proxyLogon.ecp step, joined across IIS front end, HttpProxy and back end.
    let joined = search_json(case, "request_id:68eff119-c34a-40fd-a8fd-97ae5174fe10");
    let sources: BTreeSet<&str> = joined
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(joined.len(), 3);
    assert_eq!(sources, BTreeSet::from(["httpproxy", "iis"]));
    assert!(joined.iter().all(|e| e["status"] == 241));
    assert_eq!(count(case, "status:241"), 3);

    // Web shell 1: every request, and the two clients that used it.
    let shell = search_json(case, "path:\"/aspnet_client/discover.aspx\"");
    assert_eq!(
        shell.len() as u64,
        grep_sample("/aspnet_client/discover.aspx")
    );
    let clients: BTreeSet<&str> = shell.iter().map(|e| e["ip"].as_str().unwrap()).collect();
    assert_eq!(clients, BTreeSet::from(["198.51.100.144", "203.0.113.77"]));
    assert_eq!(
        count(
            case,
            "path:/aspnet_client/*.aspx AND method:POST AND status:200"
        ),
        27
    );

    // Attacker 2's user agent, as IIS writes it (`+`) and as HttpProxy does (spaces).
    let ua =
        "ua:\"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:78.0) Gecko/20100101 Firefox/78.0\"";
    assert_eq!(count(case, ua), grep_sample("Firefox/78.0"));
    assert_eq!(
        count(case, "ua:*firefox/78.0*"),
        grep_sample("Firefox/78.0")
    );
    assert_eq!(
        count(case, "ip:203.0.113.77 OR xff:203.0.113.77"),
        grep_sample("203.0.113.77")
    );

    // Source-specific columns by their own names.
    assert_eq!(count(case, "AnchorMailbox:ServerInfo~*@*"), 7);
    assert_eq!(
        count(
            case,
            "RoutingHint:X-BEResource-Cookie AND AuthenticatedUser:*"
        ),
        0
    );
    assert_eq!(
        count(
            case,
            "ts:[2021-03-05T17:42 TO 2021-03-05T17:42] AND ip:198.51.100.144"
        ),
        14
    );
    // Bare words match inside agents and paths, and reach messages.
    assert_eq!(
        count(case, "\"python requests\""),
        grep_sample("python-requests")
    );
    assert_eq!(
        count(case, "discover aspx"),
        grep_sample("/aspnet_client/discover.aspx")
    );
    // The exploit's cmdlet, in the ECP log and the event export.
    assert_eq!(count(case, "\"Set-OabVirtualDirectory\" AND script"), 2);
}

#[test]
fn bad_query_is_one_line_with_its_column_and_exit_2() {
    let case = sample_case();
    let out = run(&["search", "--case", path_str(case), "ip:192.0.2.7 AND"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("trawl: bad query: missing term after AND (at column 17)"),
        "{err}"
    );
    let out = run(&["search", "--case", path_str(case), "pth:x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean path?"));
    let out = run(&["search", "--case", path_str(case), "ip:not-an-ip"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn search_output_escapes_terminal_sequences() {
    let case = sample_case();
    let text = ok(&[
        "search",
        "--case",
        path_str(case),
        "ua:*red*",
        "--limit",
        "5",
    ]);
    assert!(!text.contains('\x1b'));
    assert!(text.contains("\\x1b[31mred"), "{text}");
}

#[test]
fn missing_case_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["stats", "--case", path_str(&dir.path().join("nope"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no case here"));
}

/// Writes an IIS log of `n` lines starting at second `from`.
fn iis_lines(from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "2021-03-05 {:02}:{:02}:{:02} 172.16.4.21 GET /owa/x{i} - 443 - 192.0.2.{} Mozilla/5.0 - 200 0 0 {i}\r\n",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60,
                i % 200
            )
        })
        .collect()
}

const IIS_HEADER: &str = "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";

fn total_events(case: &Path) -> u64 {
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(case), "--json"])).unwrap();
    assert_eq!(
        stats["events"], stats["indexed_events"],
        "manifest and index agree"
    );
    stats["events"].as_u64().unwrap()
}

#[test]
fn request_ids_sharing_an_index_bucket_are_told_apart() {
    // The index keeps 16 bits of each GUID: these three share them, and a fourth is elsewhere.
    let guids = [
        "68eff119-c34a-40fd-a8fd-97ae5174fe10",
        "68ef0000-0000-4000-8000-000000000001",
        "68efffff-ffff-4fff-bfff-ffffffffffff",
        "0000f119-c34a-40fd-a8fd-97ae5174fe10",
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("W3SVC1/u_ex210305.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let mut text = IIS_HEADER.to_string();
    for (i, g) in guids.iter().enumerate() {
        text.push_str(&format!(
            "2021-03-05 10:00:0{i} 172.16.4.21 GET /ecp/x{i}.js &CorrelationID=<empty>;&cafeReqId={g}; 443 - 192.0.2.{i} Mozilla/5.0 - 200 0 0 5\r\n"
        ));
    }
    std::fs::write(&log, text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &log);
    for (i, g) in guids.iter().enumerate() {
        let hits = search_json(&case, &format!("request_id:{}", g.to_uppercase()));
        assert_eq!(hits.len(), 1, "{g}");
        assert_eq!(hits[0]["path"], format!("/ecp/x{i}.js"));
        assert_eq!(hits[0]["request_id"], *g);
    }
    assert_eq!(
        count(&case, "request_id:68eff119-0000-4000-8000-000000000000"),
        0
    );
    assert_eq!(count(&case, "request_id:*"), 4);
    assert_eq!(
        count(&case, "NOT request_id:0000f119-c34a-40fd-a8fd-97ae5174fe10"),
        3
    );
}

#[test]
fn ingest_is_idempotent_and_incremental() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("MBX-T/W3SVC1");
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("u_ex210305.log");
    std::fs::write(&log, format!("{IIS_HEADER}{}", iis_lines(0, 500))).unwrap();
    let case = dir.path().join("case");
    let args = [
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(dir.path()),
    ];
    let first = ok(&args);
    assert!(first.contains("500 new events"), "{first}");
    assert_eq!(total_events(&case), 500);

    // Again: nothing new.
    let again = ok(&args);
    assert!(
        again.contains("0 new events") && again.contains("1 unchanged"),
        "{again}"
    );
    assert_eq!(total_events(&case), 500);

    // The file grows: only the new lines are read.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(iis_lines(500, 120).as_bytes()).unwrap();
    drop(f);
    let grown = ok(&args);
    assert!(
        grown.contains("120 new events") && grown.contains("1 grown"),
        "{grown}"
    );
    assert_eq!(total_events(&case), 620);
    assert_eq!(count(&case, "path:/owa/x0"), 1);
    assert_eq!(count(&case, "path:/owa/x619"), 1);

    // Changed in place: the old events are replaced, not added to.
    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replace("/owa/x7 ", "/owa/y7 ");
    std::fs::write(&log, text).unwrap();
    let changed = ok(&args);
    assert!(changed.contains("1 changed and re-read"), "{changed}");
    assert_eq!(total_events(&case), 620);
    assert_eq!(count(&case, "path:/owa/x7"), 0);
    assert_eq!(count(&case, "path:/owa/y7"), 1);

    // Evidence is never written to.
    assert!(std::fs::read_to_string(&log).unwrap().contains("/owa/y7 "));
}

#[test]
fn gz_and_zip_are_read_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let content = format!("{IIS_HEADER}{}", iis_lines(0, 50));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(content.as_bytes()).unwrap();
    std::fs::write(evidence.join("u_ex210305.log.gz"), gz.finish().unwrap()).unwrap();
    let zip_file = std::fs::File::create(evidence.join("collection.zip")).unwrap();
    let mut zip = zip::ZipWriter::new(zip_file);
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("MBX-Z/W3SVC1/u_ex210306.log", opts).unwrap();
    zip.write_all(content.replace("2021-03-05", "2021-03-06").as_bytes())
        .unwrap();
    zip.finish().unwrap();
    let before: Vec<_> = std::fs::read_dir(&evidence).unwrap().collect();
    let case = dir.path().join("case");
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&evidence),
    ]);
    assert_eq!(total_events(&case), 100);
    assert_eq!(count(&case, "host:MBX-Z"), 50);
    assert_eq!(count(&case, "file:*collection.zip/MBX-Z/*"), 50);
    let after: Vec<_> = std::fs::read_dir(&evidence).unwrap().collect();
    assert_eq!(before.len(), after.len(), "nothing unpacked to disk");
}

/// Starts `trawl ingest` of `input` into `case` on one thread, committing every `every`
/// events, and kills it (-9, without warning) once a commit holds some events.
fn kill_after_a_commit(case: &Path, input: &Path, every: &str) {
    let meta = case.join("index/meta.json");
    let mut child = common::trawl()
        .args([
            "ingest",
            "--quiet",
            "--threads",
            "1",
            "--commit-every",
            every,
            "--case",
            path_str(case),
            path_str(input),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed_midway = common::kill_when(&mut child, || {
        std::fs::read_to_string(&meta)
            .ok()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok())
            .and_then(|m| m["payload"].as_str().map(str::to_string))
            .is_some_and(|p| p.contains("\"events\":") && !p.contains("\"events\":0,"))
    });
    assert!(
        killed_midway,
        "the ingest finished before it could be interrupted"
    );
}

#[test]
fn killed_ingest_resumes_without_loss_or_double() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    trawl_gen::write_bench_corpus(
        &corpus,
        &trawl_gen::BenchOptions {
            lines: 150_000,
            seed: 2021,
            days: 3,
        },
    )
    .unwrap();
    let case = dir.path().join("case");
    kill_after_a_commit(&case, &corpus, "10000");
    // The case opens at its last commit, partly ingested.
    let partial = total_events(&case);
    assert!(partial > 0 && partial < 150_000, "{partial}");
    // The next run completes it: every line exactly once.
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&corpus),
    ]);
    assert_eq!(total_events(&case), 150_000);
    assert_eq!(count(&case, "*"), 150_000);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    for f in stats["files"].as_array().unwrap() {
        assert_eq!(f["complete"], true);
    }
}

/// A Security event as Event Viewer's "Save As… XML" writes it (one of many on one line).
fn saved_event(n: u64) -> String {
    format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing'/><EventID>4625</EventID><TimeCreated SystemTime='2021-03-05T{:02}:{:02}:{:02}.000Z'/><EventRecordID>{n}</EventRecordID><Channel>Security</Channel><Computer>EX1.corp.example</Computer></System><EventData><Data Name='TargetUserName'>user{n}</Data><Data Name='IpAddress'>192.0.2.{}</Data></EventData></Event>",
        n / 3600 % 24,
        n / 60 % 60,
        n % 60,
        n % 250
    )
}

/// Many events on one line: an ingest killed midway goes on from the last event it committed,
/// not the last line (every event shares line 1), and loses and doubles nothing.
#[test]
fn a_killed_ingest_of_events_sharing_a_line_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let total = 60_000u64;
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Events>");
    for n in 1..=total {
        text.push_str(&saved_event(n));
    }
    text.push_str("</Events>");
    std::fs::write(logs.join("Security.xml"), text).unwrap();
    let case = dir.path().join("case");
    kill_after_a_commit(&case, &logs, "5000");
    let partial = total_events(&case);
    assert!(partial > 0 && partial < total, "{partial}");
    common::ingest(&case, &logs);
    assert_eq!(total_events(&case), total);
    assert_eq!(count(&case, "*"), total);
    // Every event once, each cited by its number in the file (they share one line).
    for n in [1, partial, partial + 1, total] {
        assert_eq!(
            count(&case, &format!("TargetUserName:user{n}")),
            1,
            "user{n}"
        );
        assert_eq!(
            count(&case, &format!("TargetUserName:user{n} AND line:{n}")),
            1,
            "user{n}"
        );
    }
}

/// Events on one line at one millisecond (Event Viewer writes every event on one line; the
/// Security log writes 4624, 4672 and 4627 in the same millisecond) stay apart: a tag, a mark
/// or a rule's hit is on the one event it names.
#[test]
fn events_sharing_a_line_and_a_millisecond_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let event = |id: u32, data: &str| {
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Service Control Manager'/><EventID>{id}</EventID><TimeCreated SystemTime='2021-03-05T10:00:00.000Z'/><Channel>System</Channel><Computer>EX1</Computer></System><EventData>{data}</EventData></Event>"
        )
    };
    let text = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Events>{}{}</Events>",
        event(
            7036,
            "<Data Name='param1'>Print Spooler</Data><Data Name='param2'>running</Data>"
        ),
        event(
            7045,
            "<Data Name='ServiceName'>evil</Data><Data Name='ImagePath'>C:\\Windows\\Temp\\e.exe</Data>"
        )
    );
    std::fs::write(logs.join("System.xml"), text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    assert_eq!(count(&case, "*"), 2);
    assert_eq!(count(&case, "EventID:7036 AND line:1"), 1);
    assert_eq!(count(&case, "EventID:7045 AND line:2"), 1);
    assert_eq!(count(&case, "rule:win-service-installed"), 1);
    assert_eq!(
        count(&case, "rule:win-service-installed AND EventID:7045"),
        1
    );
    ok(&[
        "tag",
        "--case",
        path_str(&case),
        "spooler",
        "--query",
        "EventID:7036",
    ]);
    assert_eq!(count(&case, "tag:spooler"), 1);
    assert_eq!(count(&case, "tag:spooler AND EventID:7036"), 1);
    // A value over lines (a 4672's privileges) leaves the next events on its last line: still
    // each its own number.
    let text = format!(
        "<Events>{}{}{}</Events>",
        event(
            4672,
            "<Data Name='PrivilegeList'>SeBackupPrivilege\r\n\t\t\tSeDebugPrivilege</Data>"
        ),
        event(1102, "<Data Name='x'>y</Data>"),
        event(4624, "<Data Name='x'>z</Data>")
    );
    std::fs::write(logs.join("Security.xml"), text).unwrap();
    common::ingest(&case, &logs);
    for (id, line) in [(4672, 1), (1102, 2), (4624, 3)] {
        assert_eq!(
            count(
                &case,
                &format!("EventID:{id} AND file:*Security.xml AND line:{line}")
            ),
            1,
            "{id}"
        );
    }
    ok(&[
        "tag",
        "--case",
        path_str(&case),
        "cleared",
        "--query",
        "EventID:1102",
    ]);
    assert_eq!(count(&case, "tag:cleared"), 1);
}

/// Records written as documents (pretty-printed JSON after `evtx_dump`'s banners): text
/// between them that no exporter writes, a record cut short, are malformed with their line and
/// why; every record is accounted for.
#[test]
fn documents_cut_short_or_text_between_them_are_malformed_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut text = String::new();
    for n in 1..=3 {
        let event: serde_json::Value = serde_json::from_str(&common::windows_event(
            n,
            "Microsoft-Windows-Security-Auditing",
            4625,
            "Security",
            serde_json::json!({"TargetUserName": format!("user{n}")}),
        ))
        .unwrap();
        text.push_str(&format!(
            "Record {n}\n{}\n",
            serde_json::to_string_pretty(&event).unwrap()
        ));
        if n == 1 {
            text.push_str("a line no exporter writes\n");
        }
    }
    // The last record, cut short as a copy cut off would be.
    let lines_before_cut = text.lines().count();
    text.push_str("Record 4\n{\n  \"Event\": {\n    \"System\": {\n");
    std::fs::write(logs.join("security.json"), &text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    assert_eq!(count(&case, "EventID:4625"), 3);
    // A record cites the line it starts on.
    let out = ok(&["search", "--case", path_str(&case), "TargetUserName:user2"]);
    let second = text
        .lines()
        .position(|l| l == "Record 2")
        .map(|i| i + 2)
        .unwrap();
    assert!(out.contains(&format!("security.json:{second}")), "{out}");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    let file = &stats["files"][0];
    assert_eq!(file["format"], "json", "{file}");
    assert_eq!(file["malformed"], 2, "{file}");
    let examples: Vec<(u64, String)> = file["malformed_examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["line"].as_u64().unwrap(),
                m["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let garbage = text
        .lines()
        .position(|l| l == "a line no exporter writes")
        .unwrap() as u64
        + 1;
    assert_eq!(examples[0], (garbage, "text between records".into()));
    assert_eq!(examples[1].0, lines_before_cut as u64 + 2);
    assert!(examples[1].1.contains("not closed"), "{examples:?}");
    // Records, banners and the malformed: every record of the file accounted for.
    assert_eq!(file["lines"], 3 + 4 + 2, "{file}");
}

/// Text from the logs never reaches a terminal raw, whatever the format: every command run on
/// a real pseudo-terminal (util-linux `script`), CSV and JSON included. Into a pipe, CSV keeps
/// the bytes as logged, and JSON escapes C1 and bidirectional controls always.
#[cfg(unix)]
#[test]
fn no_output_reaches_a_terminal_raw() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: util-linux `script` is not installed (it gives the test a terminal)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("W3SVC1");
    std::fs::create_dir_all(&logs).unwrap();
    let evil = "Mozilla/5.0+\x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{202e}exe.txt";
    std::fs::write(
        logs.join("u_ex210303.log"),
        format!(
            "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2021-03-03 00:00:00\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n\
2021-03-03 02:00:01 10.0.0.5 POST /ecp/y.js &CorrelationID=<empty>;&cafeReqId=6b1e7c1e-0d4c-4d4a-9f3e-1a2b3c4d5e6f; 443 - 192.0.2.7 {evil} - 200 0 0 15\r\n"
        ),
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    let c = path_str(&case);
    let commands: [&[&str]; 6] = [
        &["hunt", "--case", c, "--format", "csv"],
        &["hunt", "--case", c, "--format", "json"],
        &["search", "--case", c, "--json", "*"],
        &["stats", "--case", c, "--json"],
        &["export", "--case", c, "--format", "csv", "-o", "-"],
        &["export", "--case", c, "--format", "jsonl", "-o", "-"],
    ];
    // The log's sequences (trawl's own progress bar on stderr draws with ESC[2K, legitimately).
    let raw = |text: &str| {
        ["\x1b]0;", "\x1b[2J", "\x07", "\u{9b}", "\u{202e}"]
            .iter()
            .any(|s| text.contains(s))
    };
    let bin = env!("CARGO_BIN_EXE_trawl");
    for args in commands {
        let line = std::iter::once(bin)
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let out = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {text}");
        assert!(text.contains("pwned"), "{args:?} shows the event: {text}");
        assert!(
            !raw(&text),
            "{args:?} wrote a raw control to the terminal: {text:?}"
        );
        // Into a pipe: JSON never carries C1 or bidi controls raw; CSV is as logged.
        let piped = String::from_utf8_lossy(&run(args).stdout).into_owned();
        if args.contains(&"csv") {
            assert!(
                piped.contains(evil.replace('+', " ").as_str()) || piped.contains(evil),
                "{args:?}"
            );
        } else {
            assert!(
                !piped.contains('\u{9b}') && !piped.contains('\u{202e}'),
                "{args:?}: {piped}"
            );
        }
    }
}

/// Mistakes are said at once with a non-zero exit, and create nothing: a missing evidence
/// path, a mistyped case; a FIFO given as evidence is listed as unreadable, not skipped
/// silently or read forever.
#[test]
fn mistakes_are_loud_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let missing = dir.path().join("no-such-logs");
    let out = run(&["ingest", "--case", path_str(&case), path_str(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-logs") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!case.exists(), "no case is created for a typo");

    let typo = dir.path().join("typo/case");
    let out = run(&["--case", path_str(&typo)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no case here"));
    assert!(!dir.path().join("typo").exists());

    #[cfg(unix)]
    {
        let fifo = dir.path().join("pipe.log");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let text = ok(&["ingest", "--case", path_str(&case), path_str(&fifo)]);
            assert!(text.contains("pipe.log: not a regular file"), "{text}");
        }
    }
}

/// An IIS log a crash left with a torn line and a zero-filled tail keeps every whole line: the
/// NUL runs are malformed records with their line numbers, never "binary content".
#[test]
fn zero_filled_logs_keep_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("W3SVC1");
    std::fs::create_dir_all(&logs).unwrap();
    let mut bytes = b"#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2021-03-03 00:00:00\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n".to_vec();
    let line = |i: u32| {
        format!(
            "2021-03-03 01:{:02}:{:02} 10.0.0.5 GET /owa/ - 443 - 192.0.2.{} Mozilla/5.0 - 200 0 0 15\r\n",
            i / 60,
            i % 60,
            i % 250
        )
    };
    for i in 0..100 {
        bytes.extend(line(i).as_bytes());
    }
    // A torn line: half written, then the sector's zero fill, then the next write.
    bytes.extend(&line(100).as_bytes()[..30]);
    bytes.extend(vec![0u8; 512]);
    for i in 101..110 {
        bytes.extend(line(i).as_bytes());
    }
    // The zero-filled tail an unclean shutdown leaves.
    bytes.extend(vec![0u8; 40_000]);
    std::fs::write(logs.join("u_ex210303.log"), &bytes).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    let count = ok(&["search", "--case", path_str(&case), "--count", "*"]);
    assert_eq!(count.trim(), "109", "every whole line is an event");
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(
        stats["malformed"], 2,
        "the torn line and the zero fill: {stats}"
    );
    let reasons: Vec<String> = stats["files"][0]["malformed_examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("torn"))
            && reasons.iter().any(|r| r.contains("zero fill")),
        "{reasons:?}"
    );
    // The torn line holds two records, the torn one and the next write: every line is
    // accounted for, that one twice, and said so.
    let f = &stats["files"][0];
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    assert_eq!(n("torn_records"), 1, "{f}");
    assert_eq!(
        n("events") + n("malformed") + n("skipped") + n("continuation_lines"),
        n("lines") + n("torn_records"),
        "{f}"
    );
}

/// Evidence is known by its content: other spellings of a folder, `..` in a path, symbolic
/// links, copies (in one run or later), and a log collected again after it grew are each
/// ingested once, the later collection adding only its new lines; an older copy given after
/// that adds nothing. Every path is listed in the manifest.
#[cfg(unix)]
#[test]
fn the_same_evidence_under_any_path_is_ingested_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ev = root.join("ev/fs");
    std::fs::create_dir_all(&ev).unwrap();
    let fixture = common::repo().join("tests/fixtures/verdicts/scanned");
    let logs: Vec<std::path::PathBuf> = walk(&fixture);
    for (i, f) in logs.iter().enumerate() {
        std::fs::copy(f, ev.join(format!("u_ex21030{i}.log"))).unwrap();
    }
    let case = root.join("case");
    let c = path_str(&case);
    let count = || {
        ok(&["search", "--case", c, "--count", "*"])
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    common::ingest(&case, &ev);
    let once = count();
    assert!(once > 0);
    let spellings = [
        root.join("ev/fs/"),
        root.join("ev/./fs"),
        root.join("ev/fs/../fs"),
    ];
    for s in &spellings {
        ok(&["ingest", "--quiet", "--case", c, path_str(s)]);
        assert_eq!(count(), once, "{}", s.display());
    }
    let relative = common::trawl()
        .current_dir(root.join("ev"))
        .args(["ingest", "--quiet", "--case", c, "fs"])
        .output()
        .unwrap();
    assert!(relative.status.success());
    std::os::unix::fs::symlink(&ev, root.join("link")).unwrap();
    let first = std::fs::read_dir(&ev)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::os::unix::fs::symlink(&first, root.join("one.log")).unwrap();
    let copy = root.join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&ev).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
    }
    let text = ok(&[
        "ingest",
        "--case",
        c,
        path_str(&root.join("link")),
        path_str(&root.join("one.log")),
        path_str(&copy),
        path_str(&copy),
    ]);
    assert!(
        text.contains("already in the case under another path"),
        "{text}"
    );
    assert_eq!(count(), once, "links and copies add nothing");

    // The same log collected twice: first while it was being written, then grown.
    let early = root.join("collect-1/u_ex210310.log");
    let late = root.join("collect-2/u_ex210310.log");
    std::fs::create_dir_all(early.parent().unwrap()).unwrap();
    std::fs::create_dir_all(late.parent().unwrap()).unwrap();
    // (Another month, so that it is not a copy of a log already in the case.)
    let body = std::fs::read_to_string(&first)
        .unwrap()
        .replace("2021-", "2022-");
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    let cut = lines.len() / 2;
    std::fs::write(&early, lines[..cut].concat()).unwrap();
    std::fs::write(&late, lines.concat()).unwrap();
    ok(&["ingest", "--quiet", "--case", c, path_str(&early)]);
    let with_early = count();
    ok(&["ingest", "--quiet", "--case", c, path_str(&late)]);
    let with_late = count();
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        c,
        path_str(&early),
        path_str(&late),
    ]);
    assert_eq!(
        count(),
        with_late,
        "the older copy adds nothing after the log grew"
    );
    assert!(with_late > with_early);
    // The grown log is one file in the case: its events are those of the full log alone.
    let fresh = root.join("fresh");
    common::ingest(&fresh, &late);
    let alone: u64 = ok(&["search", "--case", path_str(&fresh), "--count", "*"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(with_late - with_early, alone - (with_early - once));

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("manifest.json")).unwrap())
            .unwrap();
    let paths: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            std::iter::once(f["path"].as_str().unwrap().to_string()).chain(
                f["aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a.as_str().unwrap().to_string()),
            )
        })
        .collect();
    assert!(paths.iter().any(|p| p.contains("/copy/")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("one.log")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("collect-2")), "{paths:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|e| e == "log") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// File names that differ only in bytes that are not UTF-8 are two pieces of evidence, each
/// ingested once and shown with those bytes escaped.
#[cfg(target_os = "linux")]
#[test]
fn names_that_are_not_utf8_stay_apart() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let fixture = walk(&common::repo().join("tests/fixtures/verdicts/scanned"));
    for (name, src) in [
        (&b"u_ex\xff.log"[..], &fixture[0]),
        (&b"u_ex\xfe.log"[..], &fixture[1]),
    ] {
        std::fs::copy(src, logs.join(std::ffi::OsStr::from_bytes(name))).unwrap();
    }
    let case = dir.path().join("case");
    let c = path_str(&case);
    common::ingest(&case, &logs);
    let count = || ok(&["search", "--case", c, "--count", "*"]);
    let first = count();
    ok(&["ingest", "--quiet", "--case", c, path_str(&logs)]);
    assert_eq!(count(), first, "nothing doubled or replaced");
    let stats = ok(&["stats", "--case", c]);
    assert!(
        stats.contains("u_ex\\xff.log") && stats.contains("u_ex\\xfe.log"),
        "{stats}"
    );
}

/// An archive of many small logs is read with its directory parsed once: 20,000 members
/// ingest (each an event, none lost) where each member used to parse the whole directory again.
#[test]
fn a_zip_of_twenty_thousand_members_ingests() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("collection.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&archive).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..20_000u32 {
        zip.start_file(format!("logs/{i:05}.log"), options).unwrap();
        writeln!(
            zip,
            "2021-03-05T17:{:02}:{:02}Z request {i} from 192.0.2.{}",
            (i / 60) % 60,
            i % 60,
            i % 250
        )
        .unwrap();
    }
    zip.finish().unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &archive);
    assert_eq!(
        ok(&["search", "--case", path_str(&case), "--count", "*"]).trim(),
        "20000"
    );
    let again = ok(&["ingest", "--case", path_str(&case), path_str(&archive)]);
    assert!(
        again.contains("20000 unchanged") || again.contains("20,000 unchanged"),
        "{again}"
    );
}

/// A gzip file cut short keeps the lines before the cut, and says it was truncated.
#[test]
fn a_truncated_gzip_keeps_what_it_holds_and_says_so() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..5_000u32 {
        text.push_str(&format!(
            "2021-03-05T{:02}:{:02}:{:02}Z request {i} from 192.0.2.{} for /owa/{i}\n",
            i / 3600,
            (i / 60) % 60,
            i % 60,
            i % 250
        ));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let path = dir.path().join("app.log.gz");
    std::fs::write(&path, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let case = dir.path().join("case");
    let out = ok(&["ingest", "--case", path_str(&case), path_str(&path)]);
    assert!(out.contains("truncated"), "{out}");
    let n: u64 = ok(&["search", "--case", path_str(&case), "--count", "*"])
        .trim()
        .parse()
        .unwrap();
    assert!(n > 1_000 && n < 5_000, "{n}");
}

/// Paths, agents and users are counted without case (as queries compare them) but shown as
/// the logs wrote them.
#[test]
fn top_values_are_shown_as_the_logs_wrote_them() {
    let case = trawl_testkit::case_dir();
    let out = ok(&["stats", "--case", path_str(case)]);
    for written in [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        "EXAMPLE\\svc-monitor",
        "/EWS/Exchange.asmx",
    ] {
        assert!(out.contains(written), "{written} in:\n{out}");
    }
    assert!(!out.contains("/ews/exchange.asmx"), "{out}");
}

/// A log rotated under its name (renamed away, as it was or after growing, and a new log
/// started under the old name) keeps every event once: found before the fix, where the new
/// log "replaced" the old one and deleted the events living on under the new name.
#[test]
fn a_log_rotated_under_its_name_keeps_every_event_once() {
    for grown_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (case, ev) = (dir.path().join("case"), dir.path().join("ev"));
        std::fs::create_dir_all(&ev).unwrap();
        let log = ev.join("u_ex210305.log");
        std::fs::write(&log, format!("{IIS_HEADER}{}", iis_lines(0, 10))).unwrap();
        common::ingest(&case, &ev);
        if grown_first {
            let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
            f.write_all(iis_lines(10, 5).as_bytes()).unwrap();
        }
        std::fs::rename(&log, ev.join("u_ex210305.log.1")).unwrap();
        std::fs::write(&log, format!("{IIS_HEADER}{}", iis_lines(100, 4))).unwrap();
        common::ingest(&case, &ev);
        let expected = if grown_first { 19 } else { 14 };
        assert_eq!(total_events(&case), expected, "grown first: {grown_first}");
        // Again: nothing changes, and every path belongs to one file.
        let again = common::ingest(&case, &ev);
        assert!(again.contains(" 0 new events"), "{again}");
        assert_eq!(total_events(&case), expected);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("manifest.json")).unwrap())
                .unwrap();
        let mut paths: Vec<&str> = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| {
                std::iter::once(f["path"].as_str().unwrap()).chain(
                    f["aliases"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| a.as_str().unwrap()),
                )
            })
            .collect();
        paths.sort_unstable();
        let before = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), before, "a path claimed twice: {paths:?}");
    }
}

/// A segment file cut short (a partial copy of a case): every command says the index is
/// damaged and how to repair it; the next ingest of the evidence drops the damaged segment,
/// reads again the files it held, and the case is whole, nothing doubled.
#[test]
fn a_truncated_segment_is_repaired_by_ingesting_again() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let sample = common::sample_logs();
    let (a, b) = (sample.join("MBX-A"), sample.join("MBX-B"));
    // Two ingests whose events overlap in time: two segments, not merged.
    common::ingest(&case, &a);
    common::ingest(&case, &b);
    let whole = total_events(&case);
    let mut stores: Vec<PathBuf> = std::fs::read_dir(case.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "store"))
        .collect();
    stores.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let victim = stores.last().unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap();
    f.set_len(1000).unwrap();
    drop(f);

    let out = run(&["search", "--case", path_str(&case), "*", "--count"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("damaged") && err.contains("trawl ingest"),
        "{err}"
    );

    let summary = ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&a),
        path_str(&b),
    ]);
    assert!(summary.contains("damaged segment"), "{summary}");
    assert_eq!(total_events(&case), whole);
    let events = search_json(&case, "*");
    let distinct: BTreeSet<(String, u64)> = events
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(distinct.len() as u64, whole, "nothing doubled");
}

/// A JSON export that grows (evtx_dump writing to a share, copied midway): its last record,
/// cut at the end of the first copy, is read whole once the file has grown; nothing is lost,
/// nothing doubled, and no stale malformed record stays.
#[test]
fn a_grown_export_reads_the_record_it_was_cut_inside() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let record = |n: u32| {
        let event: serde_json::Value = serde_json::from_str(&common::windows_event(
            n,
            "Microsoft-Windows-Security-Auditing",
            4625,
            "Security",
            serde_json::json!({"TargetUserName": format!("user{n}")}),
        ))
        .unwrap();
        format!(
            "Record {n}\n{}\n",
            serde_json::to_string_pretty(&event).unwrap()
        )
    };
    let whole: String = (1..=4).map(record).collect();
    let cut = whole.find("Record 3").unwrap() + 40;
    let file = logs.join("security.json");
    std::fs::write(&file, &whole[..cut]).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    assert_eq!(count(&case, "*"), 2);
    std::fs::write(&file, &whole).unwrap();
    common::ingest(&case, &logs);
    assert_eq!(count(&case, "*"), 4);
    for n in 1..=4 {
        assert_eq!(
            count(&case, &format!("TargetUserName:user{n}")),
            1,
            "user{n}"
        );
    }
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(stats["malformed"], 0, "{stats}");
}

/// `trawl ingest … | head -1`: the reader gone, the summary cannot be written, but the rules
/// still run and their hits are kept in the case (they were lost, with exit status 0).
#[test]
fn the_rules_run_when_nobody_reads_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = common::trawl()
        .args([
            "ingest",
            "--quiet",
            "--case",
            path_str(&case),
            path_str(&common::sample_logs()),
        ])
        .stdout(writer)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(count(&case, "rule:*") > 0);
    assert!(case.join("detections.json").exists());
}

/// A line past 16 MiB (a file without line ends, a value padded by an attacker) is cut there
/// and malformed with its line; the lines around it are events, and its size is never held.
#[test]
fn a_line_past_the_limit_is_malformed_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut text = b"2021-03-05T10:00:00Z the first line\n2021-03-05T10:00:01Z ".to_vec();
    text.extend(std::iter::repeat_n(b'A', 20 << 20));
    text.extend_from_slice(b"\n2021-03-05T10:00:02Z the last line\n");
    std::fs::write(logs.join("app.log"), &text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    assert_eq!(count(&case, "*"), 2);
    assert_eq!(count(&case, "first OR last"), 2);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    let file = &stats["files"][0];
    assert_eq!(file["malformed"], 1, "{file}");
    assert_eq!(file["lines"], 3, "{file}");
    let example = &file["malformed_examples"][0];
    assert_eq!(example["line"], 2);
    assert!(
        example["reason"]
            .as_str()
            .unwrap()
            .contains("longer than 16 MiB"),
        "{example}"
    );
}

/// An exported event whose message is a long script (a 4104 of 20,000 lines) is one record:
/// past 256 lines its rest was read as rows of its own, and a line of the script written as a
/// row became a forged event.
#[test]
fn a_long_quoted_message_is_one_record_and_forges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut script = String::new();
    for i in 0..20_000 {
        if i == 10_000 {
            script.push_str(
                "2021-03-05T10:00:00Z,1,Information,MSExchange CmdletLogs,MSExchange Management,EVIL,forged\r\n",
            );
        }
        script.push_str(&format!("$x{i} = {i}\r\n"));
    }
    let text = format!(
        "\"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"\r\n\"2021-03-05T09:00:00Z\",\"4104\",\"Verbose\",\"Microsoft-Windows-PowerShell\",\"Microsoft-Windows-PowerShell/Operational\",\"MBX-A\",\"Creating Scriptblock text (1 of 1):\r\n{script}\"\r\n\"2021-03-05T09:00:01Z\",\"4103\",\"Information\",\"Microsoft-Windows-PowerShell\",\"Microsoft-Windows-PowerShell/Operational\",\"MBX-A\",\"after\"\r\n"
    );
    std::fs::write(logs.join("powershell.csv"), text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    assert_eq!(count(&case, "*"), 2);
    assert_eq!(count(&case, "host:EVIL"), 0);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(stats["malformed"], 0, "{stats}");
}

/// A western zone begins with `-`: `--tz -0500` is the zone, not an unknown option (it stopped
/// the ingest with exit 2). Times written without a zone move to UTC by it; the others not.
#[test]
fn a_western_zone_is_given_as_its_own_argument() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(
        evidence.join("audit.jsonl"),
        "{\"CreationTime\":\"2021-03-05T12:00:00\",\"Operation\":\"local\"}\n\
         {\"CreationTime\":\"2021-03-05T12:00:00Z\",\"Operation\":\"utc\"}\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    ok(&[
        "ingest",
        "--quiet",
        "--tz",
        "-0500",
        "--case",
        path_str(&case),
        path_str(&evidence),
    ]);
    let times = |q: &str| -> Vec<String> {
        common::exported(&case, q)
            .iter()
            .map(|e| e["ts"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(times("Operation:local"), ["2021-03-05T17:00:00.000Z"]);
    assert_eq!(times("Operation:utc"), ["2021-03-05T12:00:00.000Z"]);
}

/// IIS lines without their header (a responder's `grep 198.51.100.144 u_ex*.log > excerpt`) are
/// read in IIS's default fields, with or without the referer (IIS 8.5 and before): they were
/// text, every web field empty. A row that is not in them is malformed with why, and a
/// `#Fields` the file does carry takes over from there.
#[test]
fn iis_lines_without_their_header_keep_their_fields() {
    let original = std::fs::read_to_string(
        common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log"),
    )
    .unwrap();
    let excerpt: Vec<&str> = original
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" 198.51.100.144 "))
        .collect();
    assert!(excerpt.len() >= 10);
    // The same rows as IIS 7.5 writes them, without `cs(Referer)` (the 11th field).
    let older: Vec<String> = excerpt
        .iter()
        .map(|l| {
            let mut v: Vec<&str> = l.split(' ').collect();
            v.remove(10);
            v.join(" ")
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence/MBX-A/LogFiles");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(
        evidence.join("excerpt.log"),
        excerpt.join("\n") + "\nnot an IIS row\n",
    )
    .unwrap();
    std::fs::write(evidence.join("older.log"), older.join("\n") + "\n").unwrap();
    let case = dir.path().join("case");
    let summary = common::ingest(&case, &dir.path().join("evidence"));
    assert!(summary.contains("iis-headerless 2"), "{summary}");
    let n = excerpt.len() as u64;
    assert_eq!(count(&case, "*"), 2 * n);
    assert_eq!(
        count(&case, "client:198.51.100.144 AND path:* AND status:*"),
        2 * n
    );
    assert_eq!(count(&case, "ua:*"), 2 * n);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(stats["malformed"], 1);
}

/// A run the index holds no word for (a 5-digit process id), asked bare, is named on stderr with
/// the way to ask it, rather than answering a silent 0; the field finds it.
#[test]
fn an_unindexed_number_asked_bare_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let event = common::windows_event(
        1,
        "Microsoft-Windows-Sysmon",
        1,
        "Microsoft-Windows-Sysmon/Operational",
        serde_json::json!({"ProcessId": "23392", "Image": "C:\\Windows\\System32\\cmd.exe"}),
    );
    let case = common::ingest_lines(dir.path(), "sysmon.jsonl", &[event]);
    let out = run(&["search", "--case", path_str(&case), "--count", "23392"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("note: 23392 not searched as a word"), "{err}");
    assert_eq!(count(&case, "ProcessId:23392"), 1);
    let out = run(&["search", "--case", path_str(&case), "--count", "cmd.exe"]);
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
}

/// A log copied out of its server's folders names no host in its path: IIS's own address
/// (`s-ip`) keeps two servers' logs apart (they were pooled under one verdict). A log naming no
/// host and no address is pooled under "(no host)", which the summary says with how to name it,
/// and `--host` names it, for the verdicts are per host.
#[test]
fn files_naming_no_host_are_named_by_their_address_or_the_host_option() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let a = common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log");
    let b = common::sample_logs().join("MBX-B/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log");
    std::fs::copy(&a, evidence.join("a.log")).unwrap();
    std::fs::copy(&b, evidence.join("b.log")).unwrap();
    let two = dir.path().join("two");
    let summary = common::ingest(&two, &evidence);
    assert!(!summary.contains("(no host)"), "{summary}");
    let report = common::hunt_json(&two);
    let verdict = |host: &str| {
        report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["host"] == host)
            .unwrap_or_else(|| panic!("{host}: {}", report["verdicts"]))["verdict"]
            .clone()
    };
    assert_eq!(verdict("172.16.4.21"), "compromised");
    assert_ne!(verdict("172.16.4.22"), "compromised");
    // Shown and exported under the host it is searched by.
    let rows = common::exported(&two, "host:172.16.4.21 AND path:/owa/auth/*.aspx");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["host"] == "172.16.4.21"), "{rows:?}");

    // One log is one server's: its health probes on `::1` and the requests it answered on a
    // second address are its own (they were "(no host)" and another host).
    let probed_evidence = dir.path().join("probed-evidence");
    std::fs::create_dir_all(&probed_evidence).unwrap();
    let (mut rows, mut probes) = (0, 0);
    let probed: Vec<String> = std::fs::read_to_string(&a)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                return l.to_string();
            }
            rows += 1;
            let mut v: Vec<&str> = l.split(' ').collect();
            assert_eq!(v[2], "172.16.4.21");
            match rows % 10 {
                3 => {
                    v[2] = "::1";
                    probes += 1;
                }
                5 => v[2] = "2001:db8::15",
                _ => {}
            }
            v.join(" ")
        })
        .collect();
    std::fs::write(
        probed_evidence.join("u_ex210305.log"),
        probed.join("\n") + "\n",
    )
    .unwrap();
    let probed_case = dir.path().join("probed");
    let out = run(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&probed_case),
        path_str(&probed_evidence),
    ]);
    assert!(out.status.success());
    let summary =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!summary.contains("(no host)"), "{summary}");
    // Said: a merge of several servers' rows would be read as one server's.
    assert!(
        summary.contains("several server addresses (172.16.4.21, 2001:db8::15)"),
        "{summary}"
    );
    assert_eq!(common::count(&probed_case, "host:172.16.4.21"), rows);
    assert_eq!(common::count(&probed_case, "s-ip:\"::1\""), probes);

    // The same rows without `s-ip`.
    let unnamed_evidence = dir.path().join("unnamed-evidence");
    std::fs::create_dir_all(&unnamed_evidence).unwrap();
    let without_address: Vec<String> = std::fs::read_to_string(&a)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Vec<&str> = l.split(' ').collect();
            if l.starts_with("#Fields:") {
                v.retain(|f| *f != "s-ip");
            } else if !l.starts_with('#') {
                v.remove(2);
            }
            v.join(" ")
        })
        .collect();
    std::fs::write(
        unnamed_evidence.join("u_ex210305.log"),
        without_address.join("\n") + "\n",
    )
    .unwrap();
    let unnamed = dir.path().join("unnamed");
    let summary = common::ingest(&unnamed, &unnamed_evidence);
    assert!(summary.contains("(no host)"), "{summary}");
    assert!(summary.contains("with `--host NAME`"), "{summary}");
    let report = common::hunt_json(&unnamed);
    assert_eq!(report["verdicts"][0]["host"], "(no host)");
    assert_eq!(report["verdicts"][0]["verdict"], "compromised");

    let named = dir.path().join("named");
    let summary = ok(&[
        "ingest",
        "--quiet",
        "--host",
        "EX9",
        "--case",
        path_str(&named),
        path_str(&unnamed_evidence),
    ]);
    assert!(!summary.contains("(no host)"), "{summary}");
    assert!(!summary.contains("--host NAME"), "{summary}");
    assert_eq!(count(&named, "host:EX9"), count(&unnamed, "*"));
    let report = common::hunt_json(&named);
    assert_eq!(report["verdicts"][0]["host"], "EX9");
    assert_eq!(report["verdicts"][0]["verdict"], "compromised");
}

/// `Get-WinEvent | Export-Csv` writes `TimeCreated` in the culture's short format, local time:
/// every row was "unreadable timestamp" and the export's web shell cmdlet went unseen. The
/// United States' `M/d/yyyy h:mm:ss tt`, Britain's `dd/MM/yyyy HH:mm:ss` and Germany's
/// `dd.MM.yyyy HH:mm:ss` are read with `--tz`; `--date-order` says the order when it is not the
/// culture's, and a date impossible in the order read is malformed with why.
#[test]
fn an_event_export_in_a_cultures_date_format_is_read() {
    let header = "\u{feff}\"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"";
    let row = |time: &str, message: &str| {
        format!(
            "\"{time}\",\"1\",\"Information\",\"MSExchange CmdletLogs\",\"MSExchange Management\",\"EXCH5.corp.example.org\",\"{message}\""
        )
    };
    let shell = "Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl \"\"http://f/<script language=\"\"JScript\"\" runat=\"\"server\"\">function Page_Load(){eval(Request[\"\"zz9\"\"],\"\"unsafe\"\");}</script>\"\" -Identity \"\"OAB (Default Web Site)\"\".";
    let quiet = "Cmdlet succeeded. Cmdlet Get-Mailbox, parameters -ResultSize \"\"1\"\".";
    for (name, shell_at, quiet_at, order) in [
        ("us", "3/5/2021 6:42:27 PM", "3/13/2021 9:05:00 AM", None),
        ("gb", "05/03/2021 18:42:27", "13/03/2021 09:05:00", None),
        ("de", "05.03.2021 18:42:27", "13.03.2021 09:05:00", None),
        (
            "us-24h",
            "03/05/2021 18:42:27",
            "03/13/2021 09:05:00",
            Some("mdy"),
        ),
        // Left to `auto`, a file's own dates choose the order for all of its records: the
        // 13th cannot be a month.
        (
            "us-24h-auto",
            "03/05/2021 18:42:27",
            "03/13/2021 09:05:00",
            None,
        ),
        (
            "gb-am-pm",
            "5/03/2021 6:42:27 PM",
            "13/03/2021 9:05:00 AM",
            None,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let evidence = dir.path().join("EXCH5");
        std::fs::create_dir_all(&evidence).unwrap();
        let text = [
            header.to_string(),
            row(shell_at, shell),
            row(quiet_at, quiet),
        ]
        .join("\r\n");
        std::fs::write(evidence.join("mgmt.csv"), text + "\r\n").unwrap();
        let case = dir.path().join("case");
        let mut args = vec![
            "ingest",
            "--quiet",
            "--tz",
            "+01:00",
            "--case",
            path_str(&case),
        ];
        if let Some(order) = order {
            args.extend(["--date-order", order]);
        }
        args.push(path_str(dir.path()));
        let summary = ok(&args);
        assert!(
            summary.contains("2 new events, 0 malformed"),
            "{name}: {summary}"
        );
        assert!(
            summary.contains("read as +01:00 (--tz)"),
            "{name}: {summary}"
        );
        let rows = common::exported(&case, "*");
        assert_eq!(rows[0]["ts"], "2021-03-05T17:42:27.000Z", "{name}");
        assert_eq!(rows[1]["ts"], "2021-03-13T08:05:00.000Z", "{name}");
        // Read again (export, timeline, rules) in the order it was read first.
        for row in &rows {
            assert!(row.get("problem").is_none(), "{name}: {row}");
            assert!(row["fields"]["Cmdlet"].as_str().is_some(), "{name}: {row}");
        }
        let report = common::hunt_json(&case);
        assert_eq!(report["verdicts"][0]["verdict"], "compromised", "{name}");
    }
    // Read in the other order, the 13th month is no date: malformed, with how to read it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mgmt.csv"),
        [header.to_string(), row("03/13/2021 09:05:00", quiet)].join("\r\n") + "\r\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    let summary = ok(&[
        "ingest",
        "--quiet",
        "--date-order",
        "dmy",
        "--case",
        path_str(&case),
        path_str(dir.path()),
    ]);
    assert!(summary.contains("0 new events, 1 malformed"), "{summary}");
    assert!(summary.contains("--date-order dmy or mdy"), "{summary}");
}

/// Windows events collected twice (two exports of a log taken days apart) are one event each,
/// in one ingest or two: what tells them apart is the host, channel, record number and time
/// together. A number used again after the log was cleared (at another time), the same number
/// in another channel and on another host are other events.
#[test]
fn windows_events_read_twice_are_counted_once() {
    let event = common::failed_logon;
    let dir = tempfile::tempdir().unwrap();
    let (day1, day3) = (dir.path().join("day1"), dir.path().join("day3"));
    std::fs::create_dir_all(&day1).unwrap();
    std::fs::create_dir_all(&day3).unwrap();
    let lines = common::failed_logons;
    std::fs::write(day1.join("Security.json"), lines(1..=6)).unwrap();
    let others = [
        // Cleared, then numbered from 1 again an hour later.
        event(2).replace("T10:00:02", "T11:00:02"),
        event(3).replace("\"Channel\":\"Security\"", "\"Channel\":\"System\""),
        event(4).replace("EX1.corp.example", "EX2.corp.example"),
    ];
    std::fs::write(
        day3.join("Security.json"),
        lines(4..=9) + &others.join("\n") + "\n",
    )
    .unwrap();

    let case = dir.path().join("together");
    let summary = common::ingest(&case, dir.path());
    assert_eq!(count(&case, "*"), 12, "{summary}");
    assert!(
        summary.contains("3 Windows events already in the case"),
        "{summary}"
    );
    for n in 1..=9 {
        assert_eq!(
            count(&case, &format!("TargetUserName:user{n}")),
            1 + u64::from((2..=4).contains(&n)),
            "user{n}"
        );
    }
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    for f in stats["files"].as_array().unwrap() {
        let lines = f["lines"].as_u64().unwrap();
        let accounted = f["events"].as_u64().unwrap() + f["duplicate_events"].as_u64().unwrap();
        assert_eq!(accounted, lines, "{f}");
    }
    assert_eq!(total_events(&case), 12);

    // The second collection in a later ingest: only its new events are added.
    let case = dir.path().join("apart");
    common::ingest(&case, &day1);
    let summary = common::ingest(&case, &day3);
    assert!(summary.contains("6 new events"), "{summary}");
    assert_eq!(count(&case, "*"), 12);
    assert_eq!(total_events(&case), 12);
}

/// Evidence named inside the case's own folder is not read (nothing of a case is evidence), and
/// the summary says why rather than ingesting nothing in silence.
#[test]
fn evidence_named_inside_the_case_folder_is_said_to_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::create_dir(&first).unwrap();
    let event = common::windows_event(1, "p", 1, "Security", serde_json::json!({}));
    std::fs::write(first.join("a.json"), format!("{event}\n")).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &first);
    let inside = case.join("evidence");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join("b.json"), format!("{event}\n")).unwrap();
    let summary = common::ingest(&case, &inside);
    assert!(
        summary.contains("inside the case's own folder") && summary.contains("evidence"),
        "{summary}"
    );
}

/// A log collected twice, before and after it grew (a copy taken on day 1, another on day 3,
/// each in its own folder): every line once, whichever order or runs they come in, each cited
/// in a file that holds it; the day-1 copy is known as what the log was.
#[test]
fn a_log_collected_before_and_after_it_grew_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let (day1, day3) = (dir.path().join("day1/EX1"), dir.path().join("day3/EX1"));
    std::fs::create_dir_all(&day1).unwrap();
    std::fs::create_dir_all(&day3).unwrap();
    std::fs::write(
        day1.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 40),
    )
    .unwrap();
    std::fs::write(
        day3.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 50),
    )
    .unwrap();

    // In one ingest.
    let case = dir.path().join("one");
    let summary = common::ingest(&case, dir.path());
    assert_eq!(count(&case, "*"), 50, "{summary}");
    assert!(
        summary.contains("1 already in the case under another path"),
        "{summary}"
    );
    // In two: the lines the day-3 copy adds are cited there, where they are.
    let case = dir.path().join("two");
    common::ingest(&case, &day1);
    let summary = common::ingest(&case, &day3);
    assert!(summary.contains("1 grown"), "{summary}");
    assert_eq!(count(&case, "*"), 50);
    let rows = common::exported(&case, "line:52");
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["file"].as_str().unwrap().contains("day3"),
        "{}",
        rows[0]
    );
    // Either copy again: nothing new.
    for again in [&day1, &day3] {
        let summary = common::ingest(&case, again);
        assert!(summary.contains(" 0 new events"), "{summary}");
    }
    assert_eq!(count(&case, "*"), 50);
    // The day-1 path, grown on past both: its new lines are cited there, where they are.
    std::fs::write(
        day1.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 60),
    )
    .unwrap();
    let summary = common::ingest(&case, &day1);
    assert!(summary.contains("10 new events"), "{summary}");
    let rows = common::exported(&case, "line:62");
    assert!(
        rows[0]["file"].as_str().unwrap().contains("day1"),
        "{}",
        rows[0]
    );
    for again in [&day1, &day3] {
        let summary = common::ingest(&case, again);
        assert!(summary.contains(" 0 new events"), "{summary}");
    }
    assert_eq!(count(&case, "*"), 60);
    assert_eq!(total_events(&case), 60);

    // Two later copies in one ingest, each going on from the log in the case: one is read and
    // the other is its alias, in either order of paths, the path in the case among them or
    // not (both were read, their shared lines indexed twice). A copy with other lines after
    // the shared ones is another log, read as such.
    for (a, b) in [("day2", "day4"), ("day4", "day2"), ("day1", "day4")] {
        let case = dir.path().join(format!("later-{a}-{b}"));
        let first = dir.path().join("first/EX1");
        std::fs::create_dir_all(&first).unwrap();
        std::fs::write(
            first.join("u_ex210305.log"),
            IIS_HEADER.to_string() + &iis_lines(0, 40),
        )
        .unwrap();
        common::ingest(&case, &first);
        let (da, db) = (
            dir.path().join(a).join("EX1"),
            dir.path().join(b).join("EX1"),
        );
        for (d, n) in [(&da, 70), (&db, 90)] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(
                d.join("u_ex210305.log"),
                IIS_HEADER.to_string() + &iis_lines(0, n),
            )
            .unwrap();
        }
        let summary = ok(&[
            "ingest",
            "--quiet",
            "--case",
            path_str(&case),
            path_str(&first),
            path_str(&da),
            path_str(&db),
        ]);
        assert_eq!(count(&case, "*"), 90, "{a} {b}: {summary}");
        assert_eq!(total_events(&case), 90, "{a} {b}: {summary}");
        assert_eq!(count(&case, "line:62"), 1, "{a} {b}");
        std::fs::remove_dir_all(dir.path().join("first")).unwrap();
    }
    // Two copies that go on from the log in the case differently: each is kept whole, nothing
    // of either lost (the lines they share with the case are then read again in one of them).
    let case = dir.path().join("diverging");
    let first = dir.path().join("first/EX1");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(
        first.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 40),
    )
    .unwrap();
    common::ingest(&case, &first);
    let (x, y) = (dir.path().join("x/EX1"), dir.path().join("y/EX1"));
    for (d, more) in [(&x, 100), (&y, 200)] {
        std::fs::create_dir_all(d).unwrap();
        let text = IIS_HEADER.to_string() + &iis_lines(0, 40) + &iis_lines(more, 5);
        std::fs::write(d.join("u_ex210305.log"), text).unwrap();
    }
    let both = ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&x),
        path_str(&y),
    ]);
    assert_eq!(count(&case, "path:/owa/x100"), 1, "{both}");
    assert_eq!(count(&case, "path:/owa/x200"), 1, "{both}");
    assert_eq!(total_events(&case), count(&case, "*"), "{both}");
}

/// A copy of a log taken while it was written ends inside a line; a later copy completes that
/// line and goes on. The later copy replaces the earlier: the cut line is read whole, once,
/// and nothing is counted twice.
#[test]
fn a_copy_completing_a_cut_last_line_replaces_the_earlier_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (day1, day3) = (dir.path().join("day1/EX1"), dir.path().join("day3/EX1"));
    std::fs::create_dir_all(&day1).unwrap();
    std::fs::create_dir_all(&day3).unwrap();
    let whole = IIS_HEADER.to_string() + &iis_lines(0, 30);
    let cut = &whole[..whole.len() - 20];
    std::fs::write(day1.join("u_ex210305.log"), cut).unwrap();
    std::fs::write(day3.join("u_ex210305.log"), &whole).unwrap();
    let case = dir.path().join("case");
    let first = common::ingest(&case, &day1);
    assert!(first.contains("29 new events, 1 malformed"), "{first}");
    let summary = common::ingest(&case, &day3);
    assert_eq!(count(&case, "*"), 30, "{summary}");
    assert_eq!(total_events(&case), 30);
    let stats: serde_json::Value =
        serde_json::from_str(&ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(stats["malformed"], 0, "{stats}");
    let summary = common::ingest(&case, &day1);
    assert!(summary.contains(" 0 new events"), "{summary}");

    // Rotated as well: the completed copy renamed `.1`, the log's path started again with
    // other lines. Both are kept, each once, and nothing changes on another run.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("EX1");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("u_ex210305.log"), cut).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    std::fs::write(logs.join("u_ex210305.log.1"), &whole).unwrap();
    std::fs::write(
        logs.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(1000, 5),
    )
    .unwrap();
    let summary = common::ingest(&case, &logs);
    assert_eq!(count(&case, "*"), 35, "{summary}");
    let summary = common::ingest(&case, &logs);
    assert!(summary.contains(" 0 new events"), "{summary}");
    assert_eq!(count(&case, "*"), 35, "{summary}");
    assert_eq!(total_events(&case), 35);
}

/// Options that say how evidence is read do nothing to evidence already in the case: given to
/// a command that only reads the case they are refused with why, and an ingest reading new
/// files with another zone than the case's files were read with says so.
#[test]
fn reading_options_never_change_the_case_in_silence() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(
        logs.join("app.jsonl"),
        "{\"time\":\"2021-03-05 10:00:00\",\"message\":\"started\"}\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    ok(&[
        "ingest",
        "--quiet",
        "--tz",
        "+01:00",
        "--case",
        path_str(&case),
        path_str(&logs),
    ]);
    for given in [
        vec!["--trusted-proxy", "10.0.0.1", "hunt"],
        vec!["--tz", "+02:00", "search", "*"],
        vec!["--tz", "+02:00", "ingest", path_str(&logs)],
    ] {
        let mut args = given.clone();
        args.extend(["--case", path_str(&case)]);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{given:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(given[0]) && err.contains("ingest"), "{err}");
    }
    // The zone of UTC, however it is written, changes nothing.
    let out = run(&["--tz", "+00:00", "stats", "--case", path_str(&case)]);
    assert!(out.status.success(), "{out:?}");
    let more = dir.path().join("more");
    std::fs::create_dir(&more).unwrap();
    std::fs::write(
        more.join("app2.jsonl"),
        "{\"time\":\"2021-03-05 11:00:00\",\"message\":\"again\"}\n",
    )
    .unwrap();
    let out = run(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&more),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("different zones: +00:00 (1 file(s)), +01:00 (1 file(s))"),
        "{text}"
    );
}

/// A file keeps the Windows events a later copy of its log did not add. Replaced (its log
/// collected again at its path, now holding other events), its events go, and the copies come
/// back from the file that had them: read again in the same ingest when given, or marked and
/// said, then read again when next given.
#[test]
fn copies_come_back_when_the_file_that_kept_them_is_replaced() {
    let lines = common::failed_logons;
    for together in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("Security.json"), lines(1..=4)).unwrap();
        std::fs::write(b.join("Security.json"), lines(3..=6)).unwrap();
        let case = dir.path().join("case");
        common::ingest(&case, &a);
        common::ingest(&case, &b);
        assert_eq!(count(&case, "*"), 6);
        // `a` now holds another stretch of the log (records 1 to 4 are gone from it).
        std::fs::write(a.join("Security.json"), lines(7..=9)).unwrap();
        if together {
            let summary = common::ingest(&case, dir.path());
            assert!(summary.contains("2 changed and re-read"), "{summary}");
        } else {
            let summary = common::ingest(&case, &a);
            assert!(
                summary.contains("give it again to read them back"),
                "{summary}"
            );
            assert_eq!(count(&case, "*"), 5, "{summary}");
            let summary = common::ingest(&case, &b);
            assert!(summary.contains("1 changed and re-read"), "{summary}");
        }
        assert_eq!(count(&case, "*"), 7, "together: {together}");
        for n in 3..=9 {
            assert_eq!(
                count(&case, &format!("TargetUserName:user{n}")),
                1,
                "user{n}"
            );
        }
        assert_eq!(total_events(&case), 7);
        // Nothing more on another run.
        let summary = common::ingest(&case, dir.path());
        assert!(summary.contains(" 0 new events"), "{summary}");
    }
}

/// An ingest killed while reading a log that folded in an earlier copy of itself (the earlier
/// copy an alias of the record in progress) goes on from where it stopped: the alias is not
/// taken for a changed file that would replace the record.
#[test]
fn a_killed_ingest_of_a_log_with_an_earlier_copy_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let (early, late) = (logs.join("day1/EX1"), logs.join("day3/EX1"));
    std::fs::create_dir_all(&early).unwrap();
    std::fs::create_dir_all(&late).unwrap();
    let total = 150_000;
    std::fs::write(
        early.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, total / 2),
    )
    .unwrap();
    std::fs::write(
        late.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, total),
    )
    .unwrap();
    let case = dir.path().join("case");
    kill_after_a_commit(&case, &logs, "20000");
    let partial = total_events(&case);
    assert!(partial > 0 && partial < total, "{partial}");
    let summary = common::ingest(&case, &logs);
    assert!(!summary.contains("1 changed"), "{summary}");
    assert_eq!(total_events(&case), total, "{summary}");
    assert_eq!(count(&case, "*"), total);

    // Killed again, then given under another spelling of its path (`logs/./day3` for
    // `logs/day3`): the same file, which goes on from where it stopped (it was read whole as a
    // new file, doubling what had been committed).
    let case = dir.path().join("case-respelled");
    kill_after_a_commit(&case, &late, "20000");
    let partial = total_events(&case);
    assert!(partial > 0 && partial < total, "{partial}");
    let respelled = logs.join("day3/./EX1");
    let summary = common::ingest(&case, &respelled);
    assert!(summary.contains("1 resumed"), "{summary}");
    assert_eq!(total_events(&case), total, "{summary}");
    assert_eq!(count(&case, "*"), total);
    // Both spellings in one run: resumed once, the other spelling the same file.
    let case = dir.path().join("case-both-spellings");
    kill_after_a_commit(&case, &late, "20000");
    let summary = ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&late),
        path_str(&respelled),
    ]);
    assert!(summary.contains("1 resumed"), "{summary}");
    assert_eq!(total_events(&case), total, "{summary}");
    assert_eq!(count(&case, "*"), total);
}

/// A Velociraptor collection names its client in the collection's folder (or zip) name, above
/// `uploads/auto/C%3A/…` or `uploads/ntfs/%5C%5C.%5CC%3A/…`; a KAPE target copies under the
/// drive's letter (`MBX-A/C/inetpub/…`). Each server is its own host: the drive folders made
/// every collection one host `C%3A`, judged compromised for them all.
#[test]
fn collections_by_velociraptor_and_kape_name_their_servers() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    let iis = "inetpub/logs/LogFiles/W3SVC1";
    let layouts = [
        (
            "MBX-A",
            format!(
                "Collection-mbx-a.corp.example.org-2021-03-06T10_00_00Z/uploads/auto/C%3A/{iis}"
            ),
        ),
        (
            "MBX-B",
            format!("Collection-MBX-B-2021-03-06T10_00_00Z/uploads/ntfs/%5C%5C.%5CC%3A/{iis}"),
        ),
        ("MBX-C", format!("MBX-C/C/{iis}")),
    ];
    for (server, layout) in &layouts {
        let to = evidence.join(layout);
        std::fs::create_dir_all(&to).unwrap();
        // MBX-A's log is the sample's compromised server's; the others its clean one's.
        let from = if *server == "MBX-A" { "MBX-A" } else { "MBX-B" };
        let log = common::sample_logs().join(format!("{from}/{iis}/u_ex210305.log"));
        let text = std::fs::read_to_string(log).unwrap();
        // Each server's own copy (identical content would be one file read once).
        std::fs::write(to.join("u_ex210305.log"), format!("{text}#{server}\n")).unwrap();
    }
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    let report = common::hunt_json(&case);
    let verdicts: Vec<(String, String)> = common::verdicts(&report);
    let hosts: Vec<&str> = verdicts.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hosts, ["MBX-A", "MBX-B", "MBX-C"], "{verdicts:?}");
    assert_eq!(verdicts[0].1, "compromised");
    assert!(
        verdicts[1..].iter().all(|(_, v)| v != "compromised"),
        "{verdicts:?}"
    );
}

/// A log collected with a few rows (under the 512 bytes whose hash finds copies) and again
/// grown is read once, in two ingests or in one; and a shorter, older copy given after the
/// longer one was read adds nothing (its rows were all read again before).
#[test]
fn copies_of_a_log_in_any_order_and_size_are_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    let (day1, day3) = (evidence.join("day1/EX1"), evidence.join("day3/EX1"));
    std::fs::create_dir_all(&day1).unwrap();
    std::fs::create_dir_all(&day3).unwrap();
    let header = IIS_HEADER;
    for (rows, bigger) in [(2, 3), (20, 30)] {
        let short = header.to_string() + &iis_lines(0, rows);
        let long = header.to_string() + &iis_lines(0, bigger);
        assert_eq!(short.len() < 512, rows == 2);
        std::fs::write(day1.join("u_ex210305.log"), &short).unwrap();
        std::fs::write(day3.join("u_ex210305.log"), &long).unwrap();
        let n = bigger;
        // Shorter first, in two ingests (the short one was read twice before, under 512 bytes).
        let case = dir.path().join(format!("two-{rows}"));
        common::ingest(&case, &day1);
        common::ingest(&case, &day3);
        assert_eq!(total_events(&case), n, "{rows}");
        // Both in one ingest.
        let case = dir.path().join(format!("one-{rows}"));
        common::ingest(&case, &evidence);
        assert_eq!(total_events(&case), n, "{rows}");
        assert_eq!(count(&case, "*"), n, "{rows}");
        // Longer first, then the older copy: nothing new, and nothing the next time either.
        let case = dir.path().join(format!("reversed-{rows}"));
        common::ingest(&case, &day3);
        for _ in 0..2 {
            let summary = common::ingest(&case, &day1);
            assert!(summary.contains(" 0 new events"), "{summary}");
        }
        assert_eq!(total_events(&case), n);
    }

    // The longer copy read from a zip, the older one given after it: nothing new.
    let zipped = dir.path().join("zipped");
    std::fs::create_dir_all(&zipped).unwrap();
    let zip_path = zipped.join("collection.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        zip.start_file(
            "EX1/u_ex210305.log",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(
            &mut zip,
            (IIS_HEADER.to_string() + &iis_lines(0, 30)).as_bytes(),
        )
        .unwrap();
        zip.finish().unwrap();
    }
    std::fs::write(
        day1.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 20),
    )
    .unwrap();
    let case = dir.path().join("from-zip");
    common::ingest(&case, &zip_path);
    let summary = common::ingest(&case, &day1);
    assert!(summary.contains(" 0 new events"), "{summary}");
    assert_eq!(total_events(&case), 30);

    // The log in the case, a grown copy and an older one in one ingest: the older one is kept
    // as a size the log had, so given alone later (the others gone) it adds nothing.
    let day0 = evidence.join("day0/EX1");
    std::fs::create_dir_all(&day0).unwrap();
    std::fs::write(
        day0.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 10),
    )
    .unwrap();
    std::fs::write(
        day3.join("u_ex210305.log"),
        IIS_HEADER.to_string() + &iis_lines(0, 30),
    )
    .unwrap();
    let case = dir.path().join("three");
    common::ingest(&case, &day1);
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&day3),
        path_str(&day0),
    ]);
    assert_eq!(total_events(&case), 30);
    std::fs::remove_dir_all(evidence.join("day1")).unwrap();
    std::fs::remove_dir_all(evidence.join("day3")).unwrap();
    let summary = common::ingest(&case, &day0);
    assert!(summary.contains(" 0 new events"), "{summary}");
    assert_eq!(total_events(&case), 30);
}

/// An export in US local time spanning the change to daylight saving time (14 March 2021, in
/// the middle of ProxyLogon): `--tz America/New_York` reads each date with its own offset, and
/// the summary and the manifest name the zone. A fixed `-05:00` was the only choice, an hour
/// wrong after the change.
#[test]
fn a_named_zone_follows_daylight_saving_time() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("EX1");
    std::fs::create_dir_all(&evidence).unwrap();
    let row = |time: &str, n: u32| {
        format!(
            "\"{time}\",\"1\",\"Information\",\"MSExchange CmdletLogs\",\"MSExchange Management\",\"EX1.example.net\",\"Cmdlet succeeded. Cmdlet Get-Mailbox, parameters -ResultSize \"\"{n}\"\".\""
        )
    };
    let text = [
        "\"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"".to_string(),
        row("3/5/2021 6:42:27 PM", 1),
        row("3/20/2021 6:42:27 PM", 2),
    ]
    .join("\r\n");
    std::fs::write(evidence.join("mgmt.csv"), text + "\r\n").unwrap();
    let case = dir.path().join("case");
    let summary = ok(&[
        "ingest",
        "--quiet",
        "--tz",
        "America/New_York",
        "--case",
        path_str(&case),
        path_str(dir.path()),
    ]);
    assert!(
        summary.contains("read as America/New_York (--tz)"),
        "{summary}"
    );
    let rows = common::exported(&case, "*");
    assert_eq!(rows[0]["ts"], "2021-03-05T23:42:27.000Z");
    assert_eq!(rows[1]["ts"], "2021-03-20T22:42:27.000Z");
    let out = run(&[
        "ingest",
        "--tz",
        "Mars/Olympus",
        "--case",
        path_str(&case),
        path_str(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Europe/Berlin"),
        "{out:?}"
    );
}
