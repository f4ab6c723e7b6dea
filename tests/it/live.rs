//! Following logs that grow (`trawl ingest --follow`): the real binary follows a folder while
//! another process searches the case; appended lines, new files and files rewritten in place
//! arrive once; after the follower is killed, a plain ingest completes the case exactly.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, path_str};

/// The bundled IIS log these tests take lines from (4 header lines, then records).
fn sample_lines() -> Vec<String> {
    let path = common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes the header and records `from..to` of the sample log to `path` (replacing it).
fn write_log(path: &Path, lines: &[String], from: usize, to: usize) {
    let mut text: Vec<&str> = lines[..4].iter().map(String::as_str).collect();
    text.extend(lines[4 + from..4 + to].iter().map(String::as_str));
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

fn append_log(path: &Path, lines: &[String], from: usize, to: usize) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    for line in &lines[4 + from..4 + to] {
        writeln!(f, "{line}").unwrap();
    }
}

/// A follower that is killed when the test ends, whatever happens.
struct Follower(Child);

impl Follower {
    fn start(case: &Path, evidence: &Path) -> Follower {
        let child = common::trawl()
            .args(["ingest", "--follow", "--quiet", "--case"])
            .args([path_str(case), path_str(evidence)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the follower");
        Follower(child)
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The number of events another process finds in the case (None while it does not exist).
fn count(case: &Path, query: &str) -> Option<u64> {
    let out = common::run(&["search", "--case", path_str(case), query, "--count"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .flatten()
}

/// Waits until a search in another process counts `n` events; the deadline only guards
/// against hanging, it is not a measurement.
fn wait_for_count(case: &Path, query: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = count(case, query);
        if seen == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the case never held {n} events for {query:?} (last seen {seen:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The case's readable manifest once `done` holds for it.
fn wait_for_manifest(case: &Path, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let manifest = std::fs::read_to_string(case.join("manifest.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        if let Some(manifest) = manifest.filter(|m| done(m)) {
            return manifest;
        }
        assert!(
            Instant::now() < deadline,
            "the case's manifest.json never reached the state waited for"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every event's (file, line): each must be there once.
fn event_lines(case: &Path) -> Vec<(String, u64)> {
    let out = common::ok(&[
        "search",
        "--case",
        path_str(case),
        "*",
        "--json",
        "--limit",
        "100000",
    ]);
    common::json_lines(&out)
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_follower_ingests_appended_lines_and_new_files_and_a_plain_ingest_completes_it_exactly() {
    let lines = sample_lines();
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev/W3SVC1"));
    std::fs::create_dir_all(&evidence).unwrap();
    let (first, second) = (evidence.join("u_ex1.log"), evidence.join("u_ex2.log"));
    write_log(&first, &lines, 0, 10);

    let mut follower = Follower::start(&case, &dir.path().join("ev"));
    wait_for_count(&case, "*", 10);
    append_log(&first, &lines, 10, 30);
    wait_for_count(&case, "*", 30);
    write_log(&second, &lines, 100, 105);
    wait_for_count(&case, "*", 35);

    // Killed mid-follow; the log grows meanwhile; a plain ingest takes it from the last commit.
    follower.0.kill().unwrap();
    follower.0.wait().unwrap();
    append_log(&first, &lines, 30, 33);
    common::ingest(&case, &dir.path().join("ev"));
    let events = event_lines(&case);
    assert_eq!(events.len(), 38);
    let distinct: BTreeSet<_> = events.iter().collect();
    assert_eq!(distinct.len(), 38, "an event was doubled: {events:?}");
    let first_lines: BTreeSet<u64> = events
        .iter()
        .filter(|(f, _)| f.ends_with("u_ex1.log"))
        .map(|(_, l)| *l)
        .collect();
    assert_eq!(
        first_lines,
        (5..=37).collect(),
        "every record line of the grown log, once"
    );
}

#[test]
fn a_followed_file_truncated_and_rewritten_is_read_again_never_doubled() {
    let lines = sample_lines();
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev"));
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("u_ex1.log");
    write_log(&log, &lines, 0, 10);

    let _follower = Follower::start(&case, &log);
    wait_for_count(&case, "*", 10);
    // Truncated and rewritten with other records (a log recycled under the same name).
    write_log(&log, &lines, 200, 203);
    wait_for_count(&case, "*", 3);
    let out = common::ok(&["search", "--case", path_str(&case), "*", "--json"]);
    let raws: Vec<String> = common::json_lines(&out)
        .iter()
        .map(|e| e["raw"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(raws, lines[204..207], "only the new records, each once");
}

#[test]
fn a_followed_log_rotated_under_its_name_is_neither_doubled_nor_lost() {
    let lines = sample_lines();
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev"));
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("HttpProxy.LOG");
    write_log(&log, &lines, 0, 10);

    let _follower = Follower::start(&case, &evidence);
    wait_for_count(&case, "*", 10);
    append_log(&log, &lines, 10, 12);
    // Rotated: the old log keeps its content under another name, a new one takes the name.
    std::fs::rename(&log, evidence.join("HttpProxy.LOG.1")).unwrap();
    write_log(&log, &lines, 300, 304);
    wait_for_count(&case, "*", 16);
    append_log(&log, &lines, 304, 306);
    wait_for_count(&case, "*", 18);
    let events = event_lines(&case);
    let distinct: BTreeSet<_> = events.iter().collect();
    assert_eq!((events.len(), distinct.len()), (18, 18));
}

/// A writer caught mid-line: the unfinished line waits for its end (no malformed record, no
/// re-read of the whole file), and arrives once finished.
#[test]
fn a_line_being_written_waits_for_its_end() {
    let lines = sample_lines();
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev"));
    std::fs::create_dir_all(&evidence).unwrap();
    let (log, other) = (evidence.join("u_ex1.log"), evidence.join("u_ex2.log"));
    write_log(&log, &lines, 0, 10);
    write_log(&other, &lines, 50, 51);
    let out_path = dir.path().join("follower.out");
    let mut follower = Follower(
        common::trawl()
            .args(["ingest", "--follow", "--quiet", "--case"])
            .args([path_str(&case), path_str(&evidence)])
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_count(&case, "*", 11);

    // Half of a line, then a whole line in another file: once that one is in, the round that
    // took it has seen the half line too.
    let record = &lines[4 + 10];
    let (first_half, second_half) = record.split_at(record.len() / 2);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    write!(f, "{first_half}").unwrap();
    f.flush().unwrap();
    append_log(&other, &lines, 51, 52);
    wait_for_count(&case, "*", 12);
    let stats: serde_json::Value =
        serde_json::from_str(&common::ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(
        stats["malformed"], 0,
        "the half line is not a malformed record"
    );

    writeln!(f, "{second_half}").unwrap();
    drop(f);
    wait_for_count(&case, "*", 13);
    follower.0.kill().unwrap();
    follower.0.wait().unwrap();
    let out = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        !out.lines()
            .any(|l| l.contains("+") && !l.contains(" 0 changed and re-read")),
        "no file read again whole:\n{out}"
    );
    let raws: Vec<String> = common::json_lines(&common::ok(&[
        "search",
        "--case",
        path_str(&case),
        "*",
        "--json",
        "--limit",
        "100",
    ]))
    .iter()
    .map(|e| e["raw"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(
        raws.iter().filter(|r| *r == record).count(),
        1,
        "the finished line, once"
    );
}

/// Following, a grown log is read on from where the last round stopped: the lines that
/// arrive (a new `#Fields` block among them, as IIS writes after a restart) point back to
/// their own lines, and the hash carried on from round to round is the file's.
#[test]
fn a_followed_log_is_read_on_from_where_it_stopped() {
    let lines = sample_lines();
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev"));
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("u_ex1.log");
    write_log(&log, &lines, 0, 10);
    let _follower = Follower::start(&case, &evidence);
    wait_for_count(&case, "*", 10);
    append_log(&log, &lines, 10, 15);
    wait_for_count(&case, "*", 15);
    // A new header block with the columns in another order, then records in that order.
    let fields_line = &lines[3];
    let mut names: Vec<&str> = fields_line["#Fields: ".len()..].split(' ').collect();
    names.swap(0, 1);
    let reorder = |record: &str| {
        let mut values: Vec<&str> = record.split(' ').collect();
        values.swap(0, 1);
        values.join(" ")
    };
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(
        f,
        "{}\n{}\n#Fields: {}",
        lines[0],
        lines[1],
        names.join(" ")
    )
    .unwrap();
    for record in &lines[4 + 15..4 + 17] {
        writeln!(f, "{}", reorder(record)).unwrap();
    }
    drop(f);
    wait_for_count(&case, "*", 17);

    let text = std::fs::read_to_string(&log).unwrap();
    let file_lines: Vec<&str> = text.lines().collect();
    let events = common::json_lines(&common::ok(&[
        "search",
        "--case",
        path_str(&case),
        "*",
        "--json",
        "--limit",
        "100",
    ]));
    for e in &events {
        let line = e["line"].as_u64().unwrap() as usize;
        assert_eq!(
            e["raw"].as_str().unwrap(),
            file_lines[line - 1],
            "file:line points back"
        );
    }
    // The reordered records (date and time swapped) were read with the new header: read
    // with the old one, their times would not parse.
    let stats: serde_json::Value =
        serde_json::from_str(&common::ok(&["stats", "--case", path_str(&case), "--json"])).unwrap();
    assert_eq!(stats["malformed"], 0);
    // The readable copy of the manifest is written just after the commit the search saw.
    let manifest = wait_for_manifest(&case, |m| {
        m["files"][0]["resume"]["offset"].as_u64() == Some(text.len() as u64)
    });
    let record = &manifest["files"][0];
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        record["sha256"].as_str(),
        Some(sha.as_str()),
        "the carried hash is the file's"
    );
    assert_eq!(record["resume"]["offset"].as_u64(), Some(text.len() as u64));
}

/// Behind a source-NATting balancer, an HttpProxy row takes its client from the front end's
/// IIS line of the same request. IIS and HttpProxy write at different times, so followed, the
/// IIS line comes in one round and the HttpProxy row in a later one: the row still names the
/// client behind the balancer (it named the balancer).
#[test]
fn a_followed_proxy_row_finds_its_client_in_an_earlier_round() {
    let dir = tempfile::tempdir().unwrap();
    let sample = common::sample_logs().join("MBX-C");
    let iis_from = sample.join("inetpub/logs/LogFiles/W3SVC1/u_ex210305_x.log");
    let proxy_from = sample.join("Logging/HttpProxy/Autodiscover/HttpProxy_2021030500-1.LOG");
    let evidence = dir.path().join("ev/MBX-C");
    let iis = evidence.join("inetpub/logs/LogFiles/W3SVC1/u_ex210305_x.log");
    let proxy = evidence.join("Logging/HttpProxy/Autodiscover/HttpProxy_2021030500-1.LOG");
    std::fs::create_dir_all(iis.parent().unwrap()).unwrap();
    std::fs::create_dir_all(proxy.parent().unwrap()).unwrap();
    let id = "623d7125-4a39-43a2-b281-22633d45f0ea";
    let iis_lines: Vec<String> = std::fs::read_to_string(&iis_from)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let proxy_lines: Vec<String> = std::fs::read_to_string(&proxy_from)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // The IIS log's header and a health check; the HttpProxy log's `#` header lines.
    let head = |lines: &[String], from: usize, to: usize| -> String {
        lines[from..to].iter().map(|l| format!("{l}\n")).collect()
    };
    let with_id = |lines: &[String]| -> String {
        lines
            .iter()
            .filter(|l| l.contains(id))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    std::fs::write(&iis, head(&iis_lines, 0, 5)).unwrap();
    std::fs::write(&proxy, head(&proxy_lines, 1, 6)).unwrap();
    let case = dir.path().join("case");
    let _follower = Follower::start(&case, &dir.path().join("ev"));
    wait_for_manifest(&case, |m| {
        m["files"].as_array().is_some_and(|f| f.len() == 2)
    });
    let append = |path: &Path, text: String| {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(&iis, with_id(&iis_lines));
    wait_for_count(&case, &format!("request_id:{id}"), 1);
    append(&proxy, with_id(&proxy_lines));
    wait_for_count(&case, &format!("request_id:{id}"), 2);
    assert_eq!(count(&case, "client:198.51.100.23"), Some(2));
}
