//! The real binary in a real terminal (tmux): open the sample case, search for the web shell,
//! pivot on its client's IP, see the attacker's other requests, quit, and check that the
//! terminal was given back (no alternate screen, canonical mode on).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::path_str;

pub(crate) struct Tmux {
    pub(crate) session: String,
}

impl Tmux {
    /// Runs `script` in a new detached session of the given size.
    pub(crate) fn start(name: &str, script: &str, width: u16, height: u16) -> Tmux {
        let tmux = Tmux {
            session: format!("trawl-{name}-{}", std::process::id()),
        };
        let (w, h) = (width.to_string(), height.to_string());
        let started = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &tmux.session,
                "-x",
                &w,
                "-y",
                &h,
                script,
            ])
            .status()
            .unwrap();
        assert!(started.success());
        tmux
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    pub(crate) fn text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", &self.session, "-l", text]);
    }

    pub(crate) fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Waits until the screen shows `needle` (the app answers asynchronously); the deadline is
    /// only a guard against hanging forever, not a measurement.
    pub(crate) fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |screen| screen.contains(needle))
    }

    /// Waits until the screen satisfies `done` (`what` names it in the failure message).
    pub(crate) fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "never saw {what} on:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
    }
}

#[test]
fn search_pivot_and_quit_in_a_real_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        "sample-logs",
    ]);
    let session = format!("trawl-e2e-{}", std::process::id());
    let script = format!(
        "cd {repo} && TERM=xterm-256color {bin} --case {case}; echo EXITED:$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-*icanon'; sleep 60",
        repo = path_str(&common::repo()),
        bin = env!("CARGO_BIN_EXE_trawl"),
        case = path_str(&case),
    );
    let tmux = Tmux { session };
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "120",
            "-y",
            "35",
            &script,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    tmux.wait_for("40,002 events");

    // Search for the web shell.
    tmux.keys(&["/"]);
    tmux.text("path:\"/aspnet_client/discover.aspx\"");
    tmux.keys(&["Enter"]);
    tmux.wait_for("28 of 40,002 events");
    tmux.wait_for("198.51.100.144");

    // Pivot on the first row's client IP, then drop the query: everything that address did.
    tmux.keys(&["i"]);
    tmux.wait_for("client:198.51.100.144");
    tmux.keys(&["/"]);
    tmux.keys(&["C-u"]);
    for _ in 0..60 {
        tmux.keys(&["BSpace"]);
    }
    tmux.keys(&["Enter"]);
    tmux.wait_for("27 of 40,002 events");
    // The SSRF requests, once their rows have arrived.
    let screen = tmux.wait_for("/ecp/t.js");
    assert!(screen.contains("python-requests"), "{screen}");

    // Quit and check the terminal was restored.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXITED:");
    assert!(screen.contains("EXITED:0"), "{screen}");
    let restored = tmux.wait_for("icanon");
    assert!(
        !restored.contains("-icanon"),
        "raw mode left on:\n{restored}"
    );
    assert_eq!(
        tmux.cmd(&[
            "display-message",
            "-p",
            "-t",
            &tmux.session,
            "#{alternate_on}"
        ])
        .trim(),
        "0"
    );
}

/// `trawl --follow PATH…` in a real terminal: the timeline opens while a large log is being
/// ingested and reaches the full count; then lines appended to the log appear; quitting prints
/// what was read, and a plain ingest afterwards finds nothing left to add.
#[test]
fn the_timeline_fills_while_ingesting_and_follows_a_growing_log() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed (.ci/run installs it)");
        return;
    }
    let sample = common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log");
    let text = std::fs::read_to_string(sample).unwrap();
    let (header, records): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('#'));
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev/W3SVC1"));
    std::fs::create_dir_all(&evidence).unwrap();
    let log = evidence.join("u_ex210305.log");
    // The day's records thirty times over: enough to take a while.
    let mut body = header.join("\n") + "\n";
    for _ in 0..30 {
        body += &(records.join("\n") + "\n");
    }
    std::fs::write(&log, body).unwrap();
    let total = records.len() * 30;

    let session = format!("trawl-live-{}", std::process::id());
    let script = format!(
        "TERM=xterm-256color {bin} --case {case} --follow {ev}; echo EXITED:$?; sleep 60",
        bin = env!("CARGO_BIN_EXE_trawl"),
        case = path_str(&case),
        ev = path_str(&dir.path().join("ev")),
    );
    let tmux = Tmux { session };
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "140",
            "-y",
            "35",
            &script,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    let thousands = |n: usize| trawl::sanitize::thousands(n as u64);
    tmux.wait_for(&format!("{0} of {0} events", thousands(total)));
    tmux.wait_for("following");

    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    use std::io::Write as _;
    for line in &records[..10] {
        writeln!(f, "{line}").unwrap();
    }
    drop(f);
    tmux.wait_for(&format!("{0} of {0} events", thousands(total + 10)));

    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXITED:");
    assert!(screen.contains("EXITED:0"), "{screen}");
    assert!(
        screen.contains("Ingested 1 file"),
        "the summary is printed: {screen}"
    );
    let again = common::ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&dir.path().join("ev")),
    ]);
    assert!(again.contains(" 0 new events"), "{again}");
    let count = common::ok(&["search", "--case", path_str(&case), "*", "--count"]);
    assert_eq!(count.trim(), (total + 10).to_string());
}

/// Ctrl-z gives the terminal (and its cursor) back to the shell and `fg` takes it again: the timeline is drawn
/// afresh and answers keys (the cursor-position question a re-initialised terminal asks was
/// answered into the input thread, and the resume failed).
#[test]
fn ctrl_z_suspends_and_fg_resumes_in_an_interactive_shell() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed (.ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    common::ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        "sample-logs",
    ]);
    let tmux = Tmux {
        session: format!("trawl-suspend-{}", std::process::id()),
    };
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "120",
            "-y",
            "35",
            "env PS1='$ ' TERM=xterm-256color bash --norc --noprofile -i",
        ])
        .status()
        .unwrap();
    assert!(started.success());
    // (Not `; echo …`: the shell runs that as soon as the job stops.)
    tmux.text(&format!(
        "{} --case {}",
        env!("CARGO_BIN_EXE_trawl"),
        path_str(&case)
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("40,002 of 40,002 events");
    tmux.keys(&["C-z"]);
    tmux.wait_for("Stopped");
    // The shell has its cursor back.
    let cursor = Command::new("tmux")
        .args(["display", "-p", "-t", &tmux.session, "#{cursor_flag}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cursor.stdout).trim(), "1");
    tmux.text("fg");
    tmux.keys(&["Enter"]);
    tmux.wait_for("40,002 of 40,002 events");
    tmux.keys(&["/"]);
    tmux.text("path:\"/aspnet_client/discover.aspx\"");
    tmux.keys(&["Enter"]);
    tmux.wait_for("28 of 40,002 events");
    tmux.keys(&["q"]);
    // Typed as soon as the timeline is gone, before the shell's prompt: the terminal is no
    // longer read once it is given back, so this type-ahead is the shell's (an input thread
    // still reading it took the line, which CI once saw).
    tmux.wait_until("the timeline gone", |screen| {
        !screen.contains("of 40,002 events")
    });
    tmux.text("echo EXITED:$((1 + $?))");
    tmux.keys(&["Enter"]);
    // The status plus one, so that the needle is not the command line just typed.
    let screen = tmux.wait_for("EXITED:1\n");
    assert!(!screen.contains("cursor position"), "{screen}");
}

/// Quitting the timeline while its ingest runs stops the ingest at its last commit; the same
/// command's ingest afterwards completes the case exactly (whether or not the ingest had
/// finished by the time `q` arrived, the count must be exact).
#[test]
fn quitting_during_the_ingest_keeps_the_case_exact() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipping: tmux is not installed (.ci/run installs it)");
        return;
    }
    let sample = common::sample_logs().join("MBX-A/inetpub/logs/LogFiles/W3SVC1/u_ex210305.log");
    let text = std::fs::read_to_string(sample).unwrap();
    let (header, records): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('#'));
    let dir = tempfile::tempdir().unwrap();
    let (case, evidence) = (dir.path().join("case"), dir.path().join("ev"));
    std::fs::create_dir_all(&evidence).unwrap();
    // Twenty logs (distinct: the same content would be one piece of evidence).
    for day in 0..20 {
        let body = header.join("\n")
            + &format!("\n#Date: 2021-03-{:02} 00:00:00\n", day + 1)
            + &records.join("\n")
            + "\n";
        std::fs::write(evidence.join(format!("u_ex2103{day:02}.log")), body).unwrap();
    }
    let total = records.len() * 20;
    let tmux = Tmux {
        session: format!("trawl-quit-{}", std::process::id()),
    };
    let script = format!(
        "TERM=xterm-256color {bin} --case {case} {ev}; echo EXITED:$?; sleep 60",
        bin = env!("CARGO_BIN_EXE_trawl"),
        case = path_str(&case),
        ev = path_str(&evidence),
    );
    let started = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &tmux.session,
            "-x",
            "140",
            "-y",
            "35",
            &script,
        ])
        .status()
        .unwrap();
    assert!(started.success());
    tmux.wait_for(" events");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("EXITED:");
    assert!(screen.contains("EXITED:0"), "{screen}");
    common::ok(&[
        "ingest",
        "--quiet",
        "--case",
        path_str(&case),
        path_str(&evidence),
    ]);
    let count = common::ok(&["search", "--case", path_str(&case), "*", "--count"]);
    assert_eq!(count.trim(), total.to_string());
    let out = common::json_lines(&common::ok(&[
        "search",
        "--case",
        path_str(&case),
        "*",
        "--json",
        "--limit",
        "1000000",
    ]));
    let distinct: std::collections::BTreeSet<(String, u64)> = out
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(distinct.len(), total, "no event doubled");
}
