//! `trawl hunt` on the sample case: the whole intrusion, none of the decoys; custom rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{finding_count, hunt_json, json_lines, ok, path_str, run};
use serde_json::Value;

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

fn strings(v: &Value, key: &str) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hunt_finds_the_whole_intrusion_and_no_decoy() {
    let report = hunt_json(sample_case());
    // One verdict per host, all four tiers (sample-logs/README.md, "Verdicts").
    let verdicts: Vec<(String, String)> = common::verdicts(&report);
    assert_eq!(
        verdicts,
        [
            ("MBX-A", "compromised"),
            ("MBX-C", "attempted"),
            ("MBX-B", "probed"),
            ("MBX-D", "clean")
        ]
        .map(|(h, v)| (h.to_string(), v.to_string()))
    );
    for v in report["verdicts"].as_array().unwrap() {
        assert!(!v["reasons"].as_array().unwrap().is_empty(), "{v}");
        if v["verdict"] != "clean" {
            let e = &v["evidence"][0];
            assert!(
                e["file"].as_str().is_some() && e["line"].as_u64().is_some(),
                "{v}"
            );
        }
    }
    // The attackers, the one behind the branch's balancers named from X-Forwarded-For, and
    // nothing else: not the balancers, the forged 127.0.0.1, the scanners or the decoys.
    assert_eq!(
        strings(&report["suspects"], "client"),
        BTreeSet::from([
            "198.51.100.144".to_string(),
            "203.0.113.77".to_string(),
            "198.51.100.23".to_string()
        ])
    );
    for s in report["suspects"].as_array().unwrap() {
        assert!(!s["reasons"].as_array().unwrap().is_empty());
        let role = if s["client"] == "198.51.100.23" {
            "attempt"
        } else {
            "compromise"
        };
        assert_eq!(s["role"], role, "{s}");
    }
    // The branch's balancers are recognised as proxies.
    let proxies: BTreeSet<String> = report["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "proxy")
        .map(|p| p["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        proxies,
        BTreeSet::from(["10.20.0.5".to_string(), "10.20.0.6".to_string()])
    );
    // Both web shells, with their clients, each request counted once across IIS and
    // HttpProxy, and what wrote them (the OAB download names its file; the reset does not).
    let shells = report["webshells"].as_array().unwrap();
    assert_eq!(
        strings(&report["webshells"], "path"),
        BTreeSet::from([
            "/aspnet_client/discover.aspx".to_string(),
            "/owa/auth/RedirSuiteServerProxy.aspx".to_string()
        ])
    );
    for w in shells {
        assert_eq!(w["host"], "MBX-A");
        assert_eq!(w["host_web_logged"], true);
        assert_eq!(
            strings(&w["clients"], "client"),
            BTreeSet::from(["198.51.100.144".to_string(), "203.0.113.77".to_string()])
        );
    }
    let shell = |path: &str| shells.iter().find(|w| w["path"] == path).unwrap();
    let redir = shell("/owa/auth/RedirSuiteServerProxy.aspx");
    assert!(
        redir["written_by"]["file"]
            .as_str()
            .unwrap()
            .contains("OABGeneratorLog")
    );
    assert_eq!(
        redir["requests"], 14,
        "IIS and HttpProxy lines of one request are one"
    );
    assert_eq!(redir["posts"], 13);
    let discover = shell("/aspnet_client/discover.aspx");
    assert!(discover["written_by"].is_null(), "{discover}");
    assert!(
        discover["likely_write"]["file"]
            .as_str()
            .unwrap()
            .contains("HttpProxy/Ecp"),
        "{discover}"
    );
    assert!(
        discover["written_by_note"]
            .as_str()
            .unwrap()
            .contains("reset")
    );
    assert_eq!(discover["requests"], 28);
    // The window: from the first probe of the exploiting address to the last shell request.
    let windows = report["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "only MBX-A was compromised: {windows:?}");
    assert_eq!(windows[0]["host"], "MBX-A");
    assert_eq!(windows[0]["first"], "2021-03-05T17:41:58.000Z");
    assert!(
        windows[0]["last"]
            .as_str()
            .unwrap()
            .starts_with("2021-03-06T03:58:11")
    );
    // Test-ProxyLogon's verdicts on the same rows (sample-logs/README.md, answer key).
    let count = |rule: &str| finding_count(&report, rule);
    assert_eq!(count("tpl-cve-2021-26855"), 6);
    assert_eq!(count("tpl-cve-2021-26858"), 1);
    assert_eq!(count("tpl-cve-2021-27065-resetvdir"), 1);
    assert_eq!(count("tpl-cve-2021-27065-ecp"), 1);
    assert_eq!(count("proxylogon-machine-account-backend"), 8);
    // The decoys are nowhere among compromise findings, and are reported as noise.
    let decoys = [
        "192.0.2.55",
        "172.16.8.50",
        "192.0.2.130",
        "192.0.2.140",
        "172.16.30.5",
        "172.16.0.10",
        "10.20.0.5",
        "10.20.0.6",
        "127.0.0.1",
        "192.0.2.201",
        "203.0.113.99",
    ];
    for f in report["findings"].as_array().unwrap() {
        for ip in f["clients"].as_array().unwrap() {
            assert!(
                !decoys.contains(&ip.as_str().unwrap()),
                "decoy {ip} in {}",
                f["rule"]
            );
        }
        // The refused ProxyShell requests are MBX-C's; everything else is the intrusion's.
        let host = if ["proxyshell", "proxynotshell"].contains(&f["rule"].as_str().unwrap()) {
            assert_eq!(f["outcomes"]["attempt"], f["count"], "{f}");
            "MBX-C"
        } else {
            "MBX-A"
        };
        assert_eq!(
            f["hosts"].as_array().unwrap(),
            &vec![Value::from(host)],
            "{}",
            f["rule"]
        );
        let e = &f["examples"][0];
        assert!(e["file"].as_str().is_some() && e["line"].as_u64().is_some());
        assert!(f["first_seen"].as_str().unwrap().ends_with('Z'));
    }
    let noise: BTreeSet<String> = strings(&report["noise"], "rule");
    assert!(noise.contains("noise-webshell-name-probe"));
    assert!(noise.contains("noise-ssrf-localhost-check"));
}

#[test]
fn rule_hits_are_searchable() {
    let case = sample_case();
    let n = ok(&[
        "search",
        "--case",
        path_str(case),
        "--count",
        "rule:tpl-cve-2021-26855",
    ]);
    assert_eq!(n.trim(), "6");
    // The reset row is also a CVE-2021-26855 row: the union counts it once.
    let n = ok(&[
        "search",
        "--case",
        path_str(case),
        "--count",
        "rule:tpl-* AND source:httpproxy",
    ]);
    assert_eq!(n.trim(), "6");
    let n = ok(&["search", "--case", path_str(case), "--count", "rule:tpl-*"]);
    assert_eq!(n.trim(), "8");
    // `rule:*`: every event with any hit, exactly those that carry a rule in JSON.
    let any: u64 = ok(&["search", "--case", path_str(case), "--count", "rule:*"])
        .trim()
        .parse()
        .expect("count");
    let with_rules = json_lines(&ok(&[
        "search",
        "--case",
        path_str(case),
        "--json",
        "--limit",
        "1000000",
        "rule:*",
    ]))
    .iter()
    .filter(|e| e["rules"].as_array().is_some_and(|r| !r.is_empty()))
    .count() as u64;
    assert!(any > 8);
    assert_eq!(any, with_rules);
    let n = ok(&[
        "search",
        "--case",
        path_str(case),
        "--count",
        "rule:no-such-rule",
    ]);
    assert_eq!(n.trim(), "0");
}

#[test]
fn hunt_formats() {
    let case = sample_case();
    let text = ok(&["hunt", "--case", path_str(case)]);
    let verdicts: Vec<&str> = text
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("VERDICT"))
        .collect();
    assert_eq!(verdicts.len(), 4, "{text}");
    assert!(
        text.starts_with(
            "VERDICT MBX-A  COMPROMISED 2021-03-05T17:41:58.000Z .. 2021-03-06T03:58:11.829Z"
        ),
        "{text}"
    );
    assert!(text.contains("VERDICT MBX-D  CLEAN"), "{text}");
    assert!(text.contains("Web shells:"));
    assert!(text.contains("Proxies and balancers"));
    assert!(
        !text.contains('\x1b'),
        "escape sequences from logs are shown escaped"
    );
    let md = ok(&["hunt", "--case", path_str(case), "--format", "md"]);
    assert!(
        md.contains("## Verdicts") && md.contains("## Findings") && md.contains("## Web shells")
    );
    // A pasted summary keeps its evidence: each verdict's and finding's events by file:line.
    let row = |start: &str| {
        md.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no row {start} in {md}"))
            .to_string()
    };
    assert!(
        row("| MBX-C | **attempted**").contains("u_ex210305_x.log:1355` (proxyshell, attempt)"),
        "{md}"
    );
    // Its refused requests are attempts in the table too, not the rule's gravest outcome.
    assert!(row("| high | 12 attempt | `proxyshell`").contains("u_ex210305_x.log:"));
    assert!(!md.contains("## Time warnings"));
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("hits.csv");
    ok(&[
        "hunt",
        "--case",
        path_str(case),
        "--format",
        "csv",
        "-o",
        path_str(&csv_path),
    ]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with(
        "category,severity,outcome,rule,title,ts,file,line,summary,host,finding_events\n"
    ));
    assert!(csv.lines().count() > 20);
    // Each row names its host, and how many events its finding has beyond the examples.
    let shells = finding_count(&hunt_json(case), "webshell-known-name");
    let row = csv
        .lines()
        .find(|l| l.contains(",webshell-known-name,"))
        .expect("a web shell row");
    assert!(row.ends_with(&format!(",MBX-A,{shells}")), "{row}");
}

#[test]
fn custom_rules_in_the_case_and_bad_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let evidence = common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1");
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&evidence),
    ]);
    std::fs::write(
        case.join("rules.toml"),
        "[[rule]]\nid = \"local-firefox-78\"\ntitle = \"Old Firefox\"\nseverity = \"high\"\nquery = 'ua:*firefox/78.0*'\n",
    )
    .unwrap();
    let report = hunt_json(&case);
    let local = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "local-firefox-78")
        .unwrap();
    assert_eq!(local["count"].as_u64(), Some(41));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[rule]]\nid = \"ok\"\ntitle = \"t\"\nseverity = \"low\"\nquery = 'ip:1.2.3.4'\n\n[[rule]]\nid = \"broken\"\ntitle = \"t\"\nseverity = \"low\"\nquery = 'status:[500 TO'\n").unwrap();
    let out = run(&["hunt", "--case", path_str(&case), "--rules", path_str(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{}:7: rule 'broken': query:", bad.display())),
        "{err}"
    );
}

/// A Sigma webserver rule, as SigmaHQ writes them (`cs-uri-query` holding the whole URI), runs
/// on IIS lines and credits the real client; a case's `sigma/` folder is read without flags; a
/// malformed Sigma file is an error naming its file.
#[test]
fn sigma_web_rules_run_from_the_case_folder() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(
        &case,
        &common::repo().join("tests/fixtures/verdicts/proxyshell"),
    );
    std::fs::create_dir_all(case.join("sigma/web")).unwrap();
    std::fs::write(
        case.join("sigma/web/proxyshell.yml"),
        r"title: ProxyShell autodiscover to a back end
id: 2d3f8a50-7a51-4c4e-9d0a-0b4e2f7c1a11
status: test
logsource:
  category: webserver
detection:
  selection_auto:
    cs-uri-query|contains: '/autodiscover.json'
  selection_backend:
    cs-uri-query|contains:
      - '/powershell'
      - '/mapi/nspi'
  filter_refused:
    sc-status: 401
  condition: all of selection_* and not filter_refused
level: high
",
    )
    .unwrap();
    let report = hunt_json(&case);
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "2d3f8a50-7a51-4c4e-9d0a-0b4e2f7c1a11")
        .expect("the Sigma rule's finding");
    let expected = ok(&[
        "search",
        "--case",
        path_str(&case),
        "--count",
        "path:*autodiscover.json AND (query:powershell OR query:nspi) AND NOT status:401",
    ]);
    assert_eq!(f["count"].as_u64(), expected.trim().parse().ok());
    assert!(f["count"].as_u64().unwrap() >= 2, "{f}");
    assert_eq!(f["clients"], serde_json::json!(["198.51.100.60"]));

    // Rules named in the case's trawl.toml are read too.
    let shared = common::repo().join("tests/fixtures/sigma");
    std::fs::write(
        case.join("trawl.toml"),
        format!("rules = [{:?}]\n", path_str(&shared)),
    )
    .unwrap();
    let out = run(&["hunt", "--case", path_str(&case), "--rescan"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sigma rule not used") && err.contains("9d3a4b0c-1e2f-4a5b-8c6d-7e8f9a0b1c2d"),
        "{err}"
    );

    std::fs::write(case.join("sigma/broken.yaml"), "title: x\ndetection: [\n").unwrap();
    let out = run(&["hunt", "--case", path_str(&case)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml:"), "{err}");
}

/// A rule that cannot run on this case (here a regex too large for the index's automata and for
/// checking events in memory) is listed with why; the other rules' findings stand and the hunt
/// succeeds.
#[test]
fn a_rule_that_cannot_run_is_listed_and_the_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(
        &case,
        &common::repo().join("tests/fixtures/verdicts/proxyshell"),
    );
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/rules.yml"),
        [
            r"title: Autodiscover with a back-end path
id: 6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b
logsource: {category: webserver}
detection:
  selection: {cs-uri-query|contains: '/autodiscover.json'}
  condition: selection
level: medium
---
",
            common::RULE_TOO_LARGE_TO_RUN,
        ]
        .concat(),
    )
    .unwrap();
    let out = run(&["hunt", "--case", path_str(&case), "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule not run")
            && err.contains("7a2b3c4d-5e6f-4a70-8b9c-0d1e2f3a4b5c")
            && err.contains("too large"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = strings(&report["findings"], "rule");
    assert!(
        rules.contains("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"),
        "{rules:?}"
    );
}

/// A wildcard, and a Sigma `contains`, cross the lines of a value: a PowerShell script block is
/// many lines, and the word a rule looks for is rarely on the first. (Before, `*` stopped at a
/// line end and such rules matched nothing.)
#[test]
fn wildcards_and_sigma_contains_cross_line_ends() {
    let dir = tempfile::tempdir().unwrap();
    let block = "param()\r\n$x = 1\r\nInvoke-Mimikatz -DumpCreds\r\nWrite-Output $x";
    let event = common::windows_event(
        7,
        "Microsoft-Windows-PowerShell",
        4104,
        "Microsoft-Windows-PowerShell/Operational",
        serde_json::json!({"ScriptBlockText": block, "ScriptBlockId": "b1"}),
    );
    let case = common::ingest_lines(dir.path(), "powershell.jsonl", &[event]);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("ScriptBlockText:*mimikatz*"), 1);
    assert_eq!(count("ScriptBlockText:param*creds*"), 1);
    assert_eq!(count("ScriptBlockText:*nothing-like-it*"), 0);
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/mimikatz.yml"),
        r"title: Mimikatz in a script block
id: 3c1d9e2f-7a6b-4c5d-8e9f-0a1b2c3d4e5f
logsource: {product: windows, category: ps_script}
detection:
  selection: {ScriptBlockText|contains: 'invoke-mimikatz'}
  condition: selection
level: high
---
title: Mimikatz keywords
id: 4d2e0f3a-8b7c-4d6e-9f0a-1b2c3d4e5f60
logsource: {product: windows}
detection:
  keywords: ['sekurlsa::', 'Invoke-Mimikatz']
  condition: keywords
level: high
",
    )
    .unwrap();
    let report = hunt_json(&case);
    let rules = strings(&report["findings"], "rule");
    for id in [
        "3c1d9e2f-7a6b-4c5d-8e9f-0a1b2c3d4e5f",
        "4d2e0f3a-8b7c-4d6e-9f0a-1b2c3d4e5f60",
    ] {
        assert!(rules.contains(id), "{id} missing from {rules:?}");
    }
}

/// Long values are searched by their field as short ones are: an encoded PowerShell command
/// of 16 KB and a script block of 30 KB (Windows cuts script blocks at 32,768 characters), by
/// a wildcard and by a Sigma `contains`. Past 4 KB they were only words, and every field query
/// and Sigma rule missed them.
#[test]
fn long_command_lines_and_script_blocks_are_searched_by_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "powershell.exe -nop -w hidden -enc {}",
        "SQBFAFgA".repeat(2_000)
    );
    let block = format!(
        "{}\r\nInvoke-Mimikatz -DumpCreds",
        "$a = 1\r\n".repeat(3_750)
    );
    let events = [
        common::windows_event(
            1,
            "Microsoft-Windows-Sysmon",
            1,
            "Microsoft-Windows-Sysmon/Operational",
            serde_json::json!({"CommandLine": command, "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"}),
        ),
        common::windows_event(
            2,
            "Microsoft-Windows-PowerShell",
            4104,
            "Microsoft-Windows-PowerShell/Operational",
            serde_json::json!({"ScriptBlockText": block, "ScriptBlockId": "b1"}),
        ),
    ];
    let case = common::ingest_lines(dir.path(), "long.jsonl", &events);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("CommandLine:*"), 1);
    assert_eq!(count("CommandLine:*\\-enc\\ SQBFAFgA*"), 1);
    assert_eq!(count("ScriptBlockText:*invoke-mimikatz*"), 1);
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/long.yml"),
        r"title: Encoded PowerShell
id: 5e3f1a4b-9c8d-4e7f-a0b1-2c3d4e5f6a70
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|contains: ' -enc '}
  condition: selection
level: high
---
title: Mimikatz in a long script block
id: 6f4a2b5c-0d9e-4f80-b1c2-3d4e5f6a7b81
logsource: {product: windows, category: ps_script}
detection:
  selection: {ScriptBlockText|contains: 'invoke-mimikatz'}
  condition: selection
level: high
",
    )
    .unwrap();
    let report = hunt_json(&case);
    for id in [
        "5e3f1a4b-9c8d-4e7f-a0b1-2c3d4e5f6a70",
        "6f4a2b5c-0d9e-4f80-b1c2-3d4e5f6a7b81",
    ] {
        assert_eq!(common::finding_count(&report, id), 1, "{id}");
    }
}

/// A Sigma regex the index cannot search (a Unicode `\b`, which its automata lack; a pattern
/// whose automaton passes its size bound, as nine of SigmaHQ's Windows rules have) still runs:
/// the rule's other conditions find candidates and each is checked in memory. Before, such a
/// rule was listed as not run and found nothing.
#[test]
fn regexes_the_index_cannot_search_are_checked_on_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let long_word = "A".repeat(70);
    let lines: Vec<String> = [
        (1, "cmd /c whoami"),
        (2, "cmd /c whoamiX"),
        (3, "cmd /c echo done"),
        (4, &*format!("powershell -enc {long_word}")),
    ]
    .iter()
    .map(|(n, command)| {
        common::windows_event(
            *n,
            "Microsoft-Windows-Sysmon",
            1,
            "Microsoft-Windows-Sysmon/Operational",
            serde_json::json!({
                "Image": "C:\\Windows\\System32\\cmd.exe",
                "CommandLine": command,
                "ParentImage": "C:\\Windows\\System32\\inetsrv\\w3wp.exe"
            }),
        )
    })
    .collect();
    let case = common::ingest_lines(dir.path(), "sysmon.jsonl", &lines);
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/rules.yml"),
        r"title: whoami as a word
id: 0b6a8c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|re: '\bwhoami\b'}
  condition: selection
level: high
---
title: A long encoded argument
id: 1c7b9d2e-3f4a-4b6c-9d8e-0f1a2b3c4d5e
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|re: '\w{60}'}
  filter: {CommandLine|re: '\bdone\b'}
  condition: selection and not filter
level: medium
",
    )
    .unwrap();
    let out = run(&["hunt", "--case", path_str(&case), "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("not run"), "{err}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = |id: &str| finding_count(&report, id);
    // `whoami` as a word: not `whoamiX`.
    assert_eq!(count("0b6a8c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d"), 1, "{report}");
    assert_eq!(count("1c7b9d2e-3f4a-4b6c-9d8e-0f1a2b3c4d5e"), 1, "{report}");
    let hit = ok(&[
        "search",
        "--case",
        path_str(&case),
        "--json",
        "rule:0b6a8c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d",
    ]);
    assert!(hit.contains("cmd /c whoami\""), "{hit}");
}

/// A Windows event's items named like a web log's fields (`Status`, `Path`, `Computer`) are the
/// event's own, in every layout: searchable as `"Status":…` (quoted: the column, not the HTTP
/// status), and what Sigma rules over event logs read. Before, a JSON-exported event's
/// `Status` (`0xc000006d`, not a number) was lost, its `Path` became a web path, and SigmaHQ's
/// rules on `Status` could not load.
#[test]
fn windows_items_named_like_web_fields_stay_the_events_own() {
    let dir = tempfile::tempdir().unwrap();
    let auditing = "Microsoft-Windows-Security-Auditing";
    let events = [
        common::windows_event(
            1,
            auditing,
            4625,
            "Security",
            serde_json::json!({"TargetUserName": "admin", "Status": "0xc000006d",
                               "SubStatus": "0xc0000064", "IpAddress": "203.0.113.9"}),
        ),
        common::windows_event(
            2,
            auditing,
            4104,
            "Microsoft-Windows-PowerShell/Operational",
            serde_json::json!({"ScriptBlockText": "whoami", "Path": "C:\\inetpub\\evil.ps1"}),
        ),
    ];
    let case = common::ingest_lines(dir.path(), "events.jsonl", &events);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count(r#""Status":0xC000006D"#), 1);
    assert_eq!(count("status:*"), 0);
    assert_eq!(count(r#""Path":*evil.ps1"#), 1);
    assert_eq!(count("path:*"), 0);
    assert_eq!(count(r#""Computer":ex1.corp.example"#), 2);
    assert_eq!(count("host:EX1"), 2);
    assert_eq!(count("ip:203.0.113.9 AND user:admin"), 1);
    // A field before a group of values applies to each (Lucene's, Kibana's syntax).
    assert_eq!(count("EventID:(4625 OR 4104)"), 2);
    assert_eq!(count("EventID:(4625 OR 9999)"), 1);
    assert_eq!(count("EventID:(4625 AND NOT 4104) AND host:EX1"), 1);
    // A source column's numbers compare as numbers.
    assert_eq!(count("EventID:[4600 TO 4700]"), 1);
    assert_eq!(count("EventID:>4000"), 2);
    assert_eq!(count("EventID:<4104"), 0);
    assert_eq!(count("EventID:[4700 TO 4600]"), 0);
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/rules.yml"),
        r"title: Logon failure for a bad password
id: 2d8c0e3f-4a5b-4c7d-8e9f-1a2b3c4d5e6f
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625, Status: '0xc000006d', Computer: 'EX1.corp.example'}
  condition: selection
level: medium
---
title: A script under the web root
id: 3e9d1f4a-5b6c-4d8e-9f0a-2b3c4d5e6f70
logsource: {product: windows, category: ps_script}
detection:
  selection: {Path|endswith: '\evil.ps1'}
  condition: selection
level: high
",
    )
    .unwrap();
    let out = run(&["hunt", "--case", path_str(&case), "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("not used") && !err.contains("not run"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = strings(&report["findings"], "rule");
    for id in [
        "2d8c0e3f-4a5b-4c7d-8e9f-1a2b3c4d5e6f",
        "3e9d1f4a-5b6c-4d8e-9f0a-2b3c4d5e6f70",
    ] {
        assert!(rules.contains(id), "{id} missing from {rules:?}");
    }
}

/// A CIDR on a field that holds addresses as text (Sysmon's `DestinationIp`) is the addresses in
/// it, in a search and in a Sigma rule's `cidr` (SigmaHQ's network rules filter their internal
/// ranges so; before, fifteen of them could not load).
#[test]
fn a_cidr_on_a_text_field_is_the_addresses_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = [
        (1, "10.20.0.5"),
        (2, "203.0.113.50"),
        (3, "fe80::1"),
        (4, "2001:db8::7"),
    ]
    .iter()
    .map(|(n, destination)| {
        common::windows_event(
            *n,
            "Microsoft-Windows-Sysmon",
            3,
            "Microsoft-Windows-Sysmon/Operational",
            serde_json::json!({
                "Image": "C:\\Windows\\System32\\rundll32.exe",
                "DestinationIp": destination,
                "DestinationPort": "443"
            }),
        )
    })
    .collect();
    let case = common::ingest_lines(dir.path(), "sysmon.jsonl", &lines);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("DestinationIp:10.0.0.0/8"), 1);
    assert_eq!(count("DestinationIp:203.0.113.0/24"), 1);
    assert_eq!(count(r#"DestinationIp:"fe80::/10""#), 1);
    assert_eq!(count(r#"DestinationIp:"2001:db8::/32""#), 1);
    assert_eq!(count("NOT DestinationIp:10.0.0.0/8"), 3);
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/rules.yml"),
        r"title: Rundll32 talking to the internet
id: 4f0e2a5b-6c7d-4e9f-8a0b-3c4d5e6f7081
logsource: {product: windows, category: network_connection}
detection:
  selection: {Image|endswith: '\rundll32.exe'}
  filter:
    DestinationIp|cidr: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fe80::/10']
  condition: selection and not filter
level: high
",
    )
    .unwrap();
    let out = run(&["hunt", "--case", path_str(&case), "--format", "json"]);
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("not used") && !err.contains("not run"),
        "{err}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The public IPv4 and IPv6 destinations, not the internal ones.
    assert_eq!(
        finding_count(&report, "4f0e2a5b-6c7d-4e9f-8a0b-3c4d5e6f7081"),
        2,
        "{report}"
    );
}

/// A web shell known only from the event logs: with no web log of its host in the case, trawl
/// says its use is unknown (not "never answered"), and lists what the web server's worker
/// started from the write on (ASP.NET compiling the page on its first request, then its
/// commands), not what it started before.
#[test]
fn a_shell_without_web_logs_says_so_and_lists_what_the_worker_ran_after() {
    let dir = tempfile::tempdir().unwrap();
    let sysmon = "Microsoft-Windows-Sysmon";
    let channel = "Microsoft-Windows-Sysmon/Operational";
    let exchange = "C:\\Program Files\\Microsoft\\Exchange Server\\V15";
    let spawn = |n: u32, image: &str, command: &str| {
        common::windows_event(
            n,
            sysmon,
            1,
            channel,
            serde_json::json!({
                "ParentImage": "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
                "Image": image,
                "CommandLine": command
            }),
        )
    };
    let events = [
        spawn(
            1,
            "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe",
            "csc.exe /noconfig earlier.cmdline",
        ),
        common::windows_event(
            2,
            sysmon,
            11,
            channel,
            serde_json::json!({
                "Image": "System",
                "TargetFilename": format!("{exchange}\\FrontEnd\\HttpProxy\\owa\\auth\\shell.aspx")
            }),
        ),
        spawn(
            3,
            "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\cvtres.exe",
            "cvtres.exe /NOLOGO",
        ),
        spawn(4, "C:\\Windows\\System32\\cmd.exe", "cmd /c whoami"),
    ];
    let case = common::ingest_lines(dir.path(), "sysmon.jsonl", &events);
    let report = hunt_json(&case);
    let shell = &report["webshells"][0];
    assert_eq!(shell["path"], "/owa/auth/shell.aspx", "{report:#}");
    assert_eq!(shell["host_web_logged"], false);
    assert_eq!(shell["worker_process_events"], 2);
    let lines: Vec<u64> = shell["worker_processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4]);
    let text = ok(&["hunt", "--case", path_str(&case)]);
    assert!(
        text.contains("no web logs of its host in the case: whether it answered is unknown")
            && text.contains("then the web server's worker started processes (2 event(s))")
            && text.contains("cmd /c whoami")
            && !text.contains("never answered"),
        "{text}"
    );
    let verdict = &report["verdicts"][0];
    assert_eq!(verdict["verdict"], "compromised");
    let reasons = verdict["reasons"].to_string();
    assert!(
        reasons.contains("whether it answered is unknown")
            && reasons.contains("2 event(s) from 2021-03-05T10:00:03.000Z"),
        "{reasons}"
    );
}

/// A host is asked by any of its names: `host:` with the full name finds the events its short
/// name is indexed under, so a Sigma rule's `Computer: <full name>` finds a `Get-WinEvent |
/// Export-Csv` row (whose `MachineName` is the host, not an item) as it finds native events.
#[test]
fn a_host_is_found_by_its_full_name_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(
        evidence.join("management.csv"),
        "#TYPE Selected.System.Management.Automation.PSCustomObject\r\n\
         \"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"\r\n\
         \"2021-03-05T17:42:27.0930000Z\",\"1\",\"Information\",\"MSExchange CmdletLogs\",\"MSExchange Management\",\"EX1.corp.example\",\"Cmdlet succeeded. Cmdlet Set-Mailbox\"\r\n",
    )
    .unwrap();
    std::fs::write(
        evidence.join("security.jsonl"),
        common::windows_event(
            1,
            "Microsoft-Windows-Security-Auditing",
            4625,
            "Security",
            serde_json::json!({"TargetUserName": "admin"}),
        ) + "\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("host:EX1.corp.example"), 2);
    assert_eq!(count("host:\"ex1.corp.example\""), 2);
    assert_eq!(count("host:ex1"), 2);
    assert_eq!(count("host:EX2.corp.example"), 0);
    // The export's `MachineName` column was read as the host: asked as a column, trawl says so.
    let out = run(&["search", "--case", path_str(&case), "\"MachineName\":*"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it is read as host: ask host:"), "{err}");
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/computer.yml"),
        r"title: Events of one server by its full name
id: 4fa0e2b5-6c7d-4e9f-a01b-3c4d5e6f7081
logsource: {product: windows}
detection:
  selection: {Computer: 'EX1.corp.example'}
  condition: selection
level: low
",
    )
    .unwrap();
    let report = hunt_json(&case);
    assert_eq!(
        finding_count(&report, "4fa0e2b5-6c7d-4e9f-a01b-3c4d5e6f7081"),
        2,
        "{report:#}"
    );
}

/// A host with only context hits (its Security log cleared) is clean, and its verdict says
/// what is worth knowing there rather than "no detection".
#[test]
fn a_clean_verdict_names_the_context_it_saw() {
    let dir = tempfile::tempdir().unwrap();
    let events = [common::windows_event(
        1,
        "Microsoft-Windows-Eventlog",
        1102,
        "Security",
        serde_json::json!({"SubjectUserName": "admin"}),
    )];
    let case = common::ingest_lines(dir.path(), "security.jsonl", &events);
    let report = hunt_json(&case);
    let verdict = &report["verdicts"][0];
    assert_eq!(verdict["verdict"], "clean", "{report:#}");
    let reasons: Vec<&str> = verdict["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        reasons[0],
        "no compromise, attempt or probe and no web shell in 1 event(s)"
    );
    assert!(
        reasons[1].starts_with("context: ") && reasons[1].contains("log cleared"),
        "{reasons:?}"
    );
}

/// Explicit-credential logons (4648) read as what they are (who used whose credentials, to
/// reach which server), without a logon type they do not have; a tag is said as it is kept.
#[test]
fn explicit_credentials_read_as_such_and_tags_as_kept() {
    let dir = tempfile::tempdir().unwrap();
    let events = [common::windows_event(
        1,
        "Microsoft-Windows-Security-Auditing",
        4648,
        "Security",
        serde_json::json!({
            "SubjectUserName": "svc-web",
            "TargetUserName": "bob",
            "TargetDomainName": "CORP",
            "TargetServerName": "web01",
            "IpAddress": "192.0.2.7"
        }),
    )];
    let case = common::ingest_lines(dir.path(), "security.jsonl", &events);
    let line = ok(&["search", "--case", path_str(&case), "EventID:4648"]);
    assert!(
        line.contains("4648 explicit credentials: svc-web as CORP\\bob to web01 from 192.0.2.7"),
        "{line}"
    );
    let said = ok(&[
        "tag",
        "--case",
        path_str(&case),
        "--query",
        "EventID:4648",
        "Lateral",
    ]);
    assert!(said.starts_with("Tagged 1 event lateral"), "{said}");
    let tagged = ok(&[
        "search",
        "--case",
        path_str(&case),
        "--count",
        "tag:lateral",
    ]);
    assert_eq!(tagged.trim(), "1");
}

/// An address pasted bare, as into grep, finds the events that hold it (it found none: an
/// address is no word of any text), a range and `a.b.c.*` too; quoted, the same.
#[test]
fn an_address_asked_bare_finds_its_events() {
    let case = sample_case();
    let count = |q: &str| common::count(case, q);
    let fields = count("ip:203.0.113.77 OR client:203.0.113.77 OR xff:203.0.113.77");
    assert!(fields > 0);
    assert_eq!(count("203.0.113.77"), fields);
    assert_eq!(count("\"203.0.113.77\""), fields);
    let range = count("ip:203.0.113.0/24 OR client:203.0.113.0/24 OR xff:203.0.113.0/24");
    assert!(range > fields);
    assert_eq!(count("203.0.113.0/24"), range);
    assert_eq!(count("203.0.113.*"), range);
    // A request's GUID pasted bare is the request (IIS's `cafeReqId`, HttpProxy's `RequestId`).
    let guid = "68eff119-c34a-40fd-a8fd-97ae5174fe10";
    let request = count(&format!("request_id:{guid}"));
    assert!(request >= 2, "{request}");
    assert_eq!(count(guid), request);
}

/// A wildcard over several words of a query string, as Splunk is asked (`*Protocol=ActiveSync*`),
/// finds the events holding those words, a word at a `*` by its part: it found none (the field
/// holds words, the pattern was matched against each).
#[test]
fn a_wildcard_over_words_of_a_query_string_finds_them() {
    let case = sample_case();
    let count = |q: &str| common::count(case, q);
    let bare = count("Protocol=ActiveSync");
    assert!(bare > 0);
    assert_eq!(count("query:*Protocol=ActiveSync*"), bare);
    assert_eq!(count("query:*col=ActiveSy*"), bare);
    assert_eq!(count("query:*Protocol=ActiveSyncX*"), 0);
    assert_eq!(count("query:*@evil.example*"), count("@evil.example"));
}

/// A web shell outside Exchange's folders, in any application: a tunnel's requests (Tunna's
/// `proxy&port=N&ip=A`, reGeorg's `cmd=connect`) or POSTs to a script named as the public shells
/// are, answered 2xx, make the server compromised (it was CLEAN: the pack only knew HAFNIUM's
/// folders). A GET of such a name, or a tunnel request refused, does not.
#[test]
fn a_web_shell_in_any_application_is_a_compromise() {
    let dir = tempfile::tempdir().unwrap();
    let iis = dir
        .path()
        .join("evidence/WEB01/inetpub/logs/LogFiles/W3SVC1");
    let tomcat = dir.path().join("evidence/APP02/LogFiles");
    for d in [&iis, &tomcat] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(
        iis.join("u_ex190903.log"),
        "#Software: Microsoft Internet Information Services 10.0\n\
         #Version: 1.0\n\
         #Date: 2019-09-03 10:04:35\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n\
         2019-09-03 10:13:30 10.0.2.15 GET /erp/conn.aspx proxy&port=445&ip=10.0.0.9 80 - 10.0.2.17 - - 500 0 0 7\n\
         2019-09-03 10:13:36 10.0.2.15 GET /erp/conn.aspx proxy&port=3389&ip=127.0.0.1 80 - 10.0.2.17 - - 200 0 0 7\n\
         2019-09-03 10:13:44 10.0.2.15 POST /erp/conn.aspx proxy 80 - 10.0.2.17 - - 200 0 0 4\n\
         2019-09-03 10:14:00 10.0.2.15 GET /tunnel.ashx cmd=connect&target=10.0.0.5&port=22 80 - 10.0.2.18 - - 200 0 0 4\n\
         2019-09-03 10:15:00 10.0.2.15 GET /owa/auth/logon.aspx proxy&port=3389&ip=10.0.0.1 80 - 192.0.2.99 - - 200 0 0 4\n\
         2019-09-03 10:16:00 10.0.2.15 GET /owa/auth/logon.aspx replaceCurrent=1 80 - 10.0.9.40 - - 200 0 0 4\n",
    )
    .unwrap();
    std::fs::write(
        tomcat.join("localhost_access_log.2018-07-11.txt"),
        "192.168.105.76 - - [11/Jul/2018:14:51:53 +0300] \"GET /error/cmd.jsp HTTP/1.1\" 200 48\n\
         192.168.105.76 - - [11/Jul/2018:15:10:19 +0300] \"POST /error/cmd.jsp HTTP/1.1\" 200 1337\n\
         192.168.105.9 - - [11/Jul/2018:15:11:00 +0300] \"GET /shell.php HTTP/1.1\" 200 12\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("evidence"));
    let report = hunt_json(&case);
    assert_eq!(finding_count(&report, "webshell-tunnel"), 2, "{report:#}");
    assert_eq!(finding_count(&report, "webshell-generic-name-post"), 1);
    let verdict = |host: &str| {
        report["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["host"] == host)
            .map(|v| v["verdict"].as_str().unwrap().to_string())
    };
    assert_eq!(verdict("WEB01").as_deref(), Some("compromised"));
    assert_eq!(verdict("APP02").as_deref(), Some("compromised"));
    // Each is a web shell of the inventory, with every request to it (the tunnel's data
    // POSTs too), not only the requests its rule names.
    let shells: Vec<(String, String, u64)> = report["webshells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["host"].as_str().unwrap().to_string(),
                w["path"].as_str().unwrap().to_string(),
                w["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    // Exchange's logon page answering a scanner's tunnel check is not a web shell: its users
    // would be a shell's clients.
    assert!(
        !shells.iter().any(|(_, p, _)| p.contains("logon.aspx")),
        "{shells:?}"
    );
    for expected in [
        ("WEB01", "/erp/conn.aspx", 3),
        ("WEB01", "/tunnel.ashx", 1),
        ("APP02", "/error/cmd.jsp", 2),
    ] {
        assert!(
            shells
                .iter()
                .any(|(h, p, n)| (h.as_str(), p.as_str(), *n) == expected),
            "{expected:?} in {shells:?}"
        );
    }
}

/// An IPv6 address or range pasted bare is an address (it was read as `field:value`: "unknown
/// field '2001'"), a URL a phrase.
#[test]
fn an_ipv6_address_or_a_url_pasted_bare_is_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"@timestamp":"2021-03-05T17:42:19Z","source":{"ip":"2001:db8:4d2:11::e0"},"url":{"path":"/owa/auth/x.js"},"message":"GET https://mail.example.org/owa/auth/x.js"}"#,
        r#"{"@timestamp":"2021-03-05T17:42:20Z","source":{"ip":"::1"},"url":{"path":"/owa/"}}"#,
    ]
    .map(String::from);
    let case = common::ingest_lines(dir.path(), "web.jsonl", &lines);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("2001:db8:4d2:11::e0"), 1);
    assert_eq!(count("2001:db8::/32"), 1);
    assert_eq!(count("::1"), 1);
    assert_eq!(count("https://mail.example.org/owa/auth/x.js"), 1);
}

/// `Get-WinEvent | ConvertTo-Json` as Windows PowerShell 5.1 writes it (a BOM, one array, four
/// spaces and `"Name":  value`, times as `/Date(ms)/`): each record is an event read under the
/// EVTX record's names, its cmdlet read back from its message or from its `Properties` (written
/// with `-Depth 3`), and the OAB web shell it records makes its server compromised. The file was
/// "no known log format".
#[test]
fn get_winevent_converted_to_json_is_read_as_the_evtx() {
    let record = |id: u64, ms: u64, message: &str, properties: &str| {
        format!(
            r#"    {{
        "Id":  1,
        "Version":  null,
        "Qualifiers":  16388,
        "Level":  4,
        "RecordId":  {id},
        "ProviderName":  "MSExchange CmdletLogs",
        "ProviderId":  null,
        "LogName":  "MSExchange Management",
        "ProcessId":  null,
        "MachineName":  "MXS01.corp.local",
        "TimeCreated":  "\/Date({ms})\/",
        "MatchedQueryIds":  [

                            ],
        "Bookmark":  {{

                     }},
        "LevelDisplayName":  "Information",
        "Properties":  [
{properties}
                       ],
        "Message":  {message}
    }}"#
        )
    };
    let opaque = "                           \"System.Diagnostics.Eventing.Reader.EventProperty\"";
    let shell = r#"-ExternalUrl \"http://f/<script language=\\\"JScript\\\" runat=\\\"server\\\">function Page_Load(){eval(Request[\\\"zz9\\\"],\\\"unsafe\\\");}</script>\" -Identity \"OAB (Default Web Site)\""#;
    let records = [
        record(
            3229,
            1_615_704_012_987,
            &format!(r#""Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters {shell}.""#),
            opaque,
        ),
        record(
            3230,
            1_615_704_013_987,
            r#""Cmdlet succeeded. Cmdlet Get-Mailbox, parameters -ResultSize \"1\".""#,
            "{ \"Value\":  \"Get-Mailbox\" },\n{ \"Value\":  \"-ResultSize \\\"1\\\"\" }",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let text = format!("\u{feff}[\n{}\n]\n", records.join(",\n"));
    std::fs::write(evidence.join("MSExchangeManagement.json"), &text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("*"), 2);
    assert_eq!(
        count("EventID:1 AND Channel:\"MSExchange Management\" AND source:msexchange-management"),
        2
    );
    assert_eq!(
        count("EventRecordID:3229 AND Cmdlet:Set-OabVirtualDirectory"),
        1
    );
    assert_eq!(count("Cmdlet:Get-Mailbox AND Data1:Get-Mailbox"), 1);
    assert_eq!(count("ts:2021-03-14T06:40:12"), 1);
    let events = common::exported(&case, "Cmdlet:Set-OabVirtualDirectory");
    assert_eq!(events[0]["host"], "MXS01");
    assert_eq!(
        events[0]["line"], 2,
        "cited by the line its record starts on"
    );
    let report = hunt_json(&case);
    assert_eq!(
        finding_count(&report, "mgmt-oab-virtualdirectory-script"),
        1
    );
    assert_eq!(report["verdicts"][0]["host"], "MXS01");
    assert_eq!(report["verdicts"][0]["verdict"], "compromised");
}

/// `Get-WinEvent | ConvertTo-Json -Depth 3` keeps an event's values without their names
/// (`Properties`, in template order): a well-known event's take its items' names (chosen by
/// their number, never guessed), so the rules and queries written for the EVTX read it. A
/// Sysmon process start under `w3wp.exe` was `Data5`/`Data21` and made no finding; a failed
/// logon's account and address were `Data6`/`Data20`.
#[test]
fn get_winevent_values_take_their_items_names() {
    let record = |id: u64,
                  ms: u64,
                  provider: &str,
                  log: &str,
                  event: u64,
                  values: Vec<serde_json::Value>| {
        serde_json::json!({
            "Id": event, "Version": 5, "Level": 4, "RecordId": id, "ProviderName": provider,
            "LogName": log, "ProcessId": 3100, "MachineName": "MXS01.corp.local",
            "TimeCreated": format!("/Date({ms})/"),
            "Properties": values.into_iter().map(|v| serde_json::json!({"Value": v})).collect::<Vec<_>>(),
            "Message": "",
        })
    };
    let process = serde_json::json!([
        "-",
        "2021-03-14 06:41:00.123",
        "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
        7284,
        "C:\\Windows\\System32\\cmd.exe",
        "10.0.17763.1",
        "Windows Command Processor",
        "Microsoft Windows",
        "Microsoft Corporation",
        "Cmd.Exe",
        "cmd /c whoami",
        "c:\\windows\\system32\\inetsrv\\",
        "NT AUTHORITY\\SYSTEM",
        "{5770385f-0000-0000-0000-0000e7030000}",
        "0x3e7",
        0,
        "System",
        "SHA256=EDDB",
        "{5770385f-c22a-43e0-bf4c-06f5698ffbd8}",
        6540,
        "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
        "c:\\windows\\system32\\inetsrv\\w3wp.exe -ap \"MSExchangeOWAAppPool\"",
        "NT AUTHORITY\\SYSTEM"
    ]);
    let logon = serde_json::json!([
        "S-1-0-0",
        "-",
        "-",
        "0x0",
        "S-1-0-0",
        "admin",
        "CORP",
        "0xc000006d",
        "%%2313",
        "0xc000006a",
        3,
        "NtLmSsp ",
        "NTLM",
        "WKS7",
        "-",
        "-",
        0,
        "0x0",
        "-",
        "203.0.113.9",
        "51234"
    ]);
    let as_vec = |v: serde_json::Value| v.as_array().unwrap().clone();
    let records = serde_json::json!([
        record(
            10,
            1_615_704_060_123,
            "Microsoft-Windows-Sysmon",
            "Microsoft-Windows-Sysmon/Operational",
            1,
            as_vec(process)
        ),
        record(
            11,
            1_615_704_061_123,
            "Microsoft-Windows-Security-Auditing",
            "Security",
            4625,
            as_vec(logon.clone())
        ),
        // The same values one short of any 4625 template: not named by a guess.
        record(
            12,
            1_615_704_062_123,
            "Microsoft-Windows-Security-Auditing",
            "Security",
            4625,
            as_vec(logon)[..20].to_vec()
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let text = format!(
        "\u{feff}{}",
        serde_json::to_string_pretty(&records).unwrap()
    );
    std::fs::write(evidence.join("events.json"), text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    let count = |q: &str| common::count(&case, q);
    assert_eq!(count("*"), 3);
    assert_eq!(
        count("Image:*\\\\cmd.exe AND ParentImage:*\\\\w3wp.exe AND CommandLine:\"cmd /c whoami\""),
        1
    );
    assert_eq!(count("OriginalFileName:Cmd.Exe AND ParentUser:*SYSTEM"), 1);
    assert_eq!(
        count("TargetUserName:admin AND IpAddress:203.0.113.9 AND SubStatus:0xc000006a"),
        1
    );
    assert_eq!(count("ip:203.0.113.9"), 1);
    assert_eq!(count("Data6:admin AND Data20:203.0.113.9"), 1);
    let report = hunt_json(&case);
    assert_eq!(
        finding_count(&report, "proc-exchange-worker-spawns-shell"),
        1
    );
    assert_eq!(report["verdicts"][0]["verdict"], "compromised");
}

/// The attacker ran the public vulnerability check (an `X-BEResource` to localhost) before the
/// exploit: the check stays noise as a finding, and says that a suspect client sent it, so the
/// first step of the intrusion is not read as a scanner's.
#[test]
fn noise_from_a_suspect_says_so() {
    let text = ok(&["hunt", "--case", path_str(sample_case())]);
    let noise = text.split("\nNoise").nth(1).expect("a noise section");
    let check = noise
        .split("\n  INFO")
        .find(|f| f.contains("noise-ssrf-localhost-check"))
        .expect("the localhost check");
    assert!(
        check.contains("suspect clients among them: 198.51.100.144"),
        "{check}"
    );
    let scanner = noise
        .split("\n  INFO")
        .find(|f| f.contains("noise-scanner-user-agent"))
        .expect("the scanner");
    assert!(!scanner.contains("suspect clients"), "{scanner}");
}

/// An event log exported as CSV (`Get-WinEvent | Export-Csv`, the sample case's MSExchange
/// Management) has its message read back into `Cmdlet` and `Parameters`, and its System values
/// named as the EVTX record's (`Id` is `EventID`, `LogName` the `Channel`, the channel its
/// `source`): fields of the case to query, as from the EVTX (they were refused as unknown).
#[test]
fn a_cmdlet_read_back_from_an_exported_message_is_a_field() {
    let case = sample_case();
    let count = |q: &str| common::count(case, q);
    let by_message = count("\"Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory\"");
    assert!(by_message > 0);
    assert_eq!(
        count("Cmdlet:Set-OabVirtualDirectory AND source:msexchange-management"),
        by_message
    );
    assert_eq!(
        count("Parameters:*ExternalUrl* AND Cmdlet:Set-OabVirtualDirectory"),
        by_message
    );
    assert_eq!(
        count(
            "EventID:1 AND Channel:\"MSExchange Management\" AND Provider:\"MSExchange CmdletLogs\""
        ),
        count("source:msexchange-management AND \"Cmdlet succeeded\"")
    );
}

/// What a responder pastes bare, as into grep, finds the event log records that hold it: an
/// image name, a file hash from Sysmon's `Hashes`, an NTSTATUS code. Short one-word items were
/// field terms only, and hash-long hex runs were dropped as noise: each of these found nothing.
#[test]
fn an_event_log_value_asked_bare_finds_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let sha256 = "EDDBB3524F3776A7E81376B5918FB80E6C1025DC6CAC32C088F7B9E7A1CCDBCB";
    let md5 = "24A7F31424AED247023A3B6CCECF7DA1";
    let process = common::windows_event(
        1,
        "Microsoft-Windows-Sysmon",
        1,
        "Microsoft-Windows-Sysmon/Operational",
        serde_json::json!({
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "ParentImage": "C:\\Windows\\System32\\inetsrv\\w3wp.exe",
            "CommandLine": "cmd /c whoami",
            "Hashes": format!("SHA1=A51B89E4A52F95D371B09F7B4A4087FC5A62B190,MD5={md5},SHA256={sha256}"),
        }),
    );
    let logon = common::windows_event(
        2,
        "Microsoft-Windows-Security-Auditing",
        4625,
        "Security",
        serde_json::json!({"Status": "0xc000006d", "WorkstationName": "KALI", "TargetUserName": "bob"}),
    );
    // evtx_dump's JSON of a System event written by SYSTEM (`<Security UserID="S-1-5-18"/>`).
    let service = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},"EventID":7045,"TimeCreated":{"#attributes":{"SystemTime":"2021-03-05T10:00:03.000Z"}},"EventRecordID":3,"Channel":"System","Computer":"EX1.corp.example","Security":{"#attributes":{"UserID":"S-1-5-18"}}},"EventData":{"ServiceName":"updater","ImagePath":"%COMSPEC% /c x"}}}"##;
    let case = common::ingest_lines(
        dir.path(),
        "events.jsonl",
        &[process, logon, service.to_string()],
    );
    let count = |q: &str| common::count(&case, q);
    // The System value `UserID` is a SID, not the web logs' user its name also stands for.
    assert_eq!(count("S-1-5-18"), 1);
    assert_eq!(count("UserID:S-1-5-18"), 1);
    assert_eq!(count("\"UserID\":S-1-5-18"), 1);
    // A value the HTTP status cannot hold is the event's own `Status`.
    assert_eq!(count("Status:0xc000006d"), 1);
    assert_eq!(count("cmd.exe"), 1);
    assert_eq!(count("w3wp.exe"), 1);
    assert_eq!(count("system32"), 1);
    assert_eq!(count(sha256), 1);
    assert_eq!(count(&sha256.to_lowercase()), 1);
    assert_eq!(count(md5), 1);
    assert_eq!(count("0xC000006D"), 1);
    assert_eq!(count("kali"), 1);
    // Words, as elsewhere: a part of a word is not one.
    assert_eq!(count("w3wp"), 1);
    assert_eq!(count("w3w"), 0);
}

/// Windows pads some values (`LogonProcessName` is `NtLmSsp `): asked bare, as SigmaHQ's rules
/// and responders ask it, the value is found, by the index and by a rule checked in memory.
#[test]
fn a_padded_value_is_found_without_its_spaces() {
    let dir = tempfile::tempdir().unwrap();
    let event = common::windows_event(
        3,
        "Microsoft-Windows-Security-Auditing",
        4624,
        "Security",
        serde_json::json!({"LogonType": "3", "LogonProcessName": "NtLmSsp ", "TargetUserName": "bob"}),
    );
    let case = common::ingest_lines(dir.path(), "security.jsonl", &[event]);
    assert_eq!(common::count(&case, "LogonProcessName:NtLmSsp"), 1);
    assert_eq!(common::count(&case, "LogonProcessName:ntlm*"), 1);
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/pth.yml"),
        r"title: NTLM network logon
id: 7a5b3c6d-1e0f-4a91-b2c3-4d5e6f7a8b92
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624, LogonType: 3, LogonProcessName: 'NtLmSsp'}
  filter: {TargetUserName|re: '^b.b$'}
  condition: selection and not filter
level: medium
---
title: NTLM network logon by bob
id: 8b6c4d7e-2f10-4ba2-83d4-5e6f7a8b9ca3
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624, LogonProcessName: 'NtLmSsp', TargetUserName|re: '^b.b$'}
  condition: selection
level: medium
",
    )
    .unwrap();
    let report = hunt_json(&case);
    assert_eq!(
        finding_count(&report, "7a5b3c6d-1e0f-4a91-b2c3-4d5e6f7a8b92"),
        0
    );
    assert_eq!(
        finding_count(&report, "8b6c4d7e-2f10-4ba2-83d4-5e6f7a8b9ca3"),
        1
    );
}

/// A finding lists "(no host)" among its hosts when some of its events name none (an access log
/// copied alone): its hosts said only the named ones.
#[test]
fn a_findings_hosts_include_events_naming_none() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(evidence.join("WEB01/LogFiles")).unwrap();
    let line = |ip: &str| {
        format!(
            "{ip} - - [11/Jul/2018:14:51:53 +0300] \"GET /owa/auth/x.aspx HTTP/1.1\" 404 48 \"-\" \"Nuclei - Open-source project (github.com/projectdiscovery/nuclei)\"\n"
        )
    };
    std::fs::write(evidence.join("access.log"), line("192.0.2.1")).unwrap();
    std::fs::write(
        evidence.join("WEB01/LogFiles/access.log"),
        line("192.0.2.2"),
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    let report = hunt_json(&case);
    let scanner = report["noise"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "noise-scanner-user-agent")
        .expect("the scanner's finding");
    assert_eq!(scanner["count"], 2);
    assert_eq!(
        scanner["hosts"],
        serde_json::json!(["WEB01", "(no host)"]),
        "{scanner}"
    );
}

/// A machine inside the network can write X-Forwarded-For itself. One that names one address on
/// its one request, and never checks the servers' health, is not taken for a balancer: it is a
/// "doubtful forwarder" and a suspect beside the address it named. The balancer that checks
/// health and forwards a client stays a proxy, never a suspect.
#[test]
fn a_private_address_writing_x_forwarded_for_itself_is_a_suspect() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs/MBX-X");
    std::fs::create_dir_all(&logs).unwrap();
    let mut log = String::from(
        "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For\r\n",
    );
    for minute in 10..40 {
        log.push_str(&format!("2021-03-07 09:{minute}:00 10.20.4.31 GET /owa/healthcheck.htm - 443 - 10.20.0.5 - - 200 0 0 1 -\r\n"));
    }
    log.push_str("2021-03-07 10:00:03 10.20.4.31 POST /aspnet_client/discover.aspx - 443 - 172.16.30.77 Mozilla/5.0+(X11) - 200 0 0 10 8.8.8.8\r\n");
    log.push_str("2021-03-07 10:00:04 10.20.4.31 POST /aspnet_client/discover.aspx - 443 - 10.20.0.5 Mozilla/5.0+(X11) - 200 0 0 10 198.51.100.25\r\n");
    std::fs::write(logs.join("u_ex210307.log"), log).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("logs"));
    let report = hunt_json(&case);
    let role = |address: &str| -> String {
        report["proxies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["address"] == address)
            .map_or(String::new(), |p| p["role"].as_str().unwrap().to_string())
    };
    assert_eq!(role("172.16.30.77"), "doubtful forwarder", "{report}");
    assert_eq!(role("10.20.0.5"), "proxy", "{report}");
    let suspects = strings(&report["suspects"], "client");
    for address in ["172.16.30.77", "8.8.8.8", "198.51.100.25"] {
        assert!(suspects.contains(address), "{address}: {suspects:?}");
    }
    assert!(!suspects.contains("10.20.0.5"), "{suspects:?}");
    let forger = report["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["client"] == "172.16.30.77")
        .unwrap();
    assert_eq!(forger["role"], "compromise");
    assert_eq!(forger["events"], 1);

    // Nor does a forger pass for one by naming three addresses and checking health once.
    let mut evading = std::fs::read_to_string(logs.join("u_ex210307.log")).unwrap();
    for (i, named) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        evading.push_str(&format!("2021-03-07 10:01:0{i} 10.20.4.31 GET /owa/ - 443 - 172.16.30.77 Mozilla/5.0+(X11) - 200 0 0 10 {named}\r\n"));
    }
    evading.push_str("2021-03-07 10:02:00 10.20.4.31 GET /owa/healthcheck.htm - 443 - 172.16.30.77 - - 200 0 0 1 -\r\n");
    std::fs::write(logs.join("u_ex210307.log"), evading).unwrap();
    let case = dir.path().join("evading");
    common::ingest(&case, &dir.path().join("logs"));
    let report = hunt_json(&case);
    let forger = report["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == "172.16.30.77")
        .unwrap();
    assert_eq!(forger["role"], "doubtful forwarder", "{forger}");
    assert!(strings(&report["suspects"], "client").contains("172.16.30.77"));
}

/// Rules given to an ingest are the case's: a plain `trawl hunt` afterwards (as the ingest
/// summary says to run) lists their findings and keeps their hits, where it used to recompute
/// the hits without them and drop them. `trawl.toml` names them once however often given.
#[test]
fn rules_given_to_an_ingest_stay_the_cases() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("MBX-S/W3SVC1");
    std::fs::create_dir_all(&evidence).unwrap();
    std::fs::write(
        evidence.join("u_ex210305.log"),
        "#Software: Microsoft Internet Information Services 10.0\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status\n\
         2021-03-05 10:00:00 10.0.0.1 GET /ecp/default.aspx __VIEWSTATE=%2FwEyhAYAAQAAAP 443 - 203.0.113.5 Mozilla/5.0 200\n",
    )
    .unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("viewstate.yml"),
        "title: ECP ViewState (local rule)\nid: local-ecp-viewstate\nlogsource: {category: webserver}\n\
         detection:\n  sel:\n    cs-uri-stem|startswith: '/ecp/'\n    cs-uri-query|contains: '__VIEWSTATE='\n  condition: sel\nlevel: high\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    let c = path_str(&case);
    let ingest = |paths: &[&Path]| {
        let mut args = vec![
            "ingest",
            "--quiet",
            "--case",
            c,
            "--rules",
            path_str(&rules),
        ];
        args.extend(paths.iter().map(|p| path_str(p)));
        ok(&args)
    };
    let summary = ingest(&[&dir.path().join("MBX-S")]);
    assert!(summary.contains("are now the case's"), "{summary}");
    let report = hunt_json(&case);
    assert_eq!(finding_count(&report, "local-ecp-viewstate"), 1, "{report}");
    assert_eq!(common::count(&case, "rule:local-ecp-viewstate"), 1);
    // Given again, the rules are named once.
    let summary = ingest(&[&dir.path().join("MBX-S")]);
    assert!(!summary.contains("are now the case's"), "{summary}");
    let config = std::fs::read_to_string(case.join("trawl.toml")).unwrap();
    let named: Vec<&str> = config
        .lines()
        .filter(|l| l.starts_with("rules ="))
        .collect();
    assert_eq!(named.len(), 1, "{config}");
    assert_eq!(named[0].matches(path_str(&rules)).count(), 1, "{config}");
    assert_eq!(finding_count(&hunt_json(&case), "local-ecp-viewstate"), 1);

    // Rules that do not load are refused before anything is named or read.
    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "title: [unclosed\n").unwrap();
    let out = run(&[
        "ingest",
        "--quiet",
        "--case",
        c,
        "--rules",
        path_str(&bad),
        path_str(&dir.path().join("MBX-S")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !std::fs::read_to_string(case.join("trawl.toml"))
            .unwrap()
            .contains("bad.yml")
    );
    // Named rules moved away since: said on each command, which still runs.
    std::fs::rename(&rules, dir.path().join("moved")).unwrap();
    let out = run(&["hunt", "--case", c]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found, not run"));
}

/// What a client writes under Exchange's own parameter names is searched like the rest of its
/// query: a ProxyShell request spelled `CorrelationID=@evil/powershell/…` is found by
/// `query:powershell` and by the rules (its words were dropped as Exchange's boilerplate).
#[test]
fn attack_text_under_exchanges_parameter_names_is_searched() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("EX8/W3SVC1");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        logs.join("u_ex210810.log"),
        "#Software: Microsoft Internet Information Services 10.0\r\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n\
         2021-08-10 10:00:01 10.0.0.1 POST /autodiscover/autodiscover.json CorrelationID=@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dz&Email=autodiscover/autodiscover.json%3F@evil.com&CorrelationID=<empty>;&cafeReqId=62b4b399-61f6-401a-ab5d-839f2c969224; 443 - 198.51.100.2 Go-http-client/1.1 - 200 0 0 10\r\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("EX8"));
    assert_eq!(common::count(&case, "query:powershell"), 1);
    let report = hunt_json(&case);
    assert_eq!(finding_count(&report, "proxyshell"), 1, "{report}");
    // The request's GUID is Exchange's, the last one.
    assert_eq!(
        common::count(&case, "request_id:62b4b399-61f6-401a-ab5d-839f2c969224"),
        1
    );
}

/// Sigma's modifiers mean what they say on a web log's query string, an agent is matched in
/// any of its spellings, and `windash` takes `/` for `-` where a switch starts:
/// * `cs-uri-query` exact, `startswith`, `endswith`, `contains` and `re` are asked of the query
///   string whole (they were "contains" over the whole line, so text in a Referer matched, and
///   `^` anchored the line);
/// * `cs-user-agent` written as IIS logs it (`+` for spaces) finds the agent;
/// * `CommandLine|windash` written with `/` finds the `-` form, and a dash inside a word stays
///   a dash.
#[test]
fn sigma_modifiers_on_query_strings_agents_and_switches() {
    let dir = tempfile::tempdir().unwrap();
    let web = dir.path().join("EX1/W3SVC1");
    std::fs::create_dir_all(&web).unwrap();
    let row = |t: u32, path: &str, query: &str, ua: &str, referer: &str| {
        format!(
            "2021-03-05 10:00:0{t} 10.0.0.1 GET {path} {query} 443 - 203.0.113.{t} {ua} {referer} 200 0 0 10\r\n"
        )
    };
    let bot = "Mozilla/5.0+(compatible;+Baiduspider/2.0;++http://www.baidu.com/search/spider.html)";
    let log = "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n".to_string()
        + &row(1, "/owa/auth/shell.aspx", "cmd=whoami", "Mozilla/5.0", "-")
        + &row(2, "/owa/auth/logon.aspx", "x=1&cmd=whoami", "Mozilla/5.0", "-")
        + &row(3, "/owa/auth/logon.aspx", "cmd=whoami&z=1", "Mozilla/5.0", "-")
        + &row(4, "/owa/auth/logon.aspx", "cmd=ls&q=whoami", bot, "http://x/?cmd=whoami");
    std::fs::write(web.join("u_ex210305.log"), log).unwrap();
    let sysmon = dir.path().join("EX1/events.json");
    let process = |n: u32, line: &str| {
        common::windows_event(
            n,
            "Microsoft-Windows-Sysmon",
            1,
            "Microsoft-Windows-Sysmon/Operational",
            serde_json::json!({"Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "CommandLine": line}),
        )
    };
    std::fs::write(
        &sysmon,
        [
            process(1, "powershell  -exec bypass -e SQBuAHYAbwBr"),
            process(2, "powershell Get-Process -Name x"),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let rule = |id: &str, logsource: &str, selection: &str| {
        std::fs::write(
            rules.join(format!("{id}.yml")),
            format!("title: {id}\nid: {id}\nlogsource: {logsource}\ndetection:\n  sel:\n    {selection}\n  condition: sel\nlevel: medium\n"),
        )
        .unwrap();
    };
    let web_rules = [
        ("q-exact", "cs-uri-query: 'cmd=whoami'", "1"),
        ("q-starts", "cs-uri-query|startswith: 'cmd='", "1 3 4"),
        ("q-ends", "cs-uri-query|endswith: 'whoami'", "1 2 4"),
        ("q-contains", "cs-uri-query|contains: 'cmd=whoami'", "1 2 3"),
        ("q-re", "cs-uri-query|re: '^cmd='", "1 3 4"),
        ("ua-plus", &format!("cs-user-agent: '{bot}'"), "4"),
        (
            "ua-plus-part",
            "cs-user-agent|contains: 'compatible;+Baiduspider'",
            "4",
        ),
    ];
    for (id, selection, _) in &web_rules {
        rule(id, "{category: webserver}", selection);
    }
    let switch_rules = [
        (
            "wd-slash",
            "CommandLine|windash|contains: ' /exec bypass /e '",
            "1",
        ),
        (
            "wd-dash",
            "CommandLine|windash|contains: ' -exec bypass'",
            "1",
        ),
        (
            "wd-in-word",
            "CommandLine|windash|contains: 'Get/Process'",
            "",
        ),
    ];
    for (id, selection, _) in &switch_rules {
        rule(
            id,
            "{product: windows, category: process_creation}",
            selection,
        );
    }
    let case = dir.path().join("case");
    let c = path_str(&case);
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        c,
        "--rules",
        path_str(&rules),
        path_str(&dir.path().join("EX1")),
    ]);
    for (id, _, expected) in web_rules.iter().chain(&switch_rules) {
        let rows = common::exported(&case, &format!("rule:{id}"));
        let mut got: Vec<String> = rows
            .iter()
            .map(|r| {
                let ts = r["ts"].as_str().unwrap();
                ts[18..19].to_string()
            })
            .collect();
        got.sort();
        assert_eq!(got.join(" "), *expected, "{id}");
    }
}

/// Web shells driven by GET leave their command in the query string (`?cmd=whoami`); a
/// percent-encoded ProxyNotShell (`FooProtocol=%50owershell`, the bypass of Microsoft's URL
/// Rewrite mitigation) is read decoded. Both were missed: the server was CLEAN, and the
/// encoded requests' client only "associated".
#[test]
fn get_web_shells_and_percent_encoded_attacks_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let iis = dir.path().join("evidence/EX7/inetpub/logs/LogFiles/W3SVC1");
    std::fs::create_dir_all(&iis).unwrap();
    std::fs::write(
        iis.join("u_ex210811.log"),
        "#Software: Microsoft Internet Information Services 10.0\n\
         #Version: 1.0\n\
         #Date: 2021-08-11 00:00:00\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n\
         2021-08-11 09:00:00 10.0.4.11 GET /owa/auth/logon.aspx replaceCurrent=1&cmd=x 443 - 10.40.1.7 Mozilla/5.0 - 200 0 0 52\n\
         2021-08-11 10:10:00 10.0.4.11 GET /aspnet_client/system_web/fnmq3.aspx cmd=whoami 443 - 203.0.113.99 curl/7.68.0 - 200 0 0 52\n\
         2021-08-11 10:11:00 10.0.4.11 GET /aspnet_client/system_web/fnmq3.aspx cmd=ipconfig+/all 443 - 203.0.113.99 curl/7.68.0 - 200 0 0 52\n\
         2021-08-11 10:20:00 10.0.4.11 GET /owa/auth/Current/themes/resources/pt.ashx c=net+user+/domain 443 - 203.0.113.99 curl/7.68.0 - 200 0 0 52\n\
         2021-08-11 10:30:00 10.0.4.11 GET /aspnet_client/system_web/fnmq3.aspx cmd=whoami 443 - 198.51.100.5 curl/7.68.0 - 404 0 2 52\n\
         2021-08-11 11:00:00 10.0.4.11 POST /autodiscover/autodiscover.json a..foo.var/owa/&Email=autodiscover/autodiscover.json?a..foo.var&Protocol=XYZ&FooProtocol=%50owershell 443 - 203.0.113.77 python-requests/2.28 - 200 0 0 52\n",
    )
    .unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("evidence"));
    let report = hunt_json(&case);
    assert_eq!(
        finding_count(&report, "webshell-command-in-query"),
        3,
        "{report:#}"
    );
    assert_eq!(finding_count(&report, "proxynotshell"), 1, "{report:#}");
    let v = &report["verdicts"][0];
    assert_eq!(v["verdict"], "compromised", "{v}");
    let shells: Vec<&str> = report["webshells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert!(
        shells.contains(&"/aspnet_client/system_web/fnmq3.aspx"),
        "{shells:?}"
    );
    // The logon page taking a `cmd` parameter is Exchange's own page, not a shell; the 404 is
    // a probe of a name, not a shell answering.
    assert_eq!(
        common::count(&case, "rule:webshell-command-in-query AND client:10.40.1.7"),
        0
    );
    assert_eq!(
        common::count(
            &case,
            "rule:webshell-command-in-query AND client:198.51.100.5"
        ),
        0
    );
    assert_eq!(common::count(&case, "query:powershell"), 1);
}

/// The verdicts of a `hunt --format json` report: host, verdict, window.
fn verdict_rows(report: &Value) -> Vec<(String, String, String)> {
    common::verdicts(report)
        .into_iter()
        .zip(report["verdicts"].as_array().unwrap())
        .map(|((host, verdict), v)| (host, verdict, format!("{} {}", v["first"], v["last"])))
        .collect()
}

/// A teammate's export ingested into another case: trawl's own JSON lines give back each
/// event's host, log type, client behind the balancers and source columns, so the hosts get
/// the verdicts they had; its CSV and Timesketch CSV their hosts and log types. They were
/// all "(no host)", one server made of several, and an OAB message's JSON-escaped path was a
/// file write outside ClientAccess\OAB.
#[test]
fn trawls_own_exports_ingested_again_keep_their_hosts_and_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let query = "host:mbx-a or host:mbx-b";
    let original = verdict_rows(&hunt_json(sample_case()));
    let original: Vec<_> = original
        .into_iter()
        .filter(|(h, _, _)| h == "MBX-A" || h == "MBX-B")
        .collect();
    assert_eq!(original.len(), 2);
    let exported = common::count(sample_case(), query);
    for (format, name) in [
        ("jsonl", "e.jsonl"),
        ("csv", "e.csv"),
        ("timesketch-csv", "e.timesketch.csv"),
    ] {
        let out = dir.path().join(name);
        ok(&[
            "export",
            "--case",
            path_str(sample_case()),
            "--query",
            query,
            "--format",
            format,
            "-o",
            path_str(&out),
        ]);
        let case = dir.path().join(format!("case-{format}"));
        common::ingest(&case, &out);
        assert_eq!(common::count(&case, "*"), exported, "{format}");
        assert_eq!(common::count(&case, "host:\"(no host)\""), 0, "{format}");
        for (host, source) in [
            ("mbx-a", "iis"),
            ("mbx-b", "httpproxy"),
            ("mbx-a", "msexchange-management"),
        ] {
            let q = format!("host:{host} source:{source}");
            assert_eq!(
                common::count(&case, &q),
                common::count(sample_case(), &q),
                "{format}: {q}"
            );
        }
        if format == "jsonl" {
            assert_eq!(verdict_rows(&hunt_json(&case)), original);
            let q = "client:198.51.100.144";
            assert_eq!(common::count(&case, q), common::count(sample_case(), q));
        }
    }
}

/// Sigma's own semantics, each read by the index and by the check in memory, on events as
/// `evtx_dump` writes them: `re` anchored and case-sensitive, `Data` as a classic event's
/// unnamed items, a value's padding, a logon's `-`, a padded script block's end, a keyword
/// with a backslash JSON escapes, Defender's spaced names. Each was a wrong answer.
#[test]
fn sigma_rules_match_as_sigma_defines() {
    use common::windows_event;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    let process = |n: u32, cmd: &str| {
        windows_event(
            n,
            "Microsoft-Windows-Sysmon",
            1,
            sysmon,
            json!({"Image": "C:\\Windows\\System32\\x.exe", "CommandLine": cmd}),
        )
    };
    let logon = |n: u32, ip: &str| {
        windows_event(
            n,
            "Microsoft-Windows-Security-Auditing",
            4624,
            "Security",
            json!({"LogonType": 3, "IpAddress": ip}),
        )
    };
    let padded_script = format!("#{}\nInvoke-Mimikatz -DumpCreds", "\u{4e00}".repeat(25_000));
    let lines = [
        process(
            1,
            "C:\\Windows\\System32\\rundll32.exe shell32.dll,Control_RunDLL 3f2a9c1e-0000",
        ),
        process(2, "rundll32 x"),
        windows_event(
            3,
            "PowerShell",
            400,
            "Windows PowerShell",
            json!({"Data": {"#text": ["Available", "None", "HostVersion=2.0 EngineVersion=2.0"]}}),
        ),
        process(4, "net use Z: \\\\fs\\s /USER:CORP\\bob "),
        logon(5, "-"),
        logon(6, "203.0.113.9"),
        windows_event(
            7,
            "Microsoft-Windows-PowerShell",
            4104,
            "Microsoft-Windows-PowerShell/Operational",
            json!({"ScriptBlockText": padded_script}),
        ),
        process(8, "C:\\Temp\\evil.exe -x"),
        windows_event(
            9,
            "Microsoft-Windows-Windows Defender",
            1119,
            "Microsoft-Windows-Windows Defender/Operational",
            json!({"Source Name": "Real-Time Protection", "Threat Name": "Virus:DOS/EICAR_Test_File"}),
        ),
    ];
    let case = common::ingest_lines(dir.path(), "events.jsonl", &lines);
    let rules = dir.path().join("rules.yml");
    let rule = |id: &str, logsource: &str, detection: &str| {
        format!(
            "title: {id}\nid: {id}\nlevel: low\nlogsource: {logsource}\ndetection:\n{detection}\n"
        )
    };
    let proc = "{product: windows, category: process_creation}";
    let rules_text = [
        rule("re-start", proc, "  s:\n    CommandLine|re: '^rundll32'\n  condition: s"),
        rule("re-case", proc, "  s:\n    CommandLine|re: '[A-F0-9]{8}-0000'\n  condition: s"),
        rule("re-case-i", proc, "  s:\n    CommandLine|re|i: '[A-F0-9]{8}-0000'\n  condition: s"),
        rule(
            "data",
            "{product: windows, category: ps_classic_start}",
            "  s:\n    Data|contains: 'EngineVersion=2.'\n  condition: s",
        ),
        rule("padding", proc, "  s:\n    CommandLine|endswith: ' '\n  condition: s"),
        rule(
            "bare",
            proc,
            // Sigma's `\\` is one backslash.
            "  s:\n    CommandLine: 'net use Z: \\\\\\\\fs\\s /USER:CORP\\bob'\n  condition: s",
        ),
        rule(
            "dash",
            "{product: windows, service: security}",
            "  s:\n    EventID: 4624\n    IpAddress: '-'\n  condition: s",
        ),
        rule(
            "long",
            "{product: windows, category: ps_script}",
            "  s:\n    ScriptBlockText|contains: 'Invoke-Mimikatz'\n  condition: s",
        ),
        rule("keyword", "{product: windows}", "  keywords:\n    - 'Temp\\evil.exe'\n  condition: keywords"),
        rule(
            "defender",
            "{product: windows, service: windefend}",
            "  s:\n    SourceName: 'Real-Time Protection'\n    ThreatName|endswith: 'EICAR_Test_File'\n  condition: s",
        ),
    ]
    .join("---\n");
    std::fs::write(&rules, rules_text).unwrap();
    let report: Value = serde_json::from_str(&ok(&[
        "hunt",
        "--case",
        path_str(&case),
        "--sigma",
        path_str(&rules),
        "--format",
        "json",
    ]))
    .unwrap();
    let hits = |id: &str| finding_count(&report, id);
    assert_eq!(hits("re-start"), 1, "^ anchors: record 2 only");
    assert_eq!(hits("re-case"), 0, "re is case-sensitive");
    assert_eq!(hits("re-case-i"), 1);
    assert_eq!(hits("data"), 1);
    assert_eq!(hits("padding"), 1);
    assert_eq!(hits("bare"), 1);
    assert_eq!(hits("dash"), 1);
    assert_eq!(hits("long"), 1);
    assert_eq!(hits("keyword"), 1);
    assert_eq!(hits("defender"), 1);

    // The same events exported as JSON lines and ingested into another case: their items come
    // back as written (the padding, the `-`), so every rule answers alike.
    let exported = dir.path().join("again/events.jsonl");
    std::fs::create_dir_all(exported.parent().unwrap()).unwrap();
    ok(&[
        "export",
        "--case",
        path_str(&case),
        "-o",
        path_str(&exported),
    ]);
    let again = dir.path().join("case-again");
    common::ingest(&again, &exported);
    let report_again: Value = serde_json::from_str(&ok(&[
        "hunt",
        "--case",
        path_str(&again),
        "--sigma",
        path_str(&rules),
        "--format",
        "json",
    ]))
    .unwrap();
    for id in [
        "re-start",
        "re-case",
        "re-case-i",
        "data",
        "padding",
        "bare",
        "dash",
        "long",
        "keyword",
        "defender",
    ] {
        assert_eq!(finding_count(&report_again, id), hits(id), "{id}");
    }
}
