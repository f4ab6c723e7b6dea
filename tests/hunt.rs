//! `trawl hunt` on the sample case: the whole intrusion, none of the decoys; custom rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{json_lines, ok, path_str, run};
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

fn hunt_json(case: &Path) -> Value {
    serde_json::from_str(&ok(&["hunt", "--case", path_str(case), "--format", "json"])).unwrap()
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
    // Both addresses, and nothing else.
    assert_eq!(
        strings(&report["suspects"], "ip"),
        BTreeSet::from(["198.51.100.144".to_string(), "203.0.113.77".to_string()])
    );
    for s in report["suspects"].as_array().unwrap() {
        assert!(!s["reasons"].as_array().unwrap().is_empty());
    }
    // Both web shells, with their clients and what wrote them.
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
        assert_eq!(
            strings(&w["clients"], "ip"),
            BTreeSet::from(["198.51.100.144".to_string(), "203.0.113.77".to_string()])
        );
        assert!(w["written_by"]["file"].as_str().is_some(), "{w}");
    }
    let redir = shells
        .iter()
        .find(|w| w["path"] == "/owa/auth/RedirSuiteServerProxy.aspx")
        .unwrap();
    assert!(
        redir["written_by"]["file"]
            .as_str()
            .unwrap()
            .contains("OABGeneratorLog")
    );
    // The window: from the first probe of the exploiting address to the last shell request.
    let windows = report["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "MBX-B was not compromised: {windows:?}");
    assert_eq!(windows[0]["host"], "MBX-A");
    assert_eq!(windows[0]["first"], "2021-03-05T17:41:58.000Z");
    assert!(
        windows[0]["last"]
            .as_str()
            .unwrap()
            .starts_with("2021-03-06T03:58:11")
    );
    // Test-ProxyLogon's verdicts on the same rows (sample-logs/README.md, answer key).
    let count = |rule: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == rule)
            .map_or(0, |f| f["count"].as_u64().unwrap())
    };
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
    ];
    for f in report["findings"].as_array().unwrap() {
        for ip in f["ips"].as_array().unwrap() {
            assert!(
                !decoys.contains(&ip.as_str().unwrap()),
                "decoy {ip} in {}",
                f["rule"]
            );
        }
        assert_eq!(
            f["hosts"].as_array().unwrap(),
            &vec![Value::from("MBX-A")],
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
    assert!(
        text.contains("VERDICT: MBX-A compromised: first malicious event 2021-03-05T17:41:58.000Z"),
        "{text}"
    );
    assert!(text.contains("Web shells (inferred):"));
    assert!(
        !text.contains('\x1b'),
        "escape sequences from logs are shown escaped"
    );
    let md = ok(&["hunt", "--case", path_str(case), "--format", "md"]);
    assert!(md.contains("## Findings") && md.contains("## Web shells"));
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
    assert!(csv.starts_with("category,severity,rule,title,ts,file,line,summary\n"));
    assert!(csv.lines().count() > 20);
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
    let report: Value = serde_json::from_str(&ok(&[
        "hunt",
        "--case",
        path_str(&case),
        "--format",
        "json",
    ]))
    .unwrap();
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
