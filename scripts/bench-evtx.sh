#!/usr/bin/env bash
# EVTX ingest benchmark for BENCHMARKS.md: about 1 GB of EVTX made of copies of the corpus's
# full-size samples (../shared/corpus; damaged ones included), parsed by the `evtx` crate alone
# (the anchor: crates/bench/src/bin/evtx-parse.rs), then ingested by trawl with the built-in
# pack, then again with 100 Sigma rules loaded as well.
#
#   scripts/bench-evtx.sh [COPIES]        # default 120 copies of 8 files (~1.07 GB)
#   TRAWL_BENCH_DIR=/big/disk scripts/bench-evtx.sh
#   CHAINSAW=/path/to/chainsaw/checkout scripts/bench-evtx.sh
#   SIGMAHQ=/path/to/sigma/rules/windows scripts/bench-evtx.sh   # a real rule set as well
#
# With SIGMAHQ (SigmaHQ's `rules/windows` folder, from its repository; nothing of it is in this
# repository), one more run ingests with all of those rules (and Chainsaw hunts with them).
# With CHAINSAW (a checkout of WithSecureLabs/chainsaw, built with `cargo build --release`;
# nothing of it is in this repository), each round also times Chainsaw hunting the same EVTX
# with the same 100 Sigma rules, and searching every record for one string: the peer a
# responder would otherwise run over these logs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus_root=${TRAWL_CORPUS:-$root/../shared/corpus}
work=${TRAWL_BENCH_DIR:-/tmp/trawl-bench}
copies=${1:-120}
bin=$root/target/release/trawl
mkdir -p "$work"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --workspace

samples=()
while IFS= read -r f; do samples+=("$f"); done < <(find "$corpus_root" -name '*.evtx' -size +1000k | sort)
[ ${#samples[@]} -gt 0 ] || { echo "no EVTX samples under $corpus_root" >&2; exit 1; }

evtx=$work/evtx-$copies-retimed
if [ ! -f "$evtx/.done" ]; then
  rm -rf "$evtx"
  for i in $(seq -w 1 "$copies"); do
    mkdir -p "$evtx/copy-$i"
    for f in "${samples[@]}"; do
      out="$evtx/copy-$i/$(basename "$f")"
      cp "$f" "$out"
      # trawl ingests identical content once, and a Windows event once however many copies of
      # its log it reads: each copy's events are moved by the copy's number of seconds, which
      # makes them other events (and the file other evidence).
      python3 "$root/scripts/evtx-retime.py" "$out" "$((10#$i))"
    done
  done
  touch "$evtx/.done"
fi

# 100 Sigma rules of the shapes SigmaHQ's Windows rules have (process creation, script blocks,
# files, services, logons), none copied from it; most match nothing, as most rules do.
sigma=$work/sigma-100
rm -rf "$sigma"
mkdir -p "$sigma"
for i in $(seq 1 100); do
  uuid=$(printf '00000000-0000-4000-8000-%012d' "$i")
  case $((i % 5)) in
    0) logsource='{product: windows, category: process_creation}'
       detection="  selection_parent:
    ParentImage|endswith: ['\\\\w3wp.exe', '\\\\svc$i.exe']
  selection_child:
    CommandLine|contains|all: ['tool$i', ' -enc ']
  filter:
    Image|startswith: 'C:\\\\Program Files\\\\Vendor$i\\\\'
  condition: all of selection_* and not filter" ;;
    1) logsource='{product: windows, category: ps_script}'
       detection="  selection:
    ScriptBlockText|contains: ['Invoke-Thing$i', 'FromBase64String(\$x$i)']
  condition: selection" ;;
    2) logsource='{product: windows, category: file_event}'
       detection="  selection:
    TargetFilename|endswith: '\\\\drop$i.aspx'
    TargetFilename|contains: '\\\\inetpub\\\\'
  condition: selection" ;;
    3) logsource='{product: windows, service: system}'
       detection="  selection:
    EventID: 7045
    ImagePath|contains: ['\\\\Temp\\\\svc$i', 'comspec']
  condition: selection" ;;
    4) logsource='{product: windows, service: security}'
       detection="  selection:
    EventID: [4624, 4625]
    TargetUserName|startswith: 'svc_$i'
  filter:
    IpAddress|cidr: '10.$i.0.0/16'
  condition: selection and not filter" ;;
  esac
  cat > "$sigma/rule-$i.yml" <<RULE
title: Benchmark rule $i
id: $uuid
description: A rule of the benchmark, in the shape of SigmaHQ's Windows rules (Chainsaw needs one)
status: test
logsource: $logsource
detection:
$detection
level: medium
RULE
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
raw=$(du -sb "$evtx" | cut -f1)
files=$(find "$evtx" -name '*.evtx' | wc -l)
echo "corpus: $files EVTX files, $(awk -v b="$raw" 'BEGIN {printf "%.0f MB", b/1e6}')"
cat "$evtx"/*/*.evtx > /dev/null

# Three rounds, the anchor and trawl side by side in each (this machine is shared: rounds differ
# by up to 40%); CPU seconds (user + system) are steadier than wall time.
measure() {
  local label=$1; shift
  local case_dir=$work/case-evtx
  rm -rf "$case_dir"
  /usr/bin/time -v "$bin" ingest --quiet --case "$case_dir" "$@" "$evtx" > "$work/evtx-$label.out" 2> "$work/evtx-$label.time"
  local wall rss secs events cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/evtx-$label.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/evtx-$label.time")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/evtx-$label.time")
  secs=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }')
  events=$("$bin" search --case "$case_dir" --count '*')
  awk -v l="$label" -v n="$events" -v s="$secs" -v c="$cpu" -v b="$raw" -v r="$rss" -v i="$(du -sb "$case_dir" | cut -f1)" 'BEGIN {
    printf "trawl ingest (%s): %d events in %.2f s (%.1f CPU-s): %.0f records/s, %.1f MB/s, peak RSS %.0f MiB, index %.2f of EVTX\n",
      l, n, s, c, n / s, b / 1e6 / s, r / 1024, i / b }'
  grep -E "^Detections|sigma rule not used" "$work/evtx-$label.out" "$work/evtx-$label.time" || true
}
chainsaw() { # label, chainsaw arguments...
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/chainsaw.time" "$CHAINSAW/target/release/chainsaw" --no-banner "$@" > "$work/chainsaw-$label.out" 2> "$work/chainsaw-$label.err" || {
    echo "chainsaw $label failed:" >&2; tail -3 "$work/chainsaw-$label.err" >&2; return; }
  read -r wall user sys rss < <(tail -1 "$work/chainsaw.time")
  awk -v l="$label" -v s="$wall" -v c="$(awk -v u="$user" -v y="$sys" 'BEGIN {print u + y}')" -v r="$rss" -v n="$(grep -c . "$work/chainsaw-$label.out")" \
    'BEGIN { printf "chainsaw (%s): %.2f s (%.1f CPU-s), peak RSS %.0f MiB, %d output lines\n", l, s, c, r / 1024, n }'
}
for round in 1 2 3; do
  echo "round $round"
  /usr/bin/time -f "  (%e s, %U user + %S system CPU-s)" "$root/target/release/evtx-parse" "$evtx"
  measure "built-in pack"
  measure "built-in pack + 100 Sigma rules" --sigma "$sigma"
  if [ -n "${CHAINSAW:-}" ]; then
    chainsaw "hunt, 100 Sigma rules" hunt "$evtx" -s "$sigma" --mapping "$CHAINSAW/mappings/sigma-event-logs-all.yml" --skip-errors -q --jsonl
    chainsaw "search every record for one string" search -i mimikatz "$evtx" -q --skip-errors --jsonl
  fi
done
if [ -n "${SIGMAHQ:-}" ]; then
  echo "SigmaHQ's rules: $(find "$SIGMAHQ" -name '*.yml' | wc -l) files"
  measure "built-in pack + SigmaHQ" --sigma "$SIGMAHQ"
  grep -c "sigma rule not used" "$work/evtx-built-in pack + SigmaHQ.time" || true
  grep -c "rule not run" "$work/evtx-built-in pack + SigmaHQ.time" || true
  if [ -n "${CHAINSAW:-}" ]; then
    chainsaw "hunt, SigmaHQ" hunt "$evtx" -s "$SIGMAHQ" --mapping "$CHAINSAW/mappings/sigma-event-logs-all.yml" --skip-errors -q --jsonl
  fi
fi
