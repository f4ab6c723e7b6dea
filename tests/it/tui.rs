//! Timeline tests without a terminal: the app is driven by keys, the backend answers
//! synchronously, and screens are rendered into ratatui's `TestBackend` for insta snapshots.

use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use trawl::tui::app::{Filter, Mode, Pane};
use trawl_testkit::{Harness, new_case};

#[test]
fn opens_on_every_event_in_time_order() {
    let h = Harness::new(120, 30);
    assert_eq!(h.app.total, h.app.all);
    assert!(h.app.total > 30_000);
    assert_eq!(
        h.app.current().map(|e| e.ts.as_str()),
        Some("2021-03-03T00:00:00.000Z")
    );
}

#[test]
fn query_pivot_pop_context_and_back() {
    let mut h = Harness::new(120, 30);
    h.query("path:\"/aspnet_client/discover.aspx\"");
    assert_eq!(h.app.total, 28);
    assert_eq!(h.current_ip().as_deref(), Some("198.51.100.144"));
    // Pivot on the row's client: the web shell's first client and everything else it did.
    h.key(KeyCode::Char('i'));
    assert_eq!(
        h.app.view.filters,
        vec![Filter::Value {
            field: "client".into(),
            value: "198.51.100.144".into(),
            exclude: false
        }]
    );
    assert_eq!(
        h.app.total, 1,
        "the query still applies: one shell request from this IP"
    );
    // Widen: drop the query, keep the pivot.
    h.query("");
    assert_eq!(h.app.total, 27);
    // Exclude its Ecp HttpProxy rows by source: pivot out on the focused column.
    h.app.column = 2; // source
    h.key(KeyCode::Char('-'));
    assert_eq!(h.app.view.filters.len(), 2);
    let source = h.app.current().map(|e| e.source.clone()).expect("row");
    assert!(
        h.app.total < 27 && h.app.total > 0,
        "{} ({source})",
        h.app.total
    );
    // Pop the last filter, switch all filters off and on.
    h.key(KeyCode::Backspace);
    assert_eq!(h.app.total, 27);
    h.key(KeyCode::Char('F'));
    assert_eq!(h.app.total, h.app.all);
    h.key(KeyCode::Char('F'));
    assert_eq!(h.app.total, 27);
    // Context: the selected event among all events around it, then back.
    h.key(KeyCode::Char('G'));
    let selected = h.app.current().cloned().expect("row");
    h.key(KeyCode::Char('c'));
    assert_eq!(h.app.total, h.app.all);
    assert!(h.app.view.filters.is_empty());
    let in_context = h.app.current().cloned().expect("row");
    assert_eq!(
        (in_context.file.as_str(), in_context.line),
        (selected.file.as_str(), selected.line)
    );
    h.key(KeyCode::Esc);
    assert_eq!(h.app.total, 27);
    assert_eq!(h.app.view.filters.len(), 1);
    assert_eq!(h.app.current().map(|e| e.line), Some(selected.line));
}

#[test]
fn movement_keys() {
    let mut h = Harness::new(100, 30);
    h.keys("jjj");
    assert_eq!(h.app.cursor, 3);
    h.key(KeyCode::Char('k'));
    assert_eq!(h.app.cursor, 2);
    h.key(KeyCode::Char('G'));
    assert_eq!(h.app.cursor, h.app.total - 1);
    h.key(KeyCode::Char('g'));
    assert_eq!(h.app.cursor, 0);
    h.key_with(KeyCode::Char('d'), KeyModifiers::CONTROL);
    assert_eq!(h.app.cursor, (h.app.table_height / 2) as u64);
    h.key(KeyCode::PageDown);
    assert!(h.app.cursor > h.app.table_height as u64);
    assert!(h.app.current().is_some(), "rows are fetched after a jump");
    h.key(KeyCode::Char(':'));
    for c in "goto 2021-03-05T17:42".chars() {
        h.app.on_event(&Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    h.key(KeyCode::Enter);
    let ev = h.app.current().cloned().expect("row");
    assert!(ev.ts.as_str() >= "2021-03-05T17:42:00", "{}", ev.ts);
    assert!(
        h.app.cursor >= h.app.scroll && h.app.cursor < h.app.scroll + h.app.table_height as u64
    );
}

#[test]
fn bad_query_keeps_the_results_and_says_where() {
    let mut h = Harness::new(100, 24);
    h.query("ip:198.51.100.144");
    assert_eq!(h.app.total, 19);
    h.query("pth:/x");
    assert_eq!(h.app.total, 19, "previous results kept");
    assert_eq!(h.app.mode, Mode::Query);
    let (message, _) = h.app.query_error.clone().expect("error shown");
    assert!(
        message.contains("regex") || message.contains("field"),
        "{message}"
    );
    h.key(KeyCode::Esc);
    insta::assert_snapshot!("query_error", h.screen());
}

#[test]
fn top_values_pivot_and_rare_values() {
    let mut h = Harness::new(120, 30);
    h.query("path:/aspnet_client/* OR path:/owa/auth/*");
    h.key(KeyCode::Tab).key(KeyCode::Tab);
    assert_eq!(h.app.focus, Pane::Top);
    let top = h.app.top.values.clone().expect("counted");
    assert_eq!(top.field, "client");
    let sum: u64 = top.values.iter().map(|v| v.count).sum();
    assert_eq!(sum, top.with_value);
    h.key(KeyCode::Char('r'));
    let rare = h.app.top.values.clone().expect("rare");
    assert!(rare.values.windows(2).all(|w| w[0].count <= w[1].count));
    // Enter pivots on the value under the cursor.
    let (field, value) = h.app.focused_value().expect("value");
    let expected = rare.values[0].count;
    h.key(KeyCode::Enter);
    assert_eq!(h.app.total, expected, "{field}:{value}");
}

#[test]
fn log_text_never_reaches_the_terminal_raw() {
    let mut h = Harness::new(160, 30);
    h.query("ua:*red*");
    assert!(h.app.total >= 1);
    let screen = h.screen();
    assert!(!screen.contains('\u{1b}'));
    assert!(screen.contains("\\x1b[31mred"), "{screen}");
}

#[test]
fn main_screen_snapshot() {
    let mut h = Harness::new(120, 32);
    h.query("path:/ecp/*.js");
    insta::assert_snapshot!("main_screen", h.screen());
}

#[test]
fn detail_pane_snapshot() {
    let mut h = Harness::new(100, 40);
    h.query("status:241 AND source:httpproxy");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.focus, Pane::Detail);
    insta::assert_snapshot!("detail_pane", h.screen());
}

#[test]
fn top_values_snapshot() {
    let mut h = Harness::new(120, 30);
    h.query("ip:198.51.100.144 OR ip:203.0.113.77");
    h.key(KeyCode::Tab)
        .key(KeyCode::Tab)
        .key(KeyCode::Char('f'));
    insta::assert_snapshot!("top_values", h.screen());
}

#[test]
fn help_snapshot() {
    let mut h = Harness::new(100, 50);
    h.key(KeyCode::Char('?'));
    assert_eq!(h.app.mode, Mode::Help);
    insta::assert_snapshot!("help", h.screen());
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode, Mode::Normal);
}

#[test]
fn small_terminal_is_usable() {
    let mut h = Harness::new(80, 24);
    h.query("ip:203.0.113.77");
    assert!(h.app.table_height >= 5, "{}", h.app.table_height);
    let screen = h.screen();
    assert!(screen.contains("of"), "{screen}");
    insta::assert_snapshot!("small_80x24", screen);
}

#[test]
fn findings_pane_pivots_and_hits_are_walked_in_time() {
    let mut h = Harness::new(140, 40);
    h.key(KeyCode::Char('!'));
    assert_eq!(h.app.focus, Pane::Findings);
    let rows = h.app.findings.rows.clone().expect("findings");
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    assert!(
        labels.contains(
            &"web shell /aspnet_client/discover.aspx on MBX-A (28 request(s) across its logs)"
        ),
        "{labels:?}"
    );
    // A row's count is what Enter opens: a verdict, its host's events; a web shell, its
    // path's events (a request logged by IIS and HttpProxy is one request, two events).
    let count_of = |label: &str| {
        rows.iter()
            .find(|r| r.label.starts_with(label))
            .unwrap()
            .count
    };
    assert_eq!(count_of("MBX-A COMPROMISED"), 16_293);
    assert_eq!(
        count_of("web shell /owa/auth/RedirSuiteServerProxy.aspx"),
        28
    );
    assert!(rows.iter().any(|r| r.value == "203.0.113.77"));
    assert!(rows.iter().any(|r| r.value == "tpl-cve-2021-26855"));
    // The verdicts lead, gravest first; a clean host's comes after the rules.
    assert!(labels[0].starts_with("MBX-A COMPROMISED"), "{labels:?}");
    assert!(!labels[3].contains("CLEAN"), "{labels:?}");
    let clean = labels
        .iter()
        .position(|l| l.starts_with("MBX-D CLEAN: no compromise, attempt or probe"))
        .expect("MBX-D's verdict");
    let last_rule = rows
        .iter()
        .rposition(|r| r.field == "rule")
        .expect("rule rows");
    assert!(clean > last_rule, "{labels:?}");
    insta::assert_snapshot!("findings_pane", h.screen());
    // Enter on the first web shell pivots the timeline to its requests.
    let shell = labels
        .iter()
        .position(|l| l.starts_with("web shell /aspnet_client/discover.aspx"))
        .expect("shell row");
    for _ in 0..shell {
        h.key(KeyCode::Char('j'));
    }
    h.key(KeyCode::Enter);
    assert_eq!(h.app.total, 28);
    assert_eq!(h.app.focus, Pane::Table);
    // Back to everything: e walks the hits forward in time, E back.
    h.key(KeyCode::Backspace);
    assert_eq!(h.app.total, h.app.all);
    h.key(KeyCode::Char('g'));
    h.key(KeyCode::Char('e'));
    let first = h.app.current().cloned().expect("hit");
    assert_eq!(first.ts, "2021-03-05T17:41:58.000Z");
    assert!(!first.rules.is_empty());
    h.key(KeyCode::Char('e'));
    let second = h.app.current().cloned().expect("hit");
    assert!((second.ts.as_str(), second.line) > (first.ts.as_str(), 0));
    assert!(!second.rules.is_empty());
    h.key(KeyCode::Char('E'));
    assert_eq!(
        h.app.current().map(|e| (e.file.clone(), e.line)),
        Some((first.file.clone(), first.line))
    );
    h.key(KeyCode::Char('E'));
    assert!(
        h.app
            .message
            .as_deref()
            .is_some_and(|m| m.contains("nothing further"))
    );
}

/// A rule that cannot run on the case is listed in the findings pane with why, after the
/// findings, as `trawl hunt` lists it on stderr.
#[test]
fn findings_pane_lists_the_rules_not_run() {
    let (_dir, case) = new_case();
    std::fs::create_dir_all(case.join("sigma")).unwrap();
    std::fs::write(
        case.join("sigma/long-word.yml"),
        crate::common::RULE_TOO_LARGE_TO_RUN,
    )
    .unwrap();
    // As `trawl` does before it opens the timeline: the case's rules, hunted and stored.
    let rules = trawl::rules::load(&[case.join("sigma/long-word.yml")])
        .unwrap()
        .rules;
    let opened = trawl::case::Case::open(&case).unwrap();
    let d = trawl::hunt::ensure(&opened, &rules).unwrap();
    assert_eq!(d.not_run.len(), 1, "{:?}", d.not_run);
    drop(opened);
    let mut h = Harness::open(&case, 140, 40);
    h.key(KeyCode::Char('!'));
    let rows = h.app.findings.rows.clone().expect("findings");
    let last = rows.last().expect("rows");
    assert!(
        last.label.starts_with("rule not run: ")
            && last.label.contains("7a2b3c4d-5e6f-4a70-8b9c-0d1e2f3a4b5c")
            && last.label.contains("too large"),
        "{last:?}"
    );
    assert!(last.noise && last.count == 0, "{last:?}");
    // The verdicts still lead.
    assert!(rows[0].label.starts_with("MBX-A COMPROMISED"), "{rows:?}");
}

#[test]
fn marks_notes_views_and_the_session_survive_a_reopen() {
    let (_dir, case) = new_case();
    {
        let mut h = Harness::open(&case, 120, 30);
        h.query("path:\"/aspnet_client/discover.aspx\"");
        // Bookmark the first shell request, tag it, write a note.
        h.key(KeyCode::Char('m'));
        assert_eq!(h.app.message.as_deref(), Some("bookmarked"));
        h.key(KeyCode::Char('t'))
            .type_text("webshell")
            .key(KeyCode::Enter);
        h.key(KeyCode::Char('n'))
            .type_text("first request to the shell")
            .key(KeyCode::Enter);
        let ev = h.app.current().cloned().expect("row");
        assert!(
            ev.bookmark && ev.tags == vec!["webshell".to_string()],
            "{ev:?}"
        );
        assert_eq!(ev.note.as_deref(), Some("first request to the shell"));
        assert!(h.screen().contains("*"), "marked in the table");
        // Tag the whole selection, save the view, move on.
        h.command("tag shell-traffic");
        assert_eq!(
            h.app.message.as_deref(),
            Some("tagged 28 event(s) shell-traffic")
        );
        // Tagging again keeps the tag (only :untag removes it), and says nothing changed.
        h.command("tag shell-traffic");
        assert_eq!(
            h.app.message.as_deref(),
            Some("tagged 0 event(s) shell-traffic (28 already were)")
        );
        h.command("untag nothing-yet");
        assert_eq!(
            h.app.message.as_deref(),
            Some("untagged 0 event(s) nothing-yet (28 shown were not)")
        );
        h.command("view save shells");
        h.key(KeyCode::Char('G'));
        h.key(KeyCode::Char('m'));
        h.key(KeyCode::Char('g'));
        h.key(KeyCode::Char('u'));
        assert_eq!(h.app.cursor, 27, "next bookmark");
        h.key(KeyCode::Char('U'));
        assert_eq!(h.app.cursor, 0, "previous bookmark");
        h.query("ip:203.0.113.77");
        h.key(KeyCode::Char('j')).key(KeyCode::Char('j'));
        assert_eq!(h.app.total, 54);
        // As `tui::run` does on the way out.
        trawl::session::save_session(&case, &h.app.session()).expect("save session");
    }
    // Reopened: the same view, the same event selected, the marks.
    let mut h = Harness::open(&case, 120, 30);
    assert_eq!(h.app.view.query, "ip:203.0.113.77");
    assert_eq!(h.app.total, 54);
    assert_eq!(h.app.cursor, 2, "selected event restored");
    h.query("tag:webshell");
    assert_eq!(h.app.total, 1);
    assert_eq!(
        h.app.current().and_then(|e| e.note.clone()).as_deref(),
        Some("first request to the shell")
    );
    h.query("tag:shell-traffic");
    assert_eq!(h.app.total, 28);
    h.query("bookmarked:true");
    assert_eq!(h.app.total, 2);
    h.query("");
    h.key(KeyCode::Char('M'));
    assert_eq!(h.app.total, 28, "marked events");
    h.command("view shells");
    assert_eq!(h.app.view.query, "path:\"/aspnet_client/discover.aspx\"");
    assert_eq!(h.app.total, 28);
    // Tag completion offers tags in use.
    h.key(KeyCode::Char('t')).type_text("web").key(KeyCode::Tab);
    assert_eq!(h.app.input.value(), "webshell");
    h.key(KeyCode::Esc);
}

#[test]
fn export_writes_exactly_the_current_view() {
    let (dir, case) = new_case();
    let mut h = Harness::open(&case, 120, 30);
    h.query("ip:198.51.100.144");
    h.key(KeyCode::Char('i'));
    let out = dir.path().join("view.jsonl");
    h.command(&format!("export {}", out.display()));
    assert!(
        h.app
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("exported 19 event(s)")),
        "{:?}",
        h.app.message
    );
    let text = std::fs::read_to_string(&out).expect("export");
    assert_eq!(text.lines().count(), 19);
    assert!(
        text.lines()
            .all(|l| l.contains("\"ip\":\"198.51.100.144\""))
    );
    // Written again, the file is kept unless `:w!` says to replace it, as vim does.
    h.query("status:241");
    h.command(&format!("w {}", out.display()));
    let said = h.app.message.clone().unwrap_or_default();
    assert!(said.contains("exists") && said.contains(":w!"), "{said}");
    assert_eq!(std::fs::read_to_string(&out).expect("kept"), text);
    h.command(&format!("w! {}", out.display()));
    assert!(
        h.app
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("exported 3 event(s)")),
        "{:?}",
        h.app.message
    );
    // The case's own files, never.
    h.command(&format!("w! {}", case.join("marks.json").display()));
    let said = h.app.message.clone().unwrap_or_default();
    assert!(said.contains("case's directory"), "{said}");
}

#[test]
fn field_completion_and_history() {
    let mut h = Harness::new(100, 24);
    h.query("ip:198.51.100.144");
    h.query("status:241");
    h.key(KeyCode::Char('/'));
    h.key(KeyCode::Up);
    assert_eq!(h.app.input.value(), "status:241");
    h.key(KeyCode::Up);
    assert_eq!(h.app.input.value(), "ip:198.51.100.144");
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('/'));
    for _ in 0..40 {
        h.app.on_event(&Event::Key(KeyEvent::new(
            KeyCode::Backspace,
            KeyModifiers::NONE,
        )));
    }
    for c in "Anchor".chars() {
        h.app.on_event(&Event::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
    h.key(KeyCode::Tab);
    assert_eq!(h.app.input.value(), "AnchorMailbox:");
}

/// A bare run the index holds no word for says so in the status line, as `trawl search` says it
/// on stderr: a silent 0 would read as "not in the logs".
#[test]
fn an_unindexed_number_typed_bare_is_named() {
    let mut h = Harness::new(140, 24);
    h.query("23392");
    assert!(
        h.screen().contains("23392 not searched as a word"),
        "{}",
        h.screen()
    );
    h.query("cmd.exe");
    assert!(!h.screen().contains("not searched as a word"));
}

/// Slow actions have a worker of their own: a query typed while an export runs answers at once.
/// The export here waits for a reader on a FIFO, as a 10M-event export would take minutes.
#[cfg(unix)]
#[test]
fn a_query_answers_while_an_export_is_running() {
    use std::time::Duration;
    use trawl::tui::backend::{Backend, Reply, Request, spawn};

    let (dir, case_dir) = new_case();
    let fifo = dir.path().join("view.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let backend = Backend::new(trawl::case::Case::open(&case_dir).expect("case")).expect("backend");
    let (requests, request_rx) = crossbeam_channel::unbounded();
    let (reply_tx, replies) = crossbeam_channel::unbounded();
    let worker = spawn(backend, request_rx, reply_tx);
    let query = |generation: u64, text: &str| Request::Query {
        generation,
        text: text.into(),
        bins: 10,
        range: None,
    };
    // A guard against a hang, not a measure: the reply comes in milliseconds.
    let next = || {
        replies
            .recv_timeout(Duration::from_secs(120))
            .expect("reply")
    };
    requests.send(query(1, "*")).expect("send");
    assert!(matches!(next(), Reply::Selected { generation: 1, .. }));
    requests
        .send(Request::Export {
            generation: 1,
            path: fifo.to_string_lossy().into_owned(),
            format: Some(trawl::export::Format::Csv),
            replace: false,
        })
        .expect("send");
    requests.send(query(2, "status:241")).expect("send");
    // Nobody reads the FIFO yet, so the export cannot have finished: the query answered
    // around it.
    match next() {
        Reply::Selected {
            generation, total, ..
        } => assert_eq!((generation, total), (2, 3)),
        other => panic!("the query waited for the export: {other:?}"),
    }
    let exported = std::fs::read_to_string(&fifo).expect("read the export");
    assert!(exported.starts_with("ts,host,source,ip,client,"));
    match next() {
        Reply::Message(m) => assert!(m.starts_with("exported 40002 event(s)"), "{m}"),
        other => panic!("{other:?}"),
    }
    drop(requests);
    worker.join().expect("worker");
}

/// In Windows events the pivot keys take the fields that stand for a request's: `p` the
/// program (or the file written), `a` the command line, `i` the logon or network address.
#[test]
fn event_rows_pivot_on_program_and_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("sysmon.json");
    let event = |ts: &str, image: &str, cmd: &str| {
        format!(
            r#"{{"@timestamp":"{ts}","EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"EX1","Image":"{image}","CommandLine":"{cmd}","ParentImage":"C:\\Windows\\System32\\inetsrv\\w3wp.exe"}}"#
        )
    };
    let text = [
        event(
            "2021-03-03T01:00:00Z",
            r"C:\\Windows\\System32\\cmd.exe",
            "cmd /c whoami",
        ),
        event(
            "2021-03-03T01:00:01Z",
            r"C:\\Windows\\System32\\cmd.exe",
            "cmd /c ipconfig",
        ),
        event(
            "2021-03-03T01:00:02Z",
            r"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell -c whoami",
        ),
        event(
            "2021-03-03T01:00:03Z",
            r"C:\\Windows\\System32\\cmd.exe",
            "cmd /c whoami",
        ),
    ]
    .join("\n");
    std::fs::write(&logs, text).expect("write");
    let case_dir = ingested(dir.path(), &logs);
    let mut h = Harness::with_session(&case_dir, trawl::session::Session::default(), 120, 30);
    assert_eq!(h.app.total, 4);
    h.key(KeyCode::Char('p'));
    assert_eq!(
        h.app.view.filters,
        vec![Filter::Value {
            field: "Image".into(),
            value: r"C:\Windows\System32\cmd.exe".into(),
            exclude: false
        }]
    );
    assert_eq!(h.app.total, 3);
    h.key(KeyCode::Char('a'));
    assert_eq!(h.app.total, 2, "cmd.exe running `cmd /c whoami`");
    h.key(KeyCode::Backspace).key(KeyCode::Backspace);
    h.key(KeyCode::Char('A'));
    assert_eq!(h.app.total, 2, "everything but `cmd /c whoami`");
}

/// A case under `dir` holding the events of `logs`, ingested through the library.
fn ingested(dir: &std::path::Path, logs: &std::path::Path) -> std::path::PathBuf {
    let case_dir = dir.join("case");
    let mut case = trawl::case::Case::open_or_create(&case_dir).expect("case");
    trawl::ingest::ingest(
        &mut case,
        &[logs.to_path_buf()],
        &trawl::ingest::IngestOptions::default(),
        &trawl::progress::ignore,
    )
    .expect("ingest");
    case_dir
}

/// What a responder tripped on: Esc at the top does not quit; widening or switching filters
/// keeps the selected event; the help scrolls on a small terminal and lists Ctrl-z; the
/// histogram takes the terminal's width from the first frame and after a resize.
#[test]
fn rough_edges() {
    let mut h = Harness::new(160, 40);
    // (Buckets are round durations: as many as fit the columns.)
    assert!(h.app.histogram_bins >= 150);
    assert!(
        h.app
            .histogram
            .as_ref()
            .is_some_and(|x| x.counts.len() > 60),
        "the histogram spans the width, not a default"
    );
    h.terminal.backend_mut().resize(60, 40);
    h.settle();
    assert!(h.app.histogram_bins <= 60);
    assert!(
        h.app
            .histogram
            .as_ref()
            .is_some_and(|x| x.counts.len() <= 60)
    );

    h.key(KeyCode::Esc);
    assert!(!h.app.quit, "Esc never quits");
    assert_eq!(h.app.message.as_deref(), Some("q quits"));

    for _ in 0..25 {
        h.key(KeyCode::Char('j'));
    }
    let place = |h: &Harness| {
        h.app
            .current()
            .map(|e| (e.ts_ms, e.file.clone(), e.line))
            .expect("a row")
    };
    let chosen = place(&h);
    h.key(KeyCode::Char('i'));
    assert_eq!(place(&h), chosen, "a pivot keeps the event it was made on");
    h.key(KeyCode::Char('F'));
    assert_eq!(
        place(&h),
        chosen,
        "switching the filters off keeps the place"
    );
    h.key(KeyCode::Char('F'));
    h.key(KeyCode::Backspace);
    assert_eq!(place(&h), chosen, "removing the filter keeps the place");
    assert!(h.app.cursor > 0);

    let mut small = Harness::new(80, 24);
    small.key(KeyCode::Char('?'));
    assert!(small.screen().contains("j/k scroll"), "{}", small.screen());
    assert!(!small.screen().contains("Ctrl-z"));
    small.key(KeyCode::Char('G'));
    assert!(small.screen().contains("Ctrl-z"), "{}", small.screen());
}

/// A case that grows while the timeline is open (an ingest beside it, or in another process):
/// each commit reloads the view; following, the cursor keeps to the last event; scrolled away,
/// the selected event stays put and what arrived is counted; the rules run over the new
/// events and the findings that grew are marked.
#[test]
fn a_growing_case_fills_the_open_timeline_and_raises_findings() {
    use trawl::tui::app::{LiveNews, LiveState};
    let source =
        trawl_testkit::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log");
    let lines: Vec<String> = std::fs::read_to_string(source)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("MBX-A/W3SVC1"));
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("u_ex210305.log");
    let write = |upto: usize| std::fs::write(&log, lines[..upto].join("\n") + "\n").unwrap();
    let ingest = || {
        let mut c = trawl::case::Case::open_or_create(&case).unwrap();
        let opts = trawl::ingest::IngestOptions::default();
        trawl::ingest::ingest(
            &mut c,
            &[dir.path().join("MBX-A")],
            &opts,
            &trawl::progress::ignore,
        )
        .unwrap();
    };
    // Before the web shell was used.
    write(2600);
    ingest();
    let mut h = Harness::open(&case, 120, 30);
    let rules = trawl::rules::load(&[]).unwrap().rules;
    h.backend = trawl::tui::backend::Backend::new(trawl::case::Case::open(&case).unwrap())
        .unwrap()
        .with_rules(rules);
    h.app.live = Some(LiveState {
        following: true,
        ..Default::default()
    });
    assert_eq!(h.app.total, 2596);
    h.key(KeyCode::Char('G'));
    h.key(KeyCode::Char('!'));
    h.key(KeyCode::Esc);
    assert!(h.app.findings.rows.is_some());

    // Following at the end: the end it stays.
    write(2800);
    ingest();
    h.app.on_live(LiveNews::Round {
        first: false,
        new_events: 200,
        new_malformed: 0,
        unrecognised: 0,
    });
    h.settle();
    assert_eq!(h.app.total, 2796);
    assert_eq!(h.app.cursor, 2795, "the cursor followed the end");
    assert_eq!(h.app.unseen, 0);
    let rows = h.app.findings.rows.clone().unwrap();
    assert!(
        rows.iter()
            .any(|r| r.fresh && r.label.contains("RedirSuiteServerProxy")),
        "the web shell found in the new events is marked new: {rows:#?}"
    );
    let screen = h.screen();
    assert!(screen.contains("following"), "{screen}");

    // Scrolled away: the selected event stays on its line, the arrivals are counted.
    for _ in 0..5 {
        h.key(KeyCode::Char('k'));
    }
    let chosen = h.app.current().map(|e| (e.file_id, e.line)).unwrap();
    let line_on_screen = h.app.cursor - h.app.scroll;
    write(lines.len());
    ingest();
    h.app.on_live(LiveNews::Round {
        first: false,
        new_events: 0,
        new_malformed: 0,
        unrecognised: 0,
    });
    h.settle();
    let added = (lines.len() - 2800) as u64;
    assert_eq!(h.app.total, 2796 + added);
    assert_eq!(h.app.current().map(|e| (e.file_id, e.line)), Some(chosen));
    assert_eq!(h.app.cursor - h.app.scroll, line_on_screen, "no jump");
    assert_eq!(h.app.unseen, added);
    assert!(h.screen().contains("new below (G)"));
    h.key(KeyCode::Char('G'));
    assert_eq!(h.app.unseen, 0);
    assert_eq!(h.app.cursor, h.app.total - 1);
}

/// `T` keeps exactly the events the zoomed histogram counts (its columns are aligned on round
/// times, wider than the zoom window itself).
#[test]
fn filter_to_zoom_keeps_what_the_histogram_counts() {
    let mut h = Harness::new(120, 30);
    h.query("path:/owa/*");
    for _ in 0..20 {
        h.key(KeyCode::Char('j'));
    }
    h.keys("zz");
    let shown: u64 = h.app.histogram.as_ref().unwrap().counts.iter().sum();
    assert!(shown > 0 && shown < h.app.total);
    h.key(KeyCode::Char('T'));
    assert_eq!(h.app.total, shown);
}

/// `!` shows the findings; `!` again brings back the top values they replaced; the focused
/// pane is drawn with a thick border (where `j`/`k` go, seen without colour).
#[test]
fn findings_toggle_back_to_top_values_and_focus_shows() {
    let mut h = Harness::new(120, 40);
    h.key(KeyCode::Char('!'));
    assert_eq!(h.app.focus, Pane::Findings);
    assert!(h.screen().contains("┏ findings"));
    h.key(KeyCode::Char('!'));
    assert_eq!(h.app.focus, Pane::Top);
    assert!(!h.app.show_findings);
    let screen = h.screen();
    assert!(screen.contains("┏ client: most frequent"), "{screen}");
    assert!(!screen.contains("┏ findings"));
}

/// While the evidence is read beside the timeline, the status line tells how far: percent,
/// files, events, speed and time left; then what the read found.
#[test]
fn the_status_line_tells_the_ingest_beside_the_timeline() {
    use trawl::tui::app::{IngestProgress, LiveNews};
    let mut h = Harness::new(160, 30);
    h.app.on_live(LiveNews::Progress(IngestProgress {
        percent: 43,
        files_done: 12,
        files_total: 145,
        events: 1_234_567,
        mb_per_s: 52.4,
        eta_s: Some(83),
    }));
    h.settle();
    let screen = h.screen();
    assert!(
        screen.contains("ingesting 43% · 12/145 files · 1,234,567 events · 52 MB/s · ETA 1:23"),
        "{screen}"
    );
    h.app.on_live(LiveNews::Round {
        first: true,
        new_events: 40_002,
        new_malformed: 1,
        unrecognised: 1,
    });
    h.settle();
    let screen = h.screen();
    assert!(
        screen.contains("ingested: +40,002 events, 1 malformed, 1 files unrecognised"),
        "{screen}"
    );
    // A failed round is said on the status line and kept for the exit.
    h.app
        .on_live(LiveNews::Failed("No space left on device".into()));
    h.settle();
    assert!(
        h.screen()
            .contains("ingest failed: No space left on device")
    );
    assert_eq!(
        h.app.live.as_ref().and_then(|l| l.failed.as_deref()),
        Some("No space left on device")
    );
}

/// Pivoting on a Windows event's own item named like a web field (`Status`, an NTSTATUS code,
/// not the HTTP status) keeps the events with that item, as `"Status":…`.
#[test]
fn pivot_on_a_windows_item_named_like_a_web_field() {
    let dir = tempfile::tempdir().unwrap();
    let event = |n: u32, status: &str| {
        crate::common::windows_event(
            n,
            "Microsoft-Windows-Security-Auditing",
            4625,
            "Security",
            serde_json::json!({"TargetUserName": "admin", "Status": status}),
        )
    };
    let lines = [
        event(1, "0xc000006d"),
        event(2, "0xc000006d"),
        event(3, "0xc0000234"),
    ];
    let case = crate::common::ingest_lines(dir.path(), "security.jsonl", &lines);
    let mut h = Harness::open(&case, 140, 40);
    h.query("EventID:4625");
    assert_eq!(h.app.total, 3);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.focus, Pane::Detail);
    let fields = h.app.detail_fields();
    let at = fields
        .iter()
        .position(|(name, _)| name == "Status")
        .expect("the Status item is listed");
    let status = fields[at].1.clone();
    h.app.detail_cursor = at;
    h.key(KeyCode::Char('+'));
    let clause = format!("\"Status\":{status}");
    assert!(h.app.view.text().contains(&clause), "{}", h.app.view.text());
    let expected = if status == "0xc0000234" { 1 } else { 2 };
    assert_eq!(h.app.total, expected);
}

/// A pivot that leaves nothing says that the conditions narrow together, and how to step back.
#[test]
fn an_empty_pivot_says_the_conditions_narrow_together() {
    let mut h = Harness::new(140, 30);
    h.query("ip:203.0.113.77");
    h.app.pivot_on("path", "/nowhere.aspx", false);
    h.settle();
    assert_eq!(h.app.total, 0);
    let screen = h.screen();
    assert!(
        screen.contains("no events match all 2 conditions together (Backspace drops the last)"),
        "{screen}"
    );
    h.key(KeyCode::Backspace);
    assert!(h.app.total > 0);
    h.query("path:/nowhere.aspx");
    let screen = h.screen();
    assert!(
        screen.contains("no events match") && !screen.contains("conditions together"),
        "{screen}"
    );
}

/// A record written over several lines (`evtx_dump`'s pretty-printed JSON) shows its lines in
/// the detail pane, not one run of escaped line ends.
#[test]
fn a_record_over_several_lines_keeps_them_in_the_detail_pane() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("security.json");
    let event: serde_json::Value = serde_json::from_str(&crate::common::windows_event(
        1,
        "Microsoft-Windows-Security-Auditing",
        4625,
        "Security",
        serde_json::json!({"TargetUserName": "admin", "IpAddress": "192.0.2.7"}),
    ))
    .expect("json");
    let pretty = serde_json::to_string_pretty(&event).expect("pretty");
    std::fs::write(&logs, format!("Record 1\n{pretty}\n")).expect("write");
    let case_dir = ingested(dir.path(), &logs);
    let mut h = Harness::with_session(&case_dir, trawl::session::Session::default(), 120, 60);
    assert_eq!(h.app.total, 1);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.focus, Pane::Detail);
    let screen = h.screen();
    assert!(screen.contains("security.json:2"), "{screen}");
    assert!(screen.contains("┃      \"EventID\": 4625,"), "{screen}");
    assert!(!screen.contains("\\n"), "{screen}");
}

/// Keys typed together (over SSH they arrive in one read) act in order: `G` right after a
/// pivot goes to the pivot's last event with a full table, and `g` right after a filter is
/// removed goes to the first event, not back to the place the view was to keep.
#[test]
fn keys_typed_together_act_in_order() {
    let (_dir, case) = new_case();
    let mut h = Harness::open(&case, 120, 30);
    h.key(KeyCode::Char('i'));
    let pivoted = h.app.total;
    h.key(KeyCode::Backspace);
    let all = h.app.total;
    assert!(all > pivoted && pivoted > 100, "{all} {pivoted}");
    // The pivot and `G` in one read.
    for code in [KeyCode::Char('i'), KeyCode::Char('G')] {
        h.app
            .on_event(&Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }
    h.settle();
    assert_eq!(h.app.total, pivoted);
    assert_eq!(h.app.cursor, pivoted - 1);
    let height = h.app.table_height as u64;
    assert_eq!(h.app.scroll, pivoted.saturating_sub(height), "a full table");
    assert!(h.app.current().is_some());
    // Removing the filter and `g` in one read.
    for code in [KeyCode::Backspace, KeyCode::Char('g')] {
        h.app
            .on_event(&Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }
    h.settle();
    assert_eq!(h.app.total, all);
    assert_eq!((h.app.cursor, h.app.scroll), (0, 0));
}
