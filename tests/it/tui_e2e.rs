//! The real binary in a real terminal (tmux): open the sample case, search for the web shell,
//! pivot on its client's IP, see the attacker's other requests, quit, and check that the
//! terminal was given back (no alternate screen, canonical mode on).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::path_str;

struct Tmux {
    session: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    fn text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", &self.session, "-l", text]);
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", &self.session])
    }

    /// Waits until the screen shows `needle` (the app answers asynchronously); the deadline is
    /// only a guard against hanging forever, not a measurement.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?} on:\n{screen}"
            );
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
