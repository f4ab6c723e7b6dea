//! Parsers against the public sample logs in `../shared/corpus` (see its SOURCES.md): every
//! file in a supported format is ingested with every line accounted for, and where upstream
//! projects publish parsed values, ours match.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::Read;
use std::path::Path;

use serde_json::Value;
use trawl::case::Case;
use trawl::event::Event;
use trawl::formats::{self, FormatKind, Frame, Framer, Layout, ParseCtx};
use trawl::ingest::{IngestOptions, ingest};

/// Physical lines of a byte stream: line feeds, plus a final line without one.
fn count_lines(bytes: &[u8]) -> u64 {
    let feeds = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    feeds + u64::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'))
}

fn evidence_bytes(path: &str) -> Vec<u8> {
    if let Some((archive, member)) = path.split_once(".zip/") {
        let file = std::fs::File::open(format!("{archive}.zip")).expect("zip");
        let mut zip = zip::ZipArchive::new(file).expect("zip archive");
        let mut entry = zip.by_name(member).expect("member");
        let mut out = Vec::new();
        entry.read_to_end(&mut out).expect("read member");
        return out;
    }
    std::fs::read(path).expect("read evidence")
}

/// Files that are not logs (binary EVTX, expected outputs, docs) and must be reported as
/// unrecognised rather than guessed.
fn is_not_a_log(path: &str) -> bool {
    [
        ".snap",
        ".md",
        ".yaml",
        ".out",
        "SHA256SUMS",
        ".gitattributes",
        "-expected.json",
    ]
    .iter()
    .any(|s| path.ends_with(s))
}

#[test]
fn every_corpus_log_is_ingested_with_every_line_accounted_for() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut case = Case::open_or_create(&dir.path().join("case")).unwrap();
    let opts = IngestOptions {
        ..IngestOptions::default()
    };
    let report = ingest(
        &mut case,
        std::slice::from_ref(&corpus),
        &opts,
        &trawl::progress::ignore,
    )
    .unwrap();
    assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
    for u in &case.manifest.unrecognised {
        assert!(
            is_not_a_log(&u.path),
            "a log was not recognised: {} ({})",
            u.path,
            u.reason
        );
    }
    assert!(
        case.manifest.files.len() >= 55,
        "{} files",
        case.manifest.files.len()
    );
    for f in &case.manifest.files {
        assert!(
            f.complete && f.read_error.is_none(),
            "{}: {:?}",
            f.path,
            f.read_error
        );
        assert!(
            !is_not_a_log(&f.path),
            "{} is not a log but was ingested",
            f.path
        );
        let accounted =
            f.events + f.malformed + f.skipped + f.continuation_lines + f.duplicate_events;
        assert_eq!(
            accounted,
            f.lines + f.torn_records,
            "{}: lines not accounted for: {f:?}",
            f.path
        );
        // An event log's "lines" are its records (checked in `every_corpus_evtx_…`), and so
        // are a file of documents' (`the_same_record_…`).
        if matches!(
            f.format,
            FormatKind::Evtx | FormatKind::JsonDocuments | FormatKind::EventXml
        ) {
            continue;
        }
        let bytes = evidence_bytes(&f.path);
        let mut physical = count_lines(&bytes);
        // A UTF-16 file's line feeds are two bytes; none in the corpus, but stay honest.
        if bytes.starts_with(&[0xFF, 0xFE]) {
            physical = f.lines;
        }
        assert_eq!(f.lines, physical, "{}: line count", f.path);
        assert_eq!(
            f.malformed_examples.len() as u64,
            f.malformed.min(20),
            "{}",
            f.path
        );
        for m in &f.malformed_examples {
            assert!(!m.reason.is_empty() && m.line >= 1 && m.line <= f.lines);
        }
    }
    // Files whose every line is known to be good parse without a single malformed line.
    for clean in [
        "Tunna_rdp_tunnel_IIS.log",
        "logfile_w3c_big.0",
        "logfile_shop_access_log.0",
        "iis10_edge_cases.log",
        "httperr_restart.log",
    ] {
        let f = case
            .manifest
            .files
            .iter()
            .find(|f| f.path.ends_with(clean))
            .expect(clean);
        assert_eq!(f.malformed, 0, "{clean}: {:?}", f.malformed_examples);
    }
    // lnav's deliberately broken lines are caught, with their line numbers.
    let bad = case
        .manifest
        .files
        .iter()
        .find(|f| f.path.ends_with("logfile_bad_access_log.0"))
        .unwrap();
    assert_eq!((bad.events, bad.malformed), (2, 1));
    assert_eq!(bad.malformed_examples[0].line, 2);
    let mismatch = case
        .manifest
        .files
        .iter()
        .find(|f| f.path.ends_with("logfile_w3c.5"))
        .unwrap();
    assert_eq!(mismatch.malformed, 1);
    assert!(
        mismatch.malformed_examples[0]
            .reason
            .contains("values for 6 #Fields columns")
    );
}

/// Frames and parses a whole file with the library, returning the events' owned copies.
fn parse_file(path: &Path, expect: FormatKind) -> Vec<Event<'static>> {
    let ctx = ParseCtx::default();
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    assert_eq!(
        formats::sniff(&text, &ctx),
        Ok(expect),
        "{}",
        path.display()
    );
    let mut framer = Framer::new(expect);
    let mut layout: Option<Layout> = framer.initial_layout();
    let mut events = Vec::new();
    for line in text.lines() {
        let frame = match framer.feed(line) {
            Frame::DataIn(l) => {
                layout = Some(l);
                Frame::Data
            }
            other => other,
        };
        match frame {
            Frame::Layout(l) => layout = Some(l),
            Frame::Data | Frame::DataIn(_) => {
                let l = layout.as_ref().expect("layout before data");
                events.push(formats::parse(l, line, &ctx).expect("parses").into_owned());
            }
            Frame::Skip | Frame::Malformed(_) => {}
        }
    }
    events
}

fn fmt_ts(ev: &Event<'_>) -> String {
    trawl::formats::time::format_ms(ev.ts_ms)
}

#[test]
fn velociraptor_iis_rows_match_its_golden_output() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let golden = std::fs::read_to_string(corpus.join("velociraptor/csv.out.yaml")).unwrap();
    let query = "Query: SELECT * FROM parse_csv( columns=Columns, separator=\" \", filename=\"MyPipe\", accessor=\"pipe\")\nOutput: ";
    let start = golden.find(query).expect("iis section") + query.len();
    let end = start + golden[start..].find("\n]\n").expect("end of array") + 2;
    let expected: Vec<Value> = serde_json::from_str(&golden[start..end]).unwrap();
    let events = parse_file(&corpus.join("velociraptor/iis.log"), FormatKind::W3c);
    assert_eq!(events.len(), expected.len());
    for (ev, exp) in events.iter().zip(&expected) {
        let s = |k: &str| exp[k].as_str().unwrap().to_string();
        let dash = |v: String| if v == "-" { None } else { Some(v) };
        assert_eq!(fmt_ts(ev), format!("{}.000Z", s("date_time")));
        assert_eq!(ev.method.as_deref(), Some(s("cs-method").as_str()));
        assert_eq!(ev.path.as_deref(), Some(s("cs-uri-stem").as_str()));
        assert_eq!(
            ev.query.as_deref().map(str::to_string),
            dash(s("cs-uri-query"))
        );
        assert_eq!(
            ev.user.as_deref().map(str::to_string),
            dash(s("cs-username"))
        );
        assert_eq!(ev.ip.map(|i| i.to_string()), Some(s("c-ip")));
        // IIS writes spaces as '+': the canonical user agent has them decoded.
        assert_eq!(
            ev.ua.as_deref().map(str::to_string),
            Some(s("cs(User-Agent)").replace('+', " "))
        );
        assert_eq!(ev.status, exp["sc-status"].as_u64());
        assert_eq!(ev.duration_ms, exp["time-taken"].as_u64());
        assert_eq!(
            ev.attr("s-port").map(str::to_string),
            Some(exp["s-port"].to_string())
        );
        assert_eq!(ev.attr("s-ip").map(str::to_string), Some(s("s-ip")));
    }
}

#[test]
fn headerless_httpproxy_row_matches_elastic() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = corpus.join("elastic-integrations/exchange-httpproxy");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("test-httpproxy.log-expected.json")).unwrap(),
    )
    .unwrap();
    let exp = &expected["expected"][0]["microsoft"]["exchange"];
    let events = parse_file(
        &dir.join("test-httpproxy.log"),
        FormatKind::HttpproxyHeaderless,
    );
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!(fmt_ts(ev), exp["datetime"].as_str().unwrap());
    assert_eq!(
        ev.ip.map(|i| i.to_string()).as_deref(),
        exp["clientipaddress"][0].as_str()
    );
    assert_eq!(ev.host.as_deref(), exp["serverhostname"].as_str());
    assert_eq!(ev.path.as_deref(), exp["urlstem"].as_str());
    // Without the `?` Elastic keeps, as IIS writes the same request's query.
    assert_eq!(
        ev.query.as_deref(),
        exp["urlquery"].as_str().map(|q| q.trim_start_matches('?'))
    );
    assert!(exp["urlquery"].as_str().unwrap().starts_with('?'));
    assert_eq!(ev.user.as_deref(), exp["authenticateduser"].as_str());
    assert_eq!(ev.ua.as_deref(), exp["useragent"].as_str());
    assert_eq!(ev.method.as_deref(), exp["method"].as_str());
    assert_eq!(ev.status, exp["httpstatus"].as_u64());
    assert_eq!(ev.bytes, exp["responsebytes"].as_u64());
    assert_eq!(ev.duration_ms, exp["totalrequesttime"].as_u64());
    assert_eq!(
        ev.request_id.map(trawl::event::format_guid).as_deref(),
        exp["requestid"].as_str()
    );
    // Every other column Elastic reports is an attribute with the same value.
    let canonical = [
        "datetime",
        "clientipaddress",
        "serverhostname",
        "urlstem",
        "urlquery",
        "authenticateduser",
        "useragent",
        "method",
        "httpstatus",
        "responsebytes",
        "totalrequesttime",
        "requestid",
        "logtype",
    ];
    for (key, value) in exp.as_object().unwrap() {
        if canonical.contains(&key.as_str()) {
            continue;
        }
        let want = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(ev.attr(key), Some(want.as_str()), "column {key}");
    }
}

#[test]
fn lnav_advanced_logging_rows_match_its_sql_output() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = corpus.join("lnav/w3c");
    let headers: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("test_sql.sh_1f892b85dc9008c7b3bab7fdf8aa372a6d5ae22c.out"),
        )
        .unwrap(),
    )
    .unwrap();
    let events = parse_file(&dir.join("logfile_w3c.3"), FormatKind::W3c);
    assert_eq!(events.len(), 3);
    for (ev, exp) in events.iter().zip(headers.as_array().unwrap()) {
        let h = &exp["cs_headers"];
        assert_eq!(ev.ua.as_deref(), h["User-Agent"].as_str());
        assert_eq!(ev.referer.as_deref(), h["Referer"].as_str());
        assert_eq!(ev.attr("cs(Host)"), h["Host"].as_str());
    }
    let substatus: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("test_sql.sh_61471583c5e2f8ede3a8adefce682c27bf3924c8.out"),
        )
        .unwrap(),
    )
    .unwrap();
    for (ev, exp) in events.iter().zip(substatus.as_array().unwrap()) {
        match exp["sc_substatus"].as_u64() {
            Some(n) => assert_eq!(ev.attr("sc-substatus"), Some(n.to_string().as_str())),
            // lnav reads the garbage value as null; we keep it as text, never as a number.
            None => assert!(
                ev.attr("sc-substatus")
                    .is_some_and(|v| v.parse::<u64>().is_err())
            ),
        }
    }
}

#[test]
fn velociraptor_access_line_matches_grok() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let text = std::fs::read_to_string(corpus.join("velociraptor/access.log")).unwrap();
    let first = text.lines().next().unwrap();
    let ev = trawl::formats::access::parse(first).unwrap();
    assert_eq!(
        ev.ip.map(|i| i.to_string()).as_deref(),
        Some("170.238.36.21")
    );
    assert_eq!(fmt_ts(&ev), "2019-12-28T14:09:47.000Z");
    assert_eq!(ev.method.as_deref(), Some("GET"));
    assert_eq!(ev.path.as_deref(), Some("/"));
    assert_eq!(ev.status, Some(401));
    assert_eq!(ev.bytes, Some(691));
    assert_eq!(
        ev.ua.as_deref(),
        Some("masscan/1.0 (https://github.com/robertdavidgraham/masscan)")
    );
}

#[test]
fn qazeer_exchange_logs_map_their_columns() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = corpus.join("qazeer-artefacts-help/exchange");
    for protocol in [
        "Autodiscover",
        "Eas",
        "Ecp",
        "Ews",
        "Mapi",
        "Owa",
        "PowerShell",
        "RpcHttp",
    ] {
        let file = std::fs::read_dir(dir.join(protocol))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let events = parse_file(&file, FormatKind::ExchangeCsv);
        assert!(!events.is_empty(), "{protocol}");
        for ev in &events {
            assert!(
                ev.host.is_some() && ev.path.is_some() && ev.status.is_some(),
                "{protocol}: {ev:?}"
            );
            assert_eq!(ev.attr("Protocol"), Some(protocol), "{protocol}");
        }
    }
    let ecp = parse_file(
        &dir.join("ECPServer20230111-1.LOG"),
        FormatKind::ExchangeCsv,
    );
    assert_eq!(ecp[0].attr("CMD"), Some("Get-InboxRule"));
    assert_eq!(
        ecp[0].path.as_deref(),
        Some("/ecp/RulesEditor/InboxRules.svc/GetList")
    );
}

/// Every EVTX file of the corpus yields the records SOURCES.md counts (read with pyevtx-rs);
/// the two damaged samples yield every readable record with the rest counted as malformed,
/// with their chunk and why (pyevtx-rs stopped at the first error there: the counts are the
/// `evtx` crate's, whose own tests pin them).
#[test]
fn every_corpus_evtx_ingests_with_its_record_count() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let sources = std::fs::read_to_string(corpus.join("SOURCES.md")).unwrap();
    // (file name, records) from the table rows: "| `name.evtx` | … N records read by pyevtx-rs".
    let mut expected = std::collections::BTreeMap::new();
    for line in sources
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains(".evtx`"))
    {
        let name = line[3..].split('`').next().unwrap().to_string();
        if let Some(i) = line.find(" records read by pyevtx-rs") {
            let n: u64 = line[..i].rsplit(' ').next().unwrap().parse().unwrap();
            expected.insert(name, n);
        }
    }
    expected.insert("sample_with_a_bad_chunk_magic.evtx".into(), 304);
    expected.insert("sample-with-zero-data-size-event.evtx".into(), 450);
    assert!(expected.len() >= 40, "{expected:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut case = Case::open_or_create(&dir.path().join("case")).unwrap();
    ingest(
        &mut case,
        std::slice::from_ref(&corpus),
        &IngestOptions::default(),
        &trawl::progress::ignore,
    )
    .unwrap();
    let evtx: Vec<_> = case
        .manifest
        .files
        .iter()
        .filter(|f| f.format == FormatKind::Evtx)
        .collect();
    // Identical files in the corpus are one piece of evidence, listed under every path.
    let names: std::collections::BTreeSet<&str> = evtx
        .iter()
        .flat_map(|f| f.paths())
        .map(|p| p.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names.len(), expected.len(), "{names:?}");
    for (f, name) in evtx
        .iter()
        .flat_map(|f| f.paths().map(move |p| (f, p.rsplit('/').next().unwrap())))
    {
        // A record another file of the corpus holds too (a damaged copy of a log) is counted
        // once, in the file read first.
        let records = f.events + f.malformed + f.duplicate_events;
        assert_eq!(
            records, expected[name],
            "{name}: {} events, {} malformed, {} copies",
            f.events, f.malformed, f.duplicate_events
        );
        assert_eq!(records, f.lines, "{name}");
        let damaged = name.starts_with("sample_with_a_bad") || name.starts_with("sample-with-zero");
        if damaged {
            let read = f.events + f.duplicate_events;
            assert!((300..=449).contains(&read), "{name}: {read}");
            assert!(
                f.malformed_examples
                    .iter()
                    .any(|m| m.reason.contains("chunk")),
                "{name}: {:?}",
                f.malformed_examples
            );
        } else if name != "Microsoft-Windows-HelloForBusiness%4Operational.evtx" {
            // (that one holds an empty record dated 1601, which the index cannot hold)
            assert_eq!(f.malformed, 0, "{name}: {:?}", f.malformed_examples);
        }
    }
}

/// An event log collected twice: an earlier copy (its first chunks, as a collection taken
/// before the log filled them) and a later one whose header differs (Windows rewrites it as the
/// log is written). Every record is one event, cited in the copy read first, whether the copies
/// come in one ingest or two; the summary and `stats` count the copies' records.
#[test]
fn an_event_log_collected_twice_is_counted_once() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let log = std::fs::read(corpus.join("omerbenamram-evtx/system.evtx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (earlier, later) = (dir.path().join("day1/EX1"), dir.path().join("day3/EX1"));
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::create_dir_all(&later).unwrap();
    // The file header (4 KiB), then the first three 64 KiB chunks.
    std::fs::write(earlier.join("System.evtx"), &log[..4096 + 3 * 65536]).unwrap();
    let mut changed = log.clone();
    changed[120] ^= 1;
    std::fs::write(later.join("System.evtx"), &changed).unwrap();
    let alone = dir.path().join("alone");
    common::ingest(&alone, &later);
    let records = common::count(&alone, "*");
    assert!(records > 1000, "{records}");

    let together = dir.path().join("together");
    let summary = common::ingest(&together, dir.path());
    assert_eq!(common::count(&together, "*"), records, "{summary}");
    let stats: Value = serde_json::from_str(&common::ok(&[
        "stats",
        "--case",
        common::path_str(&together),
        "--json",
    ]))
    .unwrap();
    let copies: u64 = stats["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["duplicate_events"].as_u64().unwrap())
        .sum();
    let first_chunks = dir.path().join("first-chunks");
    common::ingest(&first_chunks, &earlier);
    let overlap = common::count(&first_chunks, "*");
    assert!(overlap > 100 && overlap < records, "{overlap}");
    assert_eq!(copies, overlap, "{stats}");
    assert!(
        summary.contains(&format!("{overlap} Windows events already in the case")),
        "{summary}"
    );
    assert_eq!(stats["events"].as_u64(), Some(records));

    // In two ingests, either order.
    for (first, second) in [(&earlier, &later), (&later, &earlier)] {
        let case = dir.path().join(format!("two-{}", first == &earlier));
        common::ingest(&case, first);
        let summary = common::ingest(&case, second);
        assert_eq!(common::count(&case, "*"), records, "{summary}");
    }
}

/// The real OTRF ProxyLogon capture (Windows events as JSON lines): its host is compromised,
/// the web shell Sysmon saw written is found with the write, and both `w3wp.exe` → `cmd.exe`
/// events (Sysmon and Security) are findings.
#[test]
fn otrf_proxylogon_capture_is_a_compromise_with_its_web_shell() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let summary = common::ingest(&case, &corpus.join("otrf-security-datasets"));
    // The capture's TimeCreated is local time (UTC-5) labelled Z: Sysmon's UtcTime says so.
    assert!(
        summary.contains("4679 of 4679 events are 5:00 before their own UtcTime")
            && summary.contains("(UTC-05:00)"),
        "{summary}"
    );
    let stats = common::ok(&["stats", "--case", common::path_str(&case)]);
    assert!(stats.contains("clock: 4679 of 4679"), "{stats}");
    let report = common::hunt_json(&case);
    // The skew found at ingest stays with the answers read from these times.
    assert!(
        report["time_warnings"][0]["warning"]
            .as_str()
            .unwrap()
            .contains("local time (UTC-05:00) written as UTC"),
        "{report:#}"
    );
    let text = common::ok(&["hunt", "--case", common::path_str(&case)]);
    assert!(text.starts_with("TIME WARNING "), "{text}");
    let verdict = &report["verdicts"][0];
    assert_eq!(verdict["host"], "MXS01");
    assert_eq!(verdict["verdict"], "compromised");
    let shell = &report["webshells"][0];
    assert_eq!(shell["path"], "/owa/auth/ohyeah.aspx");
    assert_eq!(shell["host"], "MXS01");
    assert!(
        shell["written_by"]["summary"]
            .as_str()
            .unwrap()
            .contains("ohyeah.aspx")
    );
    // No web log of MXS01 in the capture: the shell's use is unknown, and what the worker ran
    // after the write is listed: ASP.NET compiling the page (cvtres.exe, its first request),
    // then `cmd /c whoami`, each seen by Security and Sysmon.
    assert_eq!(shell["host_web_logged"], false);
    assert_eq!(shell["worker_process_events"], 6);
    let ran: Vec<u64> = shell["worker_processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(ran, [4952, 3977, 4966, 4050, 4967, 4062]);
    let spawned = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "proc-exchange-worker-spawns-shell")
        .expect("w3wp spawning cmd");
    let lines: Vec<u64> = spawned["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    // Sysmon event 1 (lines 4050, 4062) and Security 4688 (4966, 4967): `cmd /c whoami`.
    for line in [4050, 4062, 4966, 4967] {
        assert!(lines.contains(&line), "{line} not in {lines:?}");
    }
    let cmd = common::ok(&[
        "search",
        "--case",
        common::path_str(&case),
        "--count",
        "CommandLine:\"cmd /c whoami\"",
    ]);
    assert_eq!(cmd.trim(), "4");
    // A flat export's items stay the event's own, as an EVTX record's: every logon keeps its
    // `IpAddress` (19 of them an address, also `ip`), every Sysmon process its `User`, and the
    // cmdlet in MSExchange Management's message is read back into `Cmdlet` and `Parameters`.
    for (query, expected) in [
        (r#"EventID:4624 AND "IpAddress":*"#, 21),
        ("EventID:4624 AND ip:*", 19),
        (r#"EventID:1 AND Channel:*Sysmon* AND "User":*"#, 13),
        ("Cmdlet:Set-OabVirtualDirectory", 1),
        ("Cmdlet:*OabVirtualDirectory AND Parameters:*Page_Load*", 1),
        ("Cmdlet:*", 3),
    ] {
        assert_eq!(common::count(&case, query), expected, "{query}");
    }
    // JSON lines from an event log are named by channel, and stats lists them per host.
    let stats: Value = serde_json::from_str(&common::ok(&[
        "stats",
        "--case",
        common::path_str(&case),
        "--json",
    ]))
    .unwrap();
    let logs: Vec<(&str, u64)> = stats["hosts"][0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["value"].as_str().unwrap(), v["count"].as_u64().unwrap()))
        .collect();
    for expected in [
        ("security", 5227),
        ("sysmon", 4679),
        ("application", 39),
        ("system", 10),
        ("msexchange-management", 3),
    ] {
        assert!(logs.contains(&expected), "{expected:?} in {logs:?}");
    }
}

/// A case of one corpus file ingested (the folder lives as long as the first value), or None
/// with a printed reason when the corpus is absent.
fn corpus_case(relative: &str) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let corpus = common::corpus()?;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &corpus.join(relative));
    Some((dir, case))
}

/// An MSExchange Management EVTX record: its unnamed data items are the cmdlet and its
/// parameters, searchable by name and by parameter.
#[test]
fn exchange_cmdlets_in_evtx_are_searchable() {
    let Some((_dir, case)) = corpus_case("omerbenamram-evtx/MSExchange_Management_wec.evtx") else {
        return;
    };
    let c = common::path_str(&case);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("Cmdlet:Set-Mailbox"), 1);
    assert_eq!(count("Parameters:*ForwardingSmtpAddress*"), 1);
    assert_eq!(count("Message:*smtp:test2@example.com*"), 1);
    assert_eq!(count("source:msexchange-management AND EventID:1"), 1);
    let line = common::ok(&["search", "--case", c, "Cmdlet:Set-Mailbox"]);
    assert!(
        line.contains("MSExchange_Management_wec.evtx:3229"),
        "{line}"
    );
    assert!(line.contains("Set-Mailbox -Identity"), "{line}");
}

/// An event's identity is its System values: Security 1108 records (the log service failed on
/// an event) name the failed event's `EventID` in their UserData, which once made
/// `EventID:4616` count one event too many. The counts are the `evtx` crate's (Python
/// `evtx`, records whose System EventID is 4616, 4634, 1108).
#[test]
fn an_events_id_is_its_own_not_one_its_data_names() {
    let Some((_dir, case)) = corpus_case("omerbenamram-evtx/Security_with_size_t.evtx") else {
        return;
    };
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("EventID:4616"), 9);
    assert_eq!(count("EventID:4634"), 17);
    assert_eq!(count("EventID:1108"), 3);
    assert_eq!(count("EventID:1108 AND UserData.EventID:4616"), 1);
}

/// SigmaHQ's regression samples: one record each, which its rule must match exactly once. The
/// rules are trawl's own copies of their logic (tests/fixtures/sigma), loaded as Sigma.
#[test]
fn sigma_regression_samples_match_their_rules_once() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let rules = common::repo().join("tests/fixtures/sigma");
    let ids = [
        "e3c6d245-7b8f-4e2a-c17f-a9d0e5b38f62",
        "7595ba94-cf3b-4471-aa03-4f6baa9e5fad",
        "6385697e-9f1b-40bd-8817-f4a91f40508e",
    ];
    for id in ids {
        let dir = tempfile::tempdir().unwrap();
        let case = dir.path().join("case");
        common::ingest(&case, &corpus.join(format!("sigma-regression/{id}.evtx")));
        let out = common::run(&[
            "hunt",
            "--case",
            common::path_str(&case),
            "--format",
            "json",
            "--sigma",
            common::path_str(&rules),
        ]);
        assert!(out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("9d3a4b0c-1e2f-4a5b-8c6d-7e8f9a0b1c2d") && stderr.contains("timeframe"),
            "the rule trawl cannot run is named with why: {stderr}"
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let hits = |rule: &str| -> u64 {
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["rule"] == rule)
                .map_or(0, |f| f["count"].as_u64().unwrap())
        };
        for other in ids {
            assert_eq!(
                hits(other),
                u64::from(other == id),
                "{other} on {id}'s sample"
            );
        }
        // The modifier-built twin of the encoded-PowerShell rule agrees with it.
        assert_eq!(
            hits("0b6f3b1e-5a3c-4d55-9c1e-7d2f1a9e4c10"),
            u64::from(id.starts_with("6385697e")),
            "base64offset|wide on {id}"
        );
    }
}

/// One record, four ways a responder receives it: the EVTX, `evtx_dump`'s pretty-printed JSON
/// (SigmaHQ's ground truth beside each sample), `evtx_dump -o xml` (a banner, then the XML), and
/// Event Viewer's "Save As… XML" (UTF-16, every event on one line inside `<Events>`). Each gives
/// the same fields, cited by its own file and line, and the sample's rule matches each.
#[test]
fn the_same_record_as_evtx_pretty_json_and_xml_text_has_the_same_fields() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let rules = common::repo().join("tests/fixtures/sigma");
    for id in [
        "e3c6d245-7b8f-4e2a-c17f-a9d0e5b38f62",
        "7595ba94-cf3b-4471-aa03-4f6baa9e5fad",
        "6385697e-9f1b-40bd-8817-f4a91f40508e",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        for ext in ["evtx", "json"] {
            std::fs::copy(
                corpus.join(format!("sigma-regression/{id}.{ext}")),
                logs.join(format!("{id}.{ext}")),
            )
            .unwrap();
        }
        // The record's XML as the crate renders it (what `evtx_dump -o xml` prints).
        let ingest_alone = |name: &str| {
            let case = dir.path().join(format!("alone-{name}"));
            let out = common::run(&[
                "ingest",
                "--case",
                common::path_str(&case),
                "--sigma",
                common::path_str(&rules),
                common::path_str(&logs.join(name)),
            ]);
            assert!(out.status.success(), "{out:?}");
            common::exported(&case, "*")
        };
        let rows = ingest_alone(&format!("{id}.evtx"));
        let record_id = rows[0]["line"].as_u64().unwrap();
        let xml = rows[0]["raw"].as_str().unwrap().to_string();
        std::fs::write(
            logs.join("dumped.xml"),
            format!("Record {record_id}\n{xml}\nRecord 99999\n"),
        )
        .unwrap();
        let event = xml.split_once("?>").map_or(&xml[..], |(_, e)| e).trim();
        let saved: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(
                format!("<?xml version=\"1.0\" encoding=\"UTF-16\"?><Events>{event}</Events>")
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        std::fs::write(logs.join("saved.xml"), saved).unwrap();

        let case = dir.path().join("case");
        let out = common::run(&[
            "ingest",
            "--case",
            common::path_str(&case),
            "--sigma",
            common::path_str(&rules),
            common::path_str(&logs),
        ]);
        assert!(out.status.success(), "{out:?}");
        // Together they are one event, read four times.
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(
            summary.contains("1 new event, 0 malformed")
                && summary.contains("json 1")
                && summary.contains("event-xml 2")
                && summary.contains("3 Windows events already in the case"),
            "{summary}"
        );
        assert_eq!(common::count(&case, "*"), 1);
        let evtx = &rows[0];
        // XML reads a line end as one line feed (the crate writes GUIDs bare and in upper case
        // in JSON: trawl writes them as in the XML).
        let fields = |row: &Value| -> Vec<(String, String)> {
            let mut out: Vec<(String, String)> = row["fields"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().replace("\r\n", "\n")))
                .collect();
            out.sort();
            out
        };
        assert_eq!(evtx["line"].as_u64(), Some(record_id));
        for (name, line) in [
            (format!("{id}.json"), 1),
            ("dumped.xml".into(), 3),
            ("saved.xml".into(), 1),
        ] {
            let rows = ingest_alone(&name);
            let row = &rows[0];
            assert!(row["file"].as_str().unwrap().ends_with(&name), "{row}");
            assert_eq!(fields(row), fields(evtx), "{name} against the EVTX");
            assert_eq!(row["ts"], evtx["ts"], "{name}");
            assert_eq!(row["host"], evtx["host"], "{name}");
            assert_eq!(row["source"], evtx["source"], "{name}");
            assert_eq!(
                row["line"].as_u64(),
                Some(line),
                "{name} is cited by its line"
            );
            assert_eq!(row["rules"], evtx["rules"], "{name}");
        }
        assert!(
            evtx["rules"].as_array().unwrap().iter().any(|r| r == id),
            "{id}: {:?}",
            evtx["rules"]
        );
    }
}

/// MSExchange Management's items are unnamed: in `evtx_dump`'s JSON they are one array
/// (`"Data": {"#text": [...]}`). They are read as from the EVTX: `Data1`…, `Cmdlet`,
/// `Parameters` and the message, so the management rules see the JSON export too.
#[test]
fn an_exchange_cmdlet_in_evtx_dumps_json_is_read_as_from_the_evtx() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let snap = std::fs::read_to_string(corpus.join(
        "omerbenamram-evtx/snapshots/test_record_samples__event_json_with_multiple_data_elements-2.snap",
    ))
    .unwrap();
    // The snapshot's own header, then the crate's JSON of record 3229.
    let json = snap.splitn(3, "---\n").nth(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("mgmt.json"), format!("Record 3229\n{json}")).unwrap();
    std::fs::copy(
        corpus.join("omerbenamram-evtx/MSExchange_Management_wec.evtx"),
        logs.join("mgmt.evtx"),
    )
    .unwrap();
    // Each alone, then together: one event (the same record, read twice).
    let alone = |name: &str| {
        let case = dir.path().join(format!("case-{name}"));
        common::ingest(&case, &logs.join(name));
        let mut rows = common::exported(&case, "EventRecordID:3229");
        assert_eq!(rows.len(), 1, "{rows:?}");
        (case, rows.remove(0))
    };
    let (case, json) = alone("mgmt.json");
    let (_, evtx) = alone("mgmt.evtx");
    let together = dir.path().join("together");
    let summary = common::ingest(&together, &logs);
    assert_eq!(
        common::exported(&together, "EventRecordID:3229").len(),
        1,
        "{summary}"
    );
    assert_eq!(json["line"], 2);
    assert_eq!(json["fields"], evtx["fields"]);
    assert_eq!(json["fields"]["Cmdlet"], "Set-Mailbox");
    assert!(
        json["fields"]["Parameters"]
            .as_str()
            .unwrap()
            .contains("-ForwardingSmtpAddress \"smtp:test2@example.com\""),
        "{json}"
    );
    assert_eq!(
        common::count(
            &case,
            "Cmdlet:Set-Mailbox AND Parameters:*ForwardingSmtpAddress*"
        ),
        1
    );
}

/// The item names given to a `Get-WinEvent` export's unnamed values (`eventschema`) are those of
/// the same events in every EVTX file of the corpus, in the same order: each record of a known
/// event has a template of its number of items, and that template is its names.
#[test]
fn known_event_templates_name_the_corpus_records_items() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut stack = vec![corpus.clone()];
    let mut n = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                n += 1;
                std::fs::copy(&path, logs.join(format!("{n}.evtx"))).unwrap();
            }
        }
    }
    let case = dir.path().join("case");
    common::ingest(&case, &logs);
    let provider = regex::Regex::new(r#"<Provider Name="([^"]+)""#).unwrap();
    let event_id = regex::Regex::new(r"<EventID[^>]*>(\d+)</EventID>").unwrap();
    let data = regex::Regex::new(r#"<Data Name="([^"]+)""#).unwrap();
    let user_data = regex::Regex::new(r"(?s)<UserData>\s*<[^>]+>(.*)</UserData>").unwrap();
    let child = regex::Regex::new(r"(?s)<([A-Za-z]+)>.*?</([A-Za-z]+)>|<([A-Za-z]+)\s*/>").unwrap();
    let mut checked = std::collections::BTreeMap::<(String, u64), u64>::new();
    for row in common::exported(&case, "source:*") {
        let raw = row["raw"].as_str().unwrap();
        let (Some(p), Some(id)) = (provider.captures(raw), event_id.captures(raw)) else {
            continue;
        };
        let (p, id) = (p[1].to_string(), id[1].parse::<u64>().unwrap());
        if !trawl::formats::eventschema::knows(&p, id) {
            continue;
        }
        let names: Vec<String> = if raw.contains("<EventData") {
            data.captures_iter(raw).map(|c| c[1].to_string()).collect()
        } else {
            let inner = user_data
                .captures(raw)
                .map(|c| c[1].to_string())
                .unwrap_or_default();
            child
                .captures_iter(&inner)
                .filter_map(|c| c.get(1).or(c.get(3)).map(|m| m.as_str().to_string()))
                .collect()
        };
        let known = trawl::formats::eventschema::item_names(&p, id, names.len());
        // The corpus's 4648 records name two items `LogonGuid` (the template's own quirk);
        // the second is `TargetLogonGuid` in Microsoft's documentation and the other records.
        let names: Vec<String> =
            if id == 4648 && names.iter().filter(|n| *n == "LogonGuid").count() == 2 {
                let mut names = names;
                names[7] = "TargetLogonGuid".into();
                names
            } else {
                names
            };
        assert_eq!(
            known.map(|k| k.to_vec()),
            Some(names.iter().map(String::as_str).collect::<Vec<_>>()),
            "{p} {id} in {}:{}",
            row["file"],
            row["line"]
        );
        *checked.entry((p, id)).or_default() += 1;
    }
    // The corpus holds each of these; their templates are checked above.
    for (p, id) in [
        ("Microsoft-Windows-Security-Auditing", 4624),
        ("Microsoft-Windows-Security-Auditing", 4625),
        ("Microsoft-Windows-Security-Auditing", 4732),
        ("Microsoft-Windows-Sysmon", 1),
        ("Microsoft-Windows-Sysmon", 11),
        ("Service Control Manager", 7045),
        ("Microsoft-Windows-PowerShell", 4104),
        ("Microsoft-Windows-Eventlog", 1102),
        ("Microsoft-Windows-Eventlog", 104),
    ] {
        assert!(
            checked.contains_key(&(p.to_string(), id)),
            "{p} {id}: {checked:?}"
        );
    }
}
