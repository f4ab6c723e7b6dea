//! The same trawl on ClickHouse (`--store clickhouse://…`): real servers started here on free
//! loopback ports with temporary data directories (one server, and two as the shards of a
//! `Distributed` table), answering every search, stats and hunt as the local case does, and
//! ingesting exactly once (killed midway, from two machines at once). Without the
//! `clickhouse-server` binary the tests say so and skip; CI installs it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{self, ok, path_str, run};

/// A ClickHouse server of its own, stopped when dropped.
struct Server {
    child: Child,
    http: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> Option<(PathBuf, Vec<&'static str>)> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join("clickhouse-server");
        if p.exists() {
            return Some((p, vec![]));
        }
    }
    let p = Path::new("/usr/bin/clickhouse");
    if p.exists() {
        return Some((p.to_path_buf(), vec!["server"]));
    }
    assert!(
        std::env::var_os("TRAWL_REQUIRE_CLICKHOUSE").is_none(),
        "clickhouse-server is not installed, and TRAWL_REQUIRE_CLICKHOUSE says these tests must run"
    );
    eprintln!("skipping: clickhouse-server is not installed (CI installs Debian's package)");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP request to a server (the test's own view, independent of trawl's client).
fn http(port: u16, sql: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    )
    .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// Starts servers; `shards` of them form the cluster `two` (each a shard).
fn start(count: usize) -> Option<Vec<Server>> {
    let (bin, pre) = server_binary()?;
    let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
    let shards: String = ports
        .iter()
        .map(|(_, tcp)| {
            format!("<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>")
        })
        .collect();
    let mut servers = Vec::new();
    for (http_port, tcp) in &ports {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("users.xml"),
            "<?xml version=\"1.0\"?><yandex><profiles><default></default></profiles><users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users><quotas><default></default></quotas></yandex>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?><yandex><logger><level>warning</level><console>1</console></logger>\
                 <http_port>{http_port}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/uf/</user_files_path>\
                 <format_schema_path>{d}/fs/</format_schema_path>\
                 <users_config>{d}/users.xml</users_config><default_profile>default</default_profile>\
                 <default_database>default</default_database><mark_cache_size>5368709120</mark_cache_size>\
                 <remote_servers><two>{shards}</two></remote_servers></yandex>"
            ),
        )
        .unwrap();
        let child = Command::new(&bin)
            .args(&pre)
            .arg(format!("--config-file={d}/config.xml"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        servers.push(Server {
            child,
            http: *http_port,
            _dir: dir,
        });
    }
    for s in &servers {
        // Started when it answers (a server takes a second or two).
        let up = (0..600).any(|_| {
            let ok = http(s.http, "SELECT 1").is_some_and(|b| b.trim() == "1");
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        });
        assert!(up, "clickhouse-server on port {} did not start", s.http);
    }
    Some(servers)
}

fn url(servers: &[Server]) -> String {
    if servers.len() == 1 {
        format!("clickhouse://127.0.0.1:{}/default", servers[0].http)
    } else {
        let shards: Vec<String> = servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.http))
            .collect();
        format!(
            "clickhouse://127.0.0.1:{}/default?cluster=two&shards={}",
            servers[0].http,
            shards.join(",")
        )
    }
}

/// Ingests the bundled sample logs, run from the repository with their relative path (so that
/// file names compare equal between cases); `case` names the case (`--case`, `--store`).
/// Returns the summary.
fn ingest_samples(case: &[&str]) -> String {
    let out = common::trawl()
        .current_dir(common::repo())
        .args(case)
        .args(["ingest", "--quiet", "sample-logs"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Queries over every kind of field and value the language has.
const QUERIES: &[&str] = &[
    "*",
    "ip:172.16.0.0/12",
    "client:203.0.113.*",
    "ip:[172.16.0.1 TO 172.16.9.255]",
    "xff:*",
    "path:/owa/auth/*.aspx",
    "path:~\"/ecp/[a-z]\\.js\"",
    "ua:*python*",
    "ua:/python-requests\\/2\\.(19|25)\\.1/",
    "status:5xx",
    "status:>=400 AND NOT status:404",
    "bytes:>10000",
    "ts:2021-03-05",
    "ts:[2021-03-03T10:00 TO 2021-03-04}",
    "host:mbx-a AND method:POST",
    "python requests",
    "203.0.113.77",
    "68eff119-c34a-40fd-a8fd-97ae5174fe10",
    "query:*Protocol=ActiveSync*",
    "Cmdlet:Set-OabVirtualDirectory AND EventID:1",
    "172.16.0.0/12",
    "\"python requests\"",
    "Set-OabVirtualDirectory",
    "cs-uri-query:*",
    "AnchorMailbox:ServerInfo~*",
    "s-ip:172.16.4.0/24",
    "s-ip:10.0.0.0/8 OR NOT s-ip:172.16.0.0/12",
    "NOT status:200",
    "(path:/ecp/* OR path:/owa/*) AND -status:200",
    "user:*",
    "user:a.kowalski",
    "user:\"a.kowalski\"",
    "rule:*",
    "rule:tpl-*",
    "file:*HttpProxy*",
    "source:iis",
    "line:[1 TO 100]",
    "s-port:[400 TO 500]",
    "sc-win32-status:>0 AND NOT s-port:{442 TO 444}",
    "status:(401 OR 403) AND host:mbx-a.corp.example.org",
];

fn count(args: &[&str], q: &str) -> String {
    let mut all = args.to_vec();
    all.extend(["search", "--count", q]);
    let out = run(&all);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// Stats and hunt as JSON, without where the case is.
fn without_case(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    v.as_object_mut().unwrap().remove("case");
    v
}

/// Every answer of a ClickHouse case equals the local case's, from the same evidence.
fn answers_match(servers: &[Server], name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    let store = url(servers);
    ingest_samples(&["--case", path_str(&local)]);
    let summary = ingest_samples(&["--store", &store, "--case", name]);
    assert!(summary.contains("40,002 events"), "{summary}");
    let l = ["--case", path_str(&local)];
    let c = ["--store", store.as_str(), "--case", name];
    for q in QUERIES {
        assert_eq!(count(&l, q), count(&c, q), "query {q}");
    }
    for q in ["path:/owa/auth/*.aspx", "rule:*", "status:5xx"] {
        let search = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["search", "--json", "--limit", "300", q]);
            ok(&all)
        };
        assert_eq!(search(&l), search(&c), "events of {q}");
    }
    let stats = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["stats", "--json", "--top", "20"]);
        let mut v = without_case(&ok(&all));
        // The local case lists paths as given (relative here, like the store's).
        v.as_object_mut().unwrap().remove("files");
        v.as_object_mut().unwrap().remove("unrecognised");
        v
    };
    assert_eq!(stats(&l), stats(&c));
    let hunt = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["hunt", "--format", "json"]);
        without_case(&ok(&all))
    };
    let (lh, ch) = (hunt(&l), hunt(&c));
    assert_eq!(lh, ch);
    // Tags: kept in the store, named by queries, travelling with exports.
    let tag = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["tag", "evil", "--query", "client:192.0.2.55 AND status:200"]);
        ok(&all)
    };
    assert_eq!(tag(&l), tag(&c));
    assert_eq!(tag(&l), tag(&c), "tagged again: none changes");
    assert_eq!(count(&l, "tag:evil"), count(&c, "tag:evil"));
    let export = |args: &[&str], file: &str| {
        let path = dir.path().join(file);
        let mut all = args.to_vec();
        all.extend([
            "export",
            "--query",
            "rule:* OR tag:evil",
            "-o",
            path_str(&path),
        ]);
        ok(&all);
        std::fs::read_to_string(&path).unwrap()
    };
    let (le, ce) = (export(&l, "l.jsonl"), export(&c, "c.jsonl"));
    assert!(
        le.lines().count() > 300 && le.contains("\"evil\""),
        "{}",
        le.len()
    );
    assert_eq!(le, ce);
    let report = |args: &[&str], file: &str| {
        let path = dir.path().join(file);
        let mut all = args.to_vec();
        all.extend(["report", "-o", path_str(&path)]);
        ok(&all);
        let text = std::fs::read_to_string(&path).unwrap();
        // Without the lines naming where the case is, and when the report was written.
        text.lines()
            .filter(|l| !l.contains(path_str(&local)) && !l.contains(&store))
            .filter(|l| !l.starts_with("Generated by trawl"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(report(&l, "l.md"), report(&c, "c.md"));
    assert!(
        lh["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["verdict"] == "compromised"),
        "{lh}"
    );
}

#[test]
fn a_clickhouse_case_answers_as_the_local_case() {
    let Some(servers) = start(1) else { return };
    answers_match(&servers, "parity");
    // A second ingest of the same evidence adds nothing.
    let store = url(&servers);
    ingest_samples(&["--store", &store, "--case", "parity"]);
    assert_eq!(
        count(&["--store", &store, "--case", "parity"], "*"),
        "40002"
    );
}

#[test]
fn two_shards_behind_a_distributed_table_answer_alike() {
    let Some(servers) = start(2) else { return };
    answers_match(&servers, "fleet");
    // The events are spread over both shards.
    for s in &servers {
        let n: u64 = http(s.http, "SELECT count() FROM fleet_events_local")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(n > 10_000 && n < 30_002, "{n}");
    }
}

/// An ingest killed after its first commit, then run again: every line once. Two machines
/// ingesting overlapping evidence at once: every file once.
#[test]
fn clickhouse_ingest_is_exactly_once() {
    let Some(servers) = start(1) else { return };
    let store = url(&servers);
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    trawl_gen::write_bench_corpus(
        &corpus,
        &trawl_gen::BenchOptions {
            lines: 150_000,
            seed: 7,
            days: 3,
        },
    )
    .unwrap();
    let args = ["--store", store.as_str(), "--case", "once"];
    let mut child = common::trawl()
        .args(args)
        .args([
            "ingest",
            "--quiet",
            "--threads",
            "1",
            "--commit-every",
            "10000",
            path_str(&corpus),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // After its second commit, kill -9 without warning.
    let killed = common::kill_when(&mut child, || {
        http(servers[0].http, "SELECT count() FROM once_commits")
            .and_then(|b| b.trim().parse::<u64>().ok())
            .is_some_and(|commits| commits >= 2)
    });
    assert!(killed, "the ingest finished before it could be interrupted");
    let partial: u64 = count(&args, "*").parse().unwrap();
    assert!(partial > 0 && partial < 150_000, "{partial}");
    ok(&[&args[..], &["ingest", "--quiet", path_str(&corpus)]].concat());
    assert_eq!(count(&args, "*"), "150000");
    // Rows of the killed batch were removed, or are at least not seen.
    assert_eq!(count(&args, "line:>0"), "150000");

    // Two machines: one ingests the corpus again (already in the case), the other the sample
    // logs and the corpus, at the same time.
    let spawn = |part: &str, paths: &[&Path]| {
        let mut cmd = common::trawl();
        cmd.env("TRAWL_STORE_PART", part)
            .args(args)
            .args(["ingest", "--quiet"]);
        for p in paths {
            cmd.arg(p);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let samples = common::sample_logs();
    let a = spawn("machine-a", &[&corpus]);
    let b = spawn("machine-b", &[&samples, &corpus]);
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(count(&args, "*"), (150_000 + 40_002).to_string());
    assert_eq!(count(&args, "host:MBX-A"), "16293");
}

/// `trawl ingest --follow --store`: a log followed into a ClickHouse case; lines appended
/// while it runs arrive, once.
#[test]
fn a_log_followed_into_clickhouse() {
    let Some(servers) = start(1) else { return };
    let store = url(&servers);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("W3SVC1");
    std::fs::create_dir_all(&logs).unwrap();
    let source = common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210303.log");
    let log = logs.join("u_ex210303.log");
    std::fs::copy(&source, &log).unwrap();
    let local = dir.path().join("local");
    common::ingest(&local, &logs);
    let expected: u64 = count(&["--case", path_str(&local)], "*").parse().unwrap();
    let args = ["--store", store.as_str(), "--case", "followed"];
    let mut child = common::trawl()
        .args(args)
        .args(["ingest", "--quiet", "--follow", path_str(&logs)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |n: u64| {
        (0..1200).any(|_| {
            let seen = count(&args, "*").parse::<u64>().unwrap_or(0);
            if seen != n {
                std::thread::sleep(Duration::from_millis(50));
            }
            seen == n
        })
    };
    let first = wait_for(expected);
    // Three lines more, as IIS writes them.
    let text = std::fs::read_to_string(&source).unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .take(3)
        .collect();
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for l in &data {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let appended = wait_for(expected + 3);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        first,
        "the log never reached {expected} events in the store"
    );
    assert!(appended, "the appended lines never arrived");
    assert_eq!(count(&args, "*"), (expected + 3).to_string());
}

/// The timeline on a ClickHouse case shows what it shows on the local case of the same
/// evidence: the first screen, a query, a pivot, the findings, moving between hits, a tag.
#[test]
fn the_timeline_on_clickhouse_shows_what_the_local_case_shows() {
    use ratatui::crossterm::event::KeyCode;
    use trawl_testkit::Harness;
    let Some(servers) = start(1) else { return };
    let store = url(&servers);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    ingest_samples(&["--case", path_str(&local)]);
    ingest_samples(&["--store", &store, "--case", "timeline"]);
    let spec = trawl::store::clickhouse::Spec::parse(&store).unwrap();
    let mut l = Harness::open(&local, 160, 50);
    let mut c = Harness::with_source(
        trawl::source::Source::store(&spec, "timeline").unwrap(),
        160,
        50,
    );
    let same = |l: &Harness, c: &Harness, what: &str| {
        assert_eq!(l.app.total, c.app.total, "{what}: totals");
        assert_eq!(l.screen(), c.screen(), "{what}: screens");
    };
    same(&l, &c, "first screen");
    if std::env::var_os("TRAWL_SHOW_SCREEN").is_some() {
        eprintln!("{}", c.screen());
    }
    assert_eq!(l.app.total, 40_002);
    for h in [&mut l, &mut c] {
        h.query("path:/owa/auth/*.aspx AND NOT status:302");
    }
    same(&l, &c, "a query");
    for h in [&mut l, &mut c] {
        h.key(KeyCode::Char('G'));
        h.key(KeyCode::Char('N'));
    }
    same(&l, &c, "the last event, then the previous hit");
    for h in [&mut l, &mut c] {
        h.query("*");
        let ip = h.current_ip().unwrap_or_default();
        h.app.pivot_on("client", &ip, false);
        h.settle();
    }
    same(&l, &c, "a pivot on the selected event's client");
    for h in [&mut l, &mut c] {
        h.command("tag pivoted");
        h.query("tag:pivoted");
    }
    same(&l, &c, "the events tagged");
    assert!(c.app.total > 0);
    // The tag is in the store, for every responder.
    assert_eq!(
        count(
            &["--store", store.as_str(), "--case", "timeline"],
            "tag:pivoted"
        ),
        c.app.total.to_string()
    );
}

/// `trawl --store … --case NAME` in a real terminal: the timeline of a ClickHouse case, a search
/// and a pivot, and the terminal given back.
#[test]
fn the_store_timeline_in_a_real_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed (.ci/run installs it)");
        return;
    }
    let Some(servers) = start(1) else { return };
    let store = url(&servers);
    ingest_samples(&["--store", &store, "--case", "e2e"]);
    let script = format!(
        "TERM=xterm-256color {bin} --store '{store}' --case e2e; echo EXITED:$?; sleep 60",
        bin = env!("CARGO_BIN_EXE_trawl"),
    );
    let tmux = crate::tui_e2e::Tmux::start("store", &script, 120, 35);
    tmux.wait_for("40,002 events");
    tmux.keys(&["/"]);
    tmux.text("path:\"/aspnet_client/discover.aspx\"");
    tmux.keys(&["Enter"]);
    tmux.wait_for("28 of 40,002 events");
    tmux.wait_for("198.51.100.144");
    tmux.keys(&["i"]);
    tmux.wait_for("client:198.51.100.144");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXITED:");
    assert!(screen.contains("EXITED:0"), "{screen}");
}

/// A Windows event read again (another collection of its log), in the same ingest or a later
/// one, is not added again to a ClickHouse case either.
#[test]
fn windows_events_read_twice_into_clickhouse_are_counted_once() {
    let Some(servers) = start(1) else { return };
    let store = url(&servers);
    let dir = tempfile::tempdir().unwrap();
    for (day, ns) in [("day1", 1..=6), ("day3", 4..=9)] {
        let folder = dir.path().join(day);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("Security.json"), common::failed_logons(ns)).unwrap();
    }
    let apart = ["--store", store.as_str(), "--case", "winapart"];
    for day in ["day1", "day3"] {
        let path = dir.path().join(day);
        ok(&[&apart[..], &["ingest", "--quiet", path_str(&path)]].concat());
    }
    assert_eq!(count(&apart, "*"), "9");
    let together = ["--store", store.as_str(), "--case", "wintogether"];
    ok(&[&together[..], &["ingest", "--quiet", path_str(dir.path())]].concat());
    assert_eq!(count(&together, "*"), "9");
    assert_eq!(count(&together, "TargetUserName:user5"), "1");

    // A case whose tables an earlier trawl made is refused with why, not half ingested.
    http(
        servers[0].http,
        "CREATE TABLE oldcase_events (part String, batch UInt64) ENGINE = MergeTree ORDER BY part",
    )
    .unwrap();
    let old = ["--store", store.as_str(), "--case", "oldcase"];
    let out = run(&[&old[..], &["ingest", "--quiet", path_str(dir.path())]].concat());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("earlier trawl") && err.lines().count() == 1,
        "{err}"
    );
}

/// The front ends' logs ingested into the store first, Exchange's HttpProxy logs later, or the
/// other way round: the HttpProxy rows name the client behind the balancer, as a local case's.
#[test]
fn proxy_rows_ingested_into_clickhouse_before_or_after_their_front_ends_name_the_real_client() {
    let Some(servers) = start(1) else { return };
    let store = url(&servers);
    let fixture = common::repo().join("tests/fixtures/verdicts/behind-balancers");
    let case = ["--store", store.as_str(), "--case", "later"];
    let front = fixture.join("EX1/inetpub");
    ok(&[&case[..], &["ingest", "--quiet", path_str(&front)]].concat());
    assert_eq!(count(&case, "source:httpproxy"), "0");
    ok(&[&case[..], &["ingest", "--quiet", path_str(&fixture)]].concat());
    assert_eq!(
        count(&case, "source:httpproxy AND client:203.0.113.50"),
        "2"
    );
    assert_eq!(count(&case, "source:httpproxy AND client:10.0.0.5"), "0");

    // The other order: the HttpProxy rows already in the store are read again when their
    // front end comes.
    let reversed = ["--store", store.as_str(), "--case", "earlier"];
    let logging = fixture.join("EX1/Logging");
    ok(&[&reversed[..], &["ingest", "--quiet", path_str(&logging)]].concat());
    ok(&[&reversed[..], &["ingest", "--quiet", path_str(&front)]].concat());
    assert_eq!(
        count(&reversed, "source:httpproxy AND client:203.0.113.50"),
        "2"
    );
    assert_eq!(count(&reversed, "*"), "113");
}
