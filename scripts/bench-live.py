#!/usr/bin/env python3
"""The live timeline, measured from outside as a responder sees it (BENCHMARKS.md, issue 13).

The release binary runs in a real terminal (tmux); the screen is read every 20 ms.

  open    `trawl --case C CORPUS` on the bench corpus: time to the first frame, to the first
          events on screen, to the full count; peak RSS of the process; beside `trawl ingest`
          alone on the same files in the same run.
  follow  `trawl --case C --follow DIR` while a writer appends 1,000 IIS lines a second for a
          minute, each with its own path (/lat/<n>): for every line seen at the bottom of the
          table (the timeline keeps to the end), the time from its write to its appearance.

  scripts/bench-live.py open [LINES]      # default 10000000 (scripts/bench.sh makes the corpus)
  scripts/bench-live.py follow [SECONDS]  # default 60
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/trawl")
WORK = os.environ.get("TRAWL_BENCH_DIR", "/tmp/trawl-bench")
SESSION = f"trawl-bench-live-{os.getpid()}"


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def screen():
    return tmux("capture-pane", "-p", "-t", SESSION)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def trawl_pid(case):
    out = subprocess.run(["pgrep", "-f", f"{BIN} --case {case}"], capture_output=True, text=True)
    for pid in (int(p) for p in out.stdout.split()):
        try:
            if os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(BIN):
                return pid
        except OSError:
            pass
    return None


def start(args, width=160, height=50):
    tmux("kill-session", "-t", SESSION)
    cmd = "TERM=xterm-256color " + " ".join(args) + "; sleep 100000"
    tmux("new-session", "-d", "-s", SESSION, "-x", str(width), "-y", str(height), cmd)


COUNT = re.compile(r"([\d,]+) of ([\d,]+) events")


def bench_open(lines):
    corpus = os.path.join(WORK, f"corpus-{lines}")
    if not os.path.isdir(corpus):
        sys.exit(f"no corpus at {corpus}: run scripts/bench.sh {lines} first")
    alone_case = os.path.join(WORK, "live-alone")
    shutil.rmtree(alone_case, ignore_errors=True)
    subprocess.run(["sh", "-c", f"cat {corpus}/*/inetpub/logs/LogFiles/W3SVC1/* > /dev/null"])
    t0 = time.monotonic()
    subprocess.run([BIN, "ingest", "--quiet", "--case", alone_case, corpus], stdout=subprocess.DEVNULL, check=True)
    alone = time.monotonic() - t0
    total = int(subprocess.run([BIN, "search", "--case", alone_case, "*", "--count"], capture_output=True, text=True).stdout)
    shutil.rmtree(alone_case, ignore_errors=True)

    case = os.path.join(WORK, "live-case")
    shutil.rmtree(case, ignore_errors=True)
    t0 = time.monotonic()
    start([BIN, "--case", case, corpus])
    first_frame = first_events = full = None
    peak = 0
    pid = None
    while time.monotonic() - t0 < 3600:
        s = screen()
        now = time.monotonic() - t0
        pid = pid or trawl_pid(case)
        if pid:
            peak = max(peak, rss_kib(pid))
        m = COUNT.search(s)
        if m and first_frame is None:
            first_frame = now
        if m and first_events is None and int(m.group(2).replace(",", "")) > 0:
            first_events = now
        if m and int(m.group(2).replace(",", "")) == total and "ingested:" in s:
            full = now
            break
        time.sleep(0.02)
    tmux("send-keys", "-t", SESSION, "q")
    time.sleep(1)
    tmux("kill-session", "-t", SESSION)
    print(f"live open, {lines:,} lines ({total:,} events):")
    print(f"  trawl ingest alone: {alone:.1f} s")
    print(f"  timeline: first frame {first_frame:.2f} s, first events on screen {first_events:.2f} s, "
          f"full count with the ingest done {full:.1f} s ({(full / alone - 1) * 100:+.0f}% vs ingest alone)")
    print(f"  peak RSS of the process (timeline and ingest together): {peak / 1024:.0f} MiB")


IIS_HEADER = """#Software: Microsoft Internet Information Services 10.0
#Version: 1.0
#Date: {date}
#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken
"""


def bench_follow(seconds):
    root = tempfile.mkdtemp(prefix="trawl-follow-", dir=WORK)
    logs = os.path.join(root, "MBX-A", "W3SVC1")
    os.makedirs(logs)
    log = os.path.join(logs, "u_ex_live.log")
    with open(log, "w") as f:
        f.write(IIS_HEADER.format(date=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())))
    case = os.path.join(root, "case")
    start([BIN, "--case", case, "--follow", root])
    t0 = time.monotonic()
    while "following" not in screen():
        if time.monotonic() - t0 > 60:
            sys.exit("the timeline never said it was following:\n" + screen())
        time.sleep(0.05)
    pid = trawl_pid(case)
    written = {}
    done = threading.Event()

    def writer():
        seq = 0
        with open(log, "a") as f:
            begin = time.monotonic()
            while time.monotonic() - begin < seconds:
                for _ in range(10):
                    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                    f.write(f"{stamp} 10.0.0.5 GET /lat/{seq} - 443 - 203.0.113.9 bench - 200 0 0 1\n")
                    written[seq] = time.monotonic()
                    seq += 1
                f.flush()
                next_at = begin + seq / 1000
                time.sleep(max(0, next_at - time.monotonic()))
        done.set()

    # The newest line on screen at each look, when it first became the newest.
    newest = {}
    peak = 0
    threading.Thread(target=writer, daemon=True).start()
    pattern = re.compile(r"/lat/(\d+)")
    while not done.is_set() or time.monotonic() - max(written.values(), default=0) < 3:
        s = screen()
        now = time.monotonic()
        shown = [int(n) for n in pattern.findall(s)]
        if shown and max(shown) not in newest:
            newest[max(shown)] = now
        peak = max(peak, rss_kib(pid) if pid else 0)
        time.sleep(0.02)
    tmux("send-keys", "-t", SESSION, "q")
    time.sleep(1)
    tmux("kill-session", "-t", SESSION)
    # A line's latency: when it first showed as the newest line on screen, minus its write.
    lat = sorted(t - written[n] for n, t in newest.items() if n in written)
    if not lat:
        sys.exit("no appended line was seen")
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print(f"live follow, {len(written):,} lines appended at 1,000/s for {seconds} s; "
          f"{len(lat)} lines seen as the newest on screen:")
    print(f"  write -> on screen: p50 {pct(0.5) * 1000:.0f} ms, p99 {pct(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    print(f"  peak RSS of the process while following: {peak / 1024:.0f} MiB")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    what = sys.argv[1] if len(sys.argv) > 1 else "open"
    if what == "open":
        bench_open(int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000)
    elif what == "follow":
        bench_follow(int(sys.argv[2]) if len(sys.argv) > 2 else 60)
    else:
        sys.exit(__doc__)
