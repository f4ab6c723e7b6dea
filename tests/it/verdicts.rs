//! Verdicts on small collections in the real formats (`tests/fixtures/verdicts/`), checked
//! through `trawl hunt --format json`: attribution behind balancers, a scanned server, routine
//! administration, and a ProxyShell web shell written by a mailbox export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{count, ok, path_str};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    common::repo().join("tests/fixtures/verdicts").join(name)
}

/// Ingests a fixture into a fresh case; returns (temp dir, case) and the hunt report.
fn hunt(name: &str) -> (tempfile::TempDir, PathBuf, Value) {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &fixture(name));
    let report = common::hunt_json(&case);
    (dir, case, report)
}

fn verdict<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["host"] == host)
        .unwrap_or_else(|| panic!("no verdict for {host}: {}", report["verdicts"]))
}

fn set(v: &Value, key: &str) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

/// Every cited event points back to a line of the evidence.
fn cites_evidence(v: &Value) {
    let evidence = v["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{v}");
    for e in evidence {
        assert!(e["file"].as_str().unwrap().contains("fixtures"), "{e}");
        assert!(e["line"].as_u64().unwrap() > 0, "{e}");
        assert!(e["ts"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(e["rule"].as_str().is_some() && e["outcome"].as_str().is_some());
    }
}

#[test]
fn behind_source_natting_balancers_the_client_comes_from_x_forwarded_for() {
    let (_dir, case, report) = hunt("behind-balancers");
    let v = verdict(&report, "EX1");
    assert_eq!(v["verdict"], "compromised");
    cites_evidence(v);
    // The window opens at the attacker's first malicious request, not at the balancers' first
    // health check (00:00) or at the first employee.
    assert_eq!(v["first"], "2021-08-10T10:02:11.000Z");
    assert_eq!(v["last"], "2021-08-10T11:03:31.000Z");
    let windows = report["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1);
    assert!(
        windows[0]["first_event"]["file"]
            .as_str()
            .unwrap()
            .ends_with("u_ex210810_x.log")
    );
    // The attacker is named from X-Forwarded-For; the forged left-most entries (127.0.0.1,
    // 8.8.8.8), the balancers, the cloud proxy's user and the employees are not.
    assert_eq!(
        set(&report["suspects"], "client"),
        BTreeSet::from(["203.0.113.50".to_string()])
    );
    for f in report["findings"].as_array().unwrap() {
        for c in f["clients"].as_array().unwrap() {
            assert!(
                !["10.0.0.5", "10.0.0.6", "127.0.0.1", "8.8.8.8"].contains(&c.as_str().unwrap()),
                "{c} in {}",
                f["rule"]
            );
        }
    }
    let shell = &report["webshells"][0];
    assert_eq!(shell["path"], "/aspnet_client/system_web/zz.aspx");
    assert_eq!(
        set(&shell["clients"], "client"),
        BTreeSet::from(["203.0.113.50".to_string()])
    );
    // Both balancers are listed as proxies, with why.
    let proxies: BTreeSet<String> = report["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "proxy")
        .map(|p| p["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        proxies,
        BTreeSet::from(["10.0.0.5".to_string(), "10.0.0.6".to_string()])
    );
    // The HttpProxy rows (ClientIpAddress = a balancer) inherit the client of their IIS line.
    assert_eq!(count(&case, "source:httpproxy AND client:203.0.113.50"), 2);
    assert_eq!(count(&case, "source:httpproxy AND ip:203.0.113.50"), 0);
    assert_eq!(count(&case, "client:192.0.2.201"), 4);
    assert_eq!(
        count(&case, "xff:127.0.0.1"),
        2,
        "forged entries stay searchable"
    );
    assert_eq!(
        count(&case, "client:10.0.0.5 AND NOT path:/owa/healthcheck.htm"),
        0
    );
}

/// The IIS logs often come first and Exchange's own logs later (another collection, another
/// responder), or an ingest is killed once the front ends are committed: the HttpProxy rows
/// ingested afterwards still name the client behind the balancer, from the front end's rows
/// already in the case. They named the balancer.
#[test]
fn proxy_rows_ingested_after_their_front_ends_name_the_client_behind_the_balancer() {
    let fixture = fixture("behind-balancers");
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &fixture.join("EX1/inetpub"));
    assert_eq!(count(&case, "source:httpproxy"), 0);
    common::ingest(&case, &fixture);
    assert_eq!(count(&case, "source:httpproxy AND client:203.0.113.50"), 2);
    assert_eq!(count(&case, "source:httpproxy AND client:10.0.0.5"), 0);
    assert_eq!(count(&case, "source:httpproxy AND client:10.0.0.6"), 0);
    let report = common::hunt_json(&case);
    assert_eq!(
        set(&report["suspects"], "client"),
        BTreeSet::from(["203.0.113.50".to_string()])
    );
    // A third ingest with nothing new changes nothing.
    common::ingest(&case, &fixture);
    assert_eq!(count(&case, "source:httpproxy AND client:203.0.113.50"), 2);
}

/// An attacker repeating its ProxyShell request's GUID (Exchange returns it in a response
/// header) in a request the front end does not proxy, so logged as sent, from another address:
/// the GUID stays the first request's, and the HttpProxy row still names the attacker. The GUID
/// was dropped as seen with two clients, and the row fell back to the balancer.
#[test]
fn a_request_guid_repeated_later_does_not_take_the_request_over() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("ev");
    let fixture = fixture("behind-balancers");
    for rel in [
        "EX1/inetpub/logs/LogFiles/W3SVC1/u_ex210810_x.log",
        "EX1/Logging/HttpProxy/Autodiscover/HttpProxy_2021081000-1.LOG",
        "EX1/Logging/HttpProxy/Owa/HttpProxy_2021081000-1.LOG",
    ] {
        let to = evidence.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fixture.join(rel), &to).unwrap();
    }
    let log = evidence.join("EX1/inetpub/logs/LogFiles/W3SVC1/u_ex210810_x.log");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("2021-08-10 23:59:00 10.0.4.11 GET /aspnet_client/a.txt x=&cafeReqId=5fc28d6e-4075-41a2-9e9b-726d514f3fc5; 443 - 10.0.0.5 curl/7.68 - 404 0 2 1 198.51.100.200\r\n");
    std::fs::write(&log, text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &evidence);
    assert_eq!(count(&case, "source:httpproxy AND client:203.0.113.50"), 2);
    assert_eq!(
        count(&case, "source:httpproxy AND client:198.51.100.200"),
        0
    );
}

/// The other order: Exchange's logs first (named the balancer then: nothing says otherwise),
/// the front end's IIS log in a later ingest that does not give them again. They are read again
/// from where they were read, and inherit; the case is then as if read in one ingest.
#[test]
fn proxy_rows_ingested_before_their_front_ends_are_attributed_when_the_front_end_comes() {
    let fixture = fixture("behind-balancers");
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &fixture.join("EX1/Logging"));
    assert_eq!(count(&case, "source:httpproxy AND client:203.0.113.50"), 0);
    let out = common::ingest(&case, &fixture.join("EX1/inetpub"));
    assert!(
        out.contains("2 HttpProxy or back-end logs already in the case read again (6 events)"),
        "{out}"
    );
    assert_eq!(count(&case, "source:httpproxy AND client:203.0.113.50"), 2);
    assert_eq!(count(&case, "source:httpproxy"), 6);
    assert_eq!(count(&case, "*"), 113);
    let report = common::hunt_json(&case);
    for f in report["findings"].as_array().unwrap() {
        for c in f["clients"].as_array().unwrap() {
            let c = c.as_str().unwrap();
            assert!(
                !["10.0.0.5", "10.0.0.6"].contains(&c),
                "{c} in {}",
                f["rule"]
            );
        }
    }
    // Nothing is read again by later ingests.
    let out = common::ingest(&case, &fixture);
    assert!(out.contains("3 unchanged"), "{out}");
    assert_eq!(count(&case, "*"), 113);
}

#[test]
fn a_server_that_was_only_scanned_is_attempted_or_probed() {
    let (_dir, _case, report) = hunt("scanned");
    let refused = verdict(&report, "EX2");
    assert_eq!(refused["verdict"], "attempted", "{refused}");
    cites_evidence(refused);
    assert_eq!(refused["first"], "2021-08-12T13:00:01.000Z");
    let scanned = verdict(&report, "EX3");
    assert_eq!(scanned["verdict"], "probed", "{scanned}");
    // A scanner with a browser's agent checking ProxyShell (the GET of /mapi/nspi through
    // autodiscover.json, answered 200 on a vulnerable server): checked, not compromised.
    let checked = verdict(&report, "EX6");
    assert_eq!(checked["verdict"], "probed", "{checked}");
    assert!(report["windows"].as_array().unwrap().is_empty());
    assert!(report["webshells"].as_array().unwrap().is_empty());
    // The refused attacker is named (an attempt), the scanner is not a suspect.
    let suspects = report["suspects"].as_array().unwrap();
    assert_eq!(
        set(&report["suspects"], "client"),
        BTreeSet::from(["198.51.100.77".to_string()])
    );
    assert_eq!(suspects[0]["role"], "attempt");
}

/// Microsoft's localhost check for ProxyLogon (its nmap script, scanners) is one request in
/// three logs: only HttpProxy's `AnchorMailbox` (`ServerInfo~localhost~…`) shows it is the check,
/// and the back end logs the front end's machine account, which alone reads as the SSRF
/// succeeding. The request is a probe in every log: the server was checked, not compromised
/// (it was COMPROMISED on the back end's line).
#[test]
fn a_localhost_check_is_a_probe_in_every_log_of_its_request() {
    let (_dir, case, report) = hunt("checked");
    let v = verdict(&report, "EX5");
    assert_eq!(v["verdict"], "probed", "{v}");
    assert!(report["windows"].as_array().unwrap().is_empty());
    assert!(report["suspects"].as_array().unwrap().is_empty());
    let backend = "rule:proxylogon-machine-account-backend";
    assert_eq!(count(&case, backend), 1);
    // The back end's row is counted with the check that its request was.
    assert_eq!(
        count(
            &case,
            &format!("{backend} AND rule:noise-ssrf-localhost-check")
        ),
        1
    );
    assert_eq!(count(&case, "rule:noise-ssrf-localhost-check"), 2);
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "proxylogon-machine-account-backend")
        .expect("the back end's finding");
    assert_eq!(finding["outcomes"]["probe"], 1, "{finding}");
    assert!(finding["outcomes"]["success"].is_null(), "{finding}");
    // Two rows, one request: counted as both.
    let check = report["noise"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "noise-ssrf-localhost-check")
        .expect("the check's finding");
    assert_eq!(
        (check["count"].as_u64(), check["requests"].as_u64()),
        (Some(2), Some(1)),
        "{check}"
    );
    let text = ok(&["hunt", "--case", path_str(&case)]);
    assert!(
        text.contains("noise-ssrf-localhost-check  2 event(s) in 1 request(s) (2 probe)"),
        "{text}"
    );
    // Every output says what each hit means, not what the rule's hits mean at most.
    assert_eq!(finding["examples"][0]["outcome"], "probe", "{finding}");
    let csv = ok(&["hunt", "--case", path_str(&case), "--format", "csv"]);
    let row = csv
        .lines()
        .find(|l| l.contains(",proxylogon-machine-account-backend,"))
        .expect("the back end's row");
    assert!(row.starts_with("compromise,medium,probe,"), "{row}");
    let md = ok(&["hunt", "--case", path_str(&case), "--format", "md"]);
    let row = md
        .lines()
        .find(|l| l.contains("`proxylogon-machine-account-backend`"))
        .expect("the back end's row");
    assert!(row.starts_with("| medium | 1 probe |"), "{row}");

    // Without the front end's IIS log, the back end's row has no real client to share with the
    // check's HttpProxy row: still one request, still a probe.
    let dir = tempfile::tempdir().unwrap();
    for rel in [
        "EX5/inetpub/logs/LogFiles/W3SVC2/u_ex210814.log",
        "EX5/Logging/HttpProxy/Ecp/HttpProxy_2021081409-1.LOG",
    ] {
        let to = dir.path().join("logs").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(fixture("checked").join(rel), to).unwrap();
    }
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("logs"));
    let report = common::hunt_json(&case);
    assert_eq!(verdict(&report, "EX5")["verdict"], "probed");
}

/// A scanner sweeping the check over many requests: each request's back-end row is a probe.
/// (A first version looked the requests' GUIDs up in the index, two hundred to a query; asked
/// bare, more than 64 stopped the ingest's detections with a query error.)
#[test]
fn many_checked_requests_are_each_a_probe() {
    let fixture = fixture("checked");
    let read = |rel: &str| std::fs::read_to_string(fixture.join(rel)).unwrap();
    let fe = read("EX5/inetpub/logs/LogFiles/W3SVC1/u_ex210814.log");
    let be = read("EX5/inetpub/logs/LogFiles/W3SVC2/u_ex210814.log");
    let proxy = read("EX5/Logging/HttpProxy/Ecp/HttpProxy_2021081409-1.LOG");
    let guid = "5d0c5e1a-7f3b-4c57-9a39-2d6c2e51a0b4";
    let dir = tempfile::tempdir().unwrap();
    let n = 150;
    // Each file's header, then its request row once per GUID.
    let spread = |text: &str, rel: &str| {
        let (head, rows): (Vec<&str>, Vec<&str>) = text
            .lines()
            .partition(|l| l.starts_with('#') || l.starts_with('\u{feff}'));
        let row = rows.iter().find(|l| l.contains(guid)).unwrap();
        let mut out: Vec<String> = head.iter().map(|l| l.to_string()).collect();
        out.extend(
            rows.iter()
                .filter(|l| !l.contains(guid))
                .map(|l| l.to_string()),
        );
        for i in 0..n {
            out.push(row.replace(guid, &format!("5d0c5e1a-7f3b-4c57-9a39-{i:012x}")));
        }
        let path = dir.path().join("logs/EX5").join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, out.join("\n") + "\n").unwrap();
    };
    spread(&fe, "inetpub/logs/LogFiles/W3SVC1/u_ex210814.log");
    spread(&be, "inetpub/logs/LogFiles/W3SVC2/u_ex210814.log");
    spread(&proxy, "Logging/HttpProxy/Ecp/HttpProxy_2021081409-1.LOG");
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("logs"));
    let backend = "rule:proxylogon-machine-account-backend";
    assert_eq!(count(&case, backend), n);
    assert_eq!(
        count(
            &case,
            &format!("{backend} AND rule:noise-ssrf-localhost-check")
        ),
        n
    );
    let report = common::hunt_json(&case);
    assert_eq!(verdict(&report, "EX5")["verdict"], "probed");
}

#[test]
fn routine_administration_and_look_alikes_are_never_compromise() {
    let (_dir, _case, report) = hunt("admin");
    let v = verdict(&report, "EX4");
    assert_ne!(v["verdict"], "compromised", "{v}");
    assert_ne!(v["verdict"], "attempted", "{v}");
    for f in report["findings"].as_array().unwrap() {
        let grave: u64 = ["compromise", "success", "attempt"]
            .iter()
            .filter_map(|o| f["outcomes"][o].as_u64())
            .sum();
        assert_eq!(grave, 0, "{} would call routine work an attack", f["rule"]);
    }
    assert!(report["suspects"].as_array().unwrap().is_empty());
    assert!(report["windows"].as_array().unwrap().is_empty());
    // What they did is still shown, as context.
    let rules = set(&report["findings"], "rule");
    for expected in [
        "mgmt-mailbox-export",
        "mgmt-mailbox-export-removed",
        "mgmt-import-export-role",
    ] {
        assert!(
            rules.contains(expected),
            "{expected} missing from {rules:?}"
        );
    }
    for never in [
        "ecp-oab-externalurl-script",
        "mgmt-oab-virtualdirectory-script",
        "mgmt-mailbox-export-to-web-folder",
        "tpl-cve-2021-27065-ecp",
        "ua-hafnium-ecp-exploit",
        "owassrf",
    ] {
        assert!(!rules.contains(never), "{never} matched routine work");
    }
}

/// A Sigma rule's level is urgency, not outcome: a `high` hit on routine work makes the host
/// worth review (`attempted`), never `compromised`; only a `critical` one (Sigma: "never
/// triggers on false positives") does, and each verdict cites the rule's events.
#[test]
fn a_sigma_high_hit_alone_is_not_a_compromise() {
    let (_dir, case, report) = hunt("admin");
    // Without the rule: at most probed (see the test above).
    let before = verdict(&report, "EX4")["verdict"].clone();
    assert!(before == "clean" || before == "probed", "{before}");
    let rule = |level: &str| {
        format!(
            "title: Mailbox export
id: 5b0c7e3a-9d41-4f6e-8a2b-1c3d5e7f9a0b
logsource:
  product: windows
  service: msexchange-management
detection:
  selection:
    - 'New-MailboxExportRequest'
  condition: selection
level: {level}
"
        )
    };
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    for (level, expected, outcome) in [
        ("high", "attempted", "attempt"),
        ("critical", "compromised", "success"),
        ("medium", before.as_str().unwrap(), "context"),
    ] {
        std::fs::write(case.join("sigma/export.yml"), rule(level)).unwrap();
        let report: Value = serde_json::from_str(&ok(&[
            "hunt",
            "--case",
            path_str(&case),
            "--rescan",
            "--format",
            "json",
        ]))
        .unwrap();
        let f = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "5b0c7e3a-9d41-4f6e-8a2b-1c3d5e7f9a0b")
            .unwrap_or_else(|| panic!("{level}: no finding: {}", report["findings"]));
        assert_eq!(f["outcomes"][outcome], f["count"], "{level}: {f}");
        let v = verdict(&report, "EX4");
        assert_eq!(v["verdict"], expected, "{level}: {v}");
        if expected != "clean" {
            cites_evidence(v);
        }
        if level == "high" {
            assert!(v["reasons"].to_string().contains("Mailbox export"), "{v}");
        }
    }
}

#[test]
fn a_proxyshell_web_shell_is_credited_to_the_export_that_wrote_it() {
    let (_dir, _case, report) = hunt("proxyshell");
    let v = verdict(&report, "EX5");
    assert_eq!(v["verdict"], "compromised");
    cites_evidence(v);
    assert_eq!(v["first"], "2021-08-14T03:10:01.000Z");
    assert_eq!(v["last"], "2021-08-14T05:31:59.000Z");
    let shells = report["webshells"].as_array().unwrap();
    assert_eq!(shells.len(), 1, "{shells:?}");
    let shell = &shells[0];
    assert_eq!(shell["path"], "/aspnet_client/x7q.aspx");
    assert_eq!(shell["requests"], 7);
    assert_eq!(shell["posts"], 6);
    // The export naming this very file, not the earlier one to a file share.
    let written = &shell["written_by"];
    assert!(
        written["file"]
            .as_str()
            .unwrap()
            .ends_with("MSExchangeManagement.csv"),
        "{shell}"
    );
    assert_eq!(written["ts"], "2021-08-14T03:11:52.330Z");
    assert!(written["summary"].as_str().unwrap().contains("x7q.aspx"));
    // Driven from a second address; both are named.
    let clients = set(&shell["clients"], "client");
    assert_eq!(
        clients,
        BTreeSet::from(["198.51.100.60".to_string(), "203.0.113.61".to_string()])
    );
    let users: Vec<&Value> = shell["clients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["client"] == "203.0.113.61")
        .collect();
    assert_eq!(users[0]["requests"], 6);
    assert_eq!(
        set(&report["suspects"], "client"),
        BTreeSet::from(["198.51.100.60".to_string(), "203.0.113.61".to_string()])
    );
}

#[test]
fn a_public_proxy_is_believed_only_when_declared() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir
        .path()
        .join("EX9/inetpub/logs/LogFiles/W3SVC1/u_ex210815_x.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(
        &log,
        "#Software: Microsoft Internet Information Services 10.0\r\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For\r\n\
         2021-08-15 10:00:00 10.0.8.19 GET /owa/ - 443 - 192.0.2.10 Mozilla/5.0 - 200 0 0 5 203.0.113.5\r\n\
         2021-08-15 10:00:01 10.0.8.19 GET /owa/ - 443 - 192.0.2.11 Mozilla/5.0 - 200 0 0 5 203.0.113.6\r\n",
    )
    .unwrap();
    let count = |case: &Path, q: &str| count(case, q);
    // Undeclared, a public address's X-Forwarded-For could be forged: it is its own client, and
    // listed as a forwarder that is not believed.
    let plain = dir.path().join("plain");
    common::ingest(&plain, &log);
    assert_eq!(count(&plain, "client:192.0.2.10"), 1);
    let stats = ok(&["stats", "--case", path_str(&plain)]);
    assert!(stats.contains("untrusted forwarder"), "{stats}");
    // Declared in the case's trawl.toml: the client is behind it.
    let declared = dir.path().join("declared");
    std::fs::create_dir_all(&declared).unwrap();
    std::fs::write(
        declared.join("trawl.toml"),
        "trusted_proxies = [\"192.0.2.10\"]\n",
    )
    .unwrap();
    common::ingest(&declared, &log);
    assert_eq!(count(&declared, "client:203.0.113.5"), 1);
    assert_eq!(
        count(&declared, "client:192.0.2.11"),
        1,
        "only what is declared"
    );
    // Or on the command line.
    let flag = dir.path().join("flag");
    ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&flag),
        "--trusted-proxy",
        "192.0.2.0/28",
        path_str(&log),
    ]);
    assert_eq!(count(&flag, "client:203.0.113.0/24"), 2);
    let bad = common::run(&[
        "ingest",
        "--case",
        path_str(&flag),
        "--trusted-proxy",
        "example.org",
        path_str(&log),
    ]);
    assert_eq!(bad.status.code(), Some(2), "a bad CIDR is a usage error");
}

/// A user agent is what the client says of itself. A scanner's check (the ProxyShell MAPI page,
/// by its request's shape) answered 200 is a probe whatever agent sent it; a ProxyShell
/// PowerShell session answered 200 (no check sends one) under a scanner's agent is an attempt:
/// never a compromise on the agent's word, and never hidden as a probe by it (it was).
#[test]
fn a_scanners_agent_never_hides_a_success_as_a_probe() {
    let header = "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n";
    let session = |ua: &str| {
        (1..=3)
            .map(|i| format!("2021-08-10 10:00:0{i} 10.0.0.1 POST /autodiscover/autodiscover.json @evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z&Email=autodiscover/autodiscover.json%3F@evil.com 443 - 198.51.100.77 {ua} - 200 0 0 10\r\n"))
            .collect::<String>()
    };
    let check = "2021-08-10 09:00:00 10.0.0.1 GET /autodiscover/autodiscover.json @test.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@test.com 443 - 192.0.2.9 Mozilla/5.0+zgrab/0.x - 200 0 0 10\r\n";
    for (rows, expected) in [
        (session("Go-http-client/1.1"), "compromised"),
        (session("Mozilla/5.0+zgrab/0.x"), "attempted"),
        (session("python-requests/2.26.0+(scanner)"), "attempted"),
        (check.to_string(), "probed"),
        // Refused, scanners' checks are probes, whatever rule they match.
        (
            "2021-08-10 03:12:44 10.0.0.1 GET /autodiscover/autodiscover.json @zdi/PowerShell?&Email=autodiscover/autodiscover.json%3F@zdi 443 - 45.146.164.110 Mozilla/5.0+zgrab/0.x - 401 0 0 3\r\n\
             2021-08-10 03:20:00 10.0.0.1 POST /ecp/y.js - 443 - 192.0.2.50 Mozilla/5.0+(compatible;+Nessus) - 404 0 2 3\r\n"
                .to_string(),
            "probed",
        ),
        // Outlook's and Teams' Autodiscover v2 name the protocol they want: routine.
        (
            "2021-08-10 08:07:11 10.0.0.1 GET /autodiscover/autodiscover.json Email=t.nguyen%40corp.example&Protocol=EWS&RedirectCount=1 443 - 172.16.30.46 Microsoft+Office/16.0+(Macintosh;+Mac+OS+X+10.15;+Microsoft+Outlook+16.45) - 200 0 0 31\r\n\
             2021-08-10 08:07:12 10.0.0.1 GET /autodiscover/autodiscover.json Email=t.nguyen%40corp.example&Protocol=ActiveSync&RedirectCount=1 443 - 172.16.30.47 Outlook-iOS/709.2226530.prod.iphone+(4.30.0) - 200 0 0 31\r\n"
                .to_string(),
            "clean",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("EX7/W3SVC1");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("u_ex210810.log"), format!("{header}{rows}")).unwrap();
        let case = dir.path().join("case");
        common::ingest(&case, dir.path());
        let report = common::hunt_json(&case);
        assert_eq!(
            verdict(&report, "EX7")["verdict"],
            expected,
            "{rows}\n{report}"
        );
    }
}

/// A private address naming many clients in X-Forwarded-For but never checking the servers'
/// health, whose forwarded requests are mostly attacks, is what a foothold inside the network
/// writing the header looks like: a doubtful forwarder, named a suspect beside the addresses
/// it wrote, not a balancer whose header hides it.
#[test]
fn a_forwarder_of_mostly_attacks_without_health_checks_is_a_suspect() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("ev/EX1/inetpub/logs/LogFiles/W3SVC1");
    std::fs::create_dir_all(&logs).unwrap();
    let mut text = String::from(
        "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2021-08-10 00:00:00\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For\n",
    );
    for i in 10..22 {
        text.push_str(&format!(
            "2021-08-10 10:{i}:00 10.0.4.11 POST /aspnet_client/system_web/zz.aspx - 443 - 10.5.5.5 Mozilla/5.0 - 200 0 0 86 192.0.2.{i}\n"
        ));
    }
    text.push_str("2021-08-10 11:00:00 10.0.4.11 GET /owa/ - 443 - 10.5.5.5 Mozilla/5.0 - 200 0 0 1 198.51.100.9\n");
    std::fs::write(logs.join("u_ex210810.log"), text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, &dir.path().join("ev"));
    let report = common::hunt_json(&case);
    let proxy = report["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == "10.5.5.5")
        .expect("listed");
    assert_eq!(proxy["role"], "doubtful forwarder", "{proxy}");
    assert!(
        set(&report["suspects"], "client").contains("10.5.5.5"),
        "{}",
        report["suspects"]
    );
    assert_eq!(verdict(&report, "EX1")["verdict"], "compromised");
}

/// Logs read again when their front end comes are read from where they were read only while
/// that path still holds what was read: a path recorded relative to another working directory
/// now names another server's log, which must not replace the evidence (it did, and the
/// attacker's row vanished). Given again by another spelling of their path, they are read
/// once, not doubled.
#[test]
fn logs_read_again_for_their_clients_are_the_same_logs_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let header = "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2021-08-10 00:00:00\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken X-Forwarded-For\n";
    let guid = "11111111-2222-4333-8444-555555555555";
    let write = |server: &str, site: &str, line: &str| {
        let folder = dir
            .path()
            .join(server)
            .join("inetpub/logs/LogFiles")
            .join(site);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("u_ex210810.log"), format!("{header}{line}\n")).unwrap();
    };
    // EX1's back end, and EX2's front end proxying that request to it.
    write(
        "EX1",
        "W3SVC2",
        &format!(
            "2021-08-10 10:00:01 10.0.4.11 POST /ecp/DDI/DDIService.svc/SetObject schema=OABVirtualDirectory&cafeReqId={guid}; 444 - 10.0.4.12 Mozilla/5.0 - 200 0 0 5 -"
        ),
    );
    write(
        "EX2",
        "W3SVC1",
        &format!(
            "2021-08-10 10:00:01 10.0.4.12 POST /ecp/y.js &CorrelationID=<empty>;&cafeReqId={guid}; 443 - 10.0.0.5 Mozilla/5.0 - 200 0 0 5 203.0.113.50"
        ),
    );
    // EX2's own back end, at the same relative path as EX1's, never given.
    write(
        "EX2",
        "W3SVC2",
        "2021-08-10 11:00:00 10.0.4.12 GET /owa/ - 444 - 10.0.4.11 Mozilla/5.0 - 200 0 0 5 -",
    );
    let case = dir.path().join("case");
    let in_dir = |cwd: &str, input: &str| {
        let out = common::trawl()
            .current_dir(dir.path().join(cwd))
            .args(["ingest", "--quiet", "--case", path_str(&case), input])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    in_dir("EX1", "inetpub/logs/LogFiles/W3SVC2");
    let out = in_dir("EX2", "inetpub/logs/LogFiles/W3SVC1");
    assert!(out.contains("no longer holds what was read"), "{out}");
    assert_eq!(count(&case, "*"), 2, "EX2's back end was not given");
    assert_eq!(count(&case, "path:/ecp/DDI/DDIService.svc/SetObject"), 1);
    // Given again, by its absolute path: read again once, now with its client.
    let ex1 = dir.path().join("EX1/inetpub/logs/LogFiles/W3SVC2");
    let out = common::ingest(&case, &ex1);
    assert!(out.contains("1 changed and re-read"), "{out}");
    assert_eq!(count(&case, "*"), 2);
    assert_eq!(
        count(
            &case,
            "path:/ecp/DDI/DDIService.svc/SetObject AND client:203.0.113.50"
        ),
        1
    );
    let out = common::ingest(&case, &ex1);
    assert!(out.contains("1 unchanged"), "{out}");
}

/// A script under /owa/auth/ that many clients post to from the first day of the logs (an MFA
/// or branding add-on) is the site's: its POSTs are context, never "compromised", and the
/// verdict says why. A script only a few post to from that day, or any under /aspnet_client/,
/// is taken for a web shell that predates the logs, as before.
#[test]
fn a_script_of_the_site_many_post_to_is_no_web_shell() {
    let dir = tempfile::tempdir().unwrap();
    let header = "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n#Date: 2021-08-10 00:00:00\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n";
    let write = |server: &str, script: &str, clients: u32, before: &str| {
        let folder = dir.path().join(server).join("inetpub/logs/LogFiles/W3SVC1");
        std::fs::create_dir_all(&folder).unwrap();
        let mut text = header.to_string();
        // The day the logs begin, then the script's POSTs from it on.
        text.push_str("2021-08-10 00:00:00 10.0.6.14 GET /owa/healthcheck.htm - 443 - 10.0.0.9 - - 200 0 0 20\n");
        text.push_str(before);
        for c in 0..clients {
            text.push_str(&format!(
                "2021-08-10 08:{c:02}:00 10.0.6.14 POST {script} - 443 - 198.51.100.{} Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) - 200 0 0 31\n",
                10 + c
            ));
        }
        std::fs::write(folder.join("u_ex210810.log"), text).unwrap();
    };
    // A refused ProxyShell check, as every server on the internet gets, plants nothing; nor do
    // the host's event logs reaching back before its web logs move their first day.
    write(
        "EX7",
        "/owa/auth/CustomMfa.aspx",
        8,
        "2021-08-10 03:12:44 10.0.6.14 GET /autodiscover/autodiscover.json @x/PowerShell?&Email=autodiscover/autodiscover.json%3F@x 443 - 45.146.164.110 Mozilla/5.0 - 401 0 0 3\n",
    );
    let events = dir.path().join("EX7/EventLogs");
    std::fs::create_dir_all(&events).unwrap();
    std::fs::write(
        events.join("System.csv"),
        "\"TimeCreated\",\"Id\",\"LevelDisplayName\",\"ProviderName\",\"LogName\",\"MachineName\",\"Message\"\n\"2021-08-01T08:00:00.0000000Z\",\"7036\",\"Information\",\"Service Control Manager\",\"System\",\"EX7.corp.example\",\"The Windows Update service entered the running state.\"\n",
    )
    .unwrap();
    write("EX8", "/owa/auth/shelly.aspx", 2, "");
    // /aspnet_client/ holds no script of a site, however many post to it.
    write("EX9", "/aspnet_client/system_web/x.aspx", 8, "");
    // A file asked for and not there on the first day (404) was planted later, however many
    // post to it then.
    let late = dir.path().join("EX10/inetpub/logs/LogFiles/W3SVC1");
    std::fs::create_dir_all(&late).unwrap();
    let mut text = header.to_string();
    text.push_str("2021-08-10 00:00:00 10.0.6.14 GET /owa/auth/OutlookJP.aspx - 443 - 192.0.2.1 Mozilla/5.0 - 404 0 2 20\n");
    for c in 0..6 {
        text.push_str(&format!("2021-08-19 08:0{c}:00 10.0.6.14 POST /owa/auth/OutlookJP.aspx - 443 - 203.0.113.{} Mozilla/5.0 - 200 0 0 31\n", 10 + c));
    }
    std::fs::write(late.join("u_ex210810.log"), text).unwrap();
    let case = dir.path().join("case");
    common::ingest(&case, dir.path());
    let report = common::hunt_json(&case);

    let site = verdict(&report, "EX7");
    // Attempted, by the refused check: not compromised.
    assert_eq!(site["verdict"], "attempted", "{site}");
    let reasons = site["reasons"].to_string();
    assert!(
        reasons.contains("/owa/auth/CustomMfa.aspx by 8 clients")
            && reasons.contains("the site's own script"),
        "{reasons}"
    );
    let shell = verdict(&report, "EX8");
    assert_eq!(shell["verdict"], "compromised", "{shell}");
    assert!(
        shell["evidence"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("u_ex210810.log")
    );
    let shells: Vec<(&str, &str)> = report["webshells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["host"].as_str().unwrap(), s["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shells,
        [
            ("EX9", "/aspnet_client/system_web/x.aspx"),
            ("EX8", "/owa/auth/shelly.aspx"),
            ("EX10", "/owa/auth/OutlookJP.aspx")
        ]
    );
    assert_eq!(verdict(&report, "EX10")["verdict"], "compromised");
    assert_eq!(verdict(&report, "EX9")["verdict"], "compromised");
    // The rule's finding counts the site's POSTs as context, the shell's as compromise.
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "webshell-post-to-script-in-shell-location")
        .unwrap();
    assert_eq!(finding["outcomes"]["compromise"], 16, "{finding}");
    assert_eq!(finding["outcomes"]["context"], 8, "{finding}");
}

/// With only a mailbox server's back-end log (W3SVC2, port 444), every row's `c-ip` is the front
/// end that proxied it: the exploitation is still a compromise, but the front end is never
/// named its client, a suspect or an indicator; the client is unknown. And an OAB write that
/// climbs out of the OAB folder with `..` is a compromise and a web shell where it lands,
/// where an install on another drive writing its own OAB folder is routine.
#[test]
fn a_back_end_log_alone_names_no_front_end_and_oab_writes_land_where_they_land() {
    let dir = tempfile::tempdir().unwrap();
    let back_end = dir.path().join("MBX2/inetpub/logs/LogFiles/W3SVC2");
    std::fs::create_dir_all(&back_end).unwrap();
    let row = |time: &str, path: &str, query: &str, status: u16| {
        format!(
            "2021-03-05 {time} 10.0.4.22 POST {path} {query}&CorrelationID=<empty>;&cafeReqId=6ba8f8ee-ea59-fdda-6b28-38e0133f52{}; 444 CORP\\EX1$ 10.0.4.11 python-requests/2.25.1 - {status} 0 0 366\n",
            &time[6..]
        )
    };
    let mut text = String::from(
        "#Software: Microsoft Internet Information Services 10.0\n#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n",
    );
    text.push_str(&row("17:42:19", "/ecp/proxyLogon.ecp", "", 241));
    // Port 444 reached directly, not through a front end: no request GUID, its peer is its
    // client.
    text.push_str(
        "2021-03-05 17:42:20 10.0.4.22 POST /powershell - 444 - 10.1.2.3 Mozilla/5.0 - 401 0 0 5\n",
    );
    text.push_str(&row(
        "17:42:27",
        "/ecp/DDI/DDIService.svc/SetObject",
        "msExchEcpCanary=abc&schema=OABVirtualDirectory",
        200,
    ));
    std::fs::write(back_end.join("u_ex210305.log"), text).unwrap();
    let oab = |host: &str, lines: &[&str]| {
        let folder = dir.path().join(host).join("Logging/OABGeneratorLog");
        std::fs::create_dir_all(&folder).unwrap();
        let text: String = lines
            .iter()
            .map(|path| format!("2021-03-05T17:44:00.456Z Download failed and temporary file '{path}' needs to be removed.\n"))
            .collect();
        std::fs::write(folder.join("OABGenerator_20210305-1.LOG"), text).unwrap();
    };
    oab(
        "EX3",
        &[
            r"C:\Program Files\Microsoft\Exchange Server\V15\ClientAccess\OAB\..\..\FrontEnd\HttpProxy\owa\auth\zz.aspx",
        ],
    );
    oab(
        "EX4",
        &[r"D:\Exchange Server\V15\ClientAccess\OAB\Temp\4a7c\oab.lzx"],
    );
    let case = dir.path().join("case");
    common::ingest(&case, dir.path());
    let report = common::hunt_json(&case);

    assert_eq!(verdict(&report, "MBX2")["verdict"], "compromised");
    assert_eq!(count(&case, "host:MBX2 AND client:*"), 1);
    assert_eq!(count(&case, "host:MBX2 AND client:10.1.2.3"), 1);
    assert_eq!(count(&case, "host:MBX2 AND ip:10.0.4.11"), 2);
    assert!(
        report["suspects"].as_array().unwrap().is_empty(),
        "{report}"
    );
    for f in report["findings"].as_array().unwrap() {
        assert!(
            !f["clients"].to_string().contains("10.0.4.11"),
            "{} names the front end",
            f["rule"]
        );
    }

    assert_eq!(verdict(&report, "EX3")["verdict"], "compromised");
    let shells: Vec<(&str, &str)> = report["webshells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["host"].as_str().unwrap(), s["path"].as_str().unwrap()))
        .collect();
    assert_eq!(shells, [("EX3", "/owa/auth/zz.aspx")]);
    assert_eq!(verdict(&report, "EX4")["verdict"], "clean");
}

/// HttpProxy rows alone (Test-ProxyLogon's collection), all from a declared balancer: its
/// requests are counted, and it is never their client, a suspect or an indicator; their client
/// is unknown.
#[test]
fn a_declared_balancer_is_never_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ok(&[
        "ingest",
        "--quiet",
        "--trusted-proxy",
        "10.0.0.5",
        "--case",
        path_str(&case),
        path_str(&fixture("declared-balancer")),
    ]);
    let report = common::hunt_json(&case);
    assert_eq!(verdict(&report, "EX1")["verdict"], "compromised");
    let proxy = report["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == "10.0.0.5")
        .expect("listed");
    assert_eq!(proxy["events"], 6, "{proxy}");
    assert!(
        proxy["why"].as_str().unwrap().contains("client is unknown"),
        "{proxy}"
    );
    assert!(report["suspects"].as_array().unwrap().is_empty());
    for f in report["findings"].as_array().unwrap() {
        assert!(
            !f["clients"].to_string().contains("10.0.0.5"),
            "{} names the balancer",
            f["rule"]
        );
    }
    assert_eq!(count(&case, "client:*"), 0);
}
