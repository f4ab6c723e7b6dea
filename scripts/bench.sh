#!/usr/bin/env bash
# Benchmarks for BENCHMARKS.md: generate IIS corpora with trawl-gen (crates/gen), ingest them
# with the release binary (wall time and peak RSS from /usr/bin/time), report the index size,
# then time the benchmark queries and the timeline in-process with trawl-bench (crates/bench).
#
#   scripts/bench.sh                 # 1M and 10M lines
#   scripts/bench.sh 1000000         # only 1M
#   TRAWL_BENCH_DIR=/big/disk scripts/bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRAWL_BENCH_DIR:-/tmp/trawl-bench}
bin=$root/target/release/trawl
mkdir -p "$work"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --workspace

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
for n in "${sizes[@]}"; do
  corpus=$work/corpus-$n
  case_dir=$work/case-$n
  if [ ! -f "$corpus/.done" ]; then
    rm -rf "$corpus"
    "$root/target/release/trawl-gen" "$corpus" --bench-lines "$n" --days 7 >/dev/null
    touch "$corpus/.done"
  fi
  raw=$(du -sb "$corpus" | cut -f1)
  # Warm the page cache so that ingest measures trawl, not the disk.
  cat "$corpus"/*/inetpub/logs/LogFiles/W3SVC1/* > /dev/null
  rm -rf "$case_dir"
  /usr/bin/time -v "$bin" ingest --quiet --case "$case_dir" "$corpus" > "$work/ingest-$n.out" 2> "$work/ingest-$n.time"
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/ingest-$n.time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/ingest-$n.time")
  secs=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }')
  index=$(du -sb "$case_dir" | cut -f1)
  echo
  echo "== $n lines, $(awk -v b="$raw" 'BEGIN {printf "%.0f MB", b/1e6}') raw"
  awk -v n="$n" -v s="$secs" -v b="$raw" -v r="$rss" -v i="$index" 'BEGIN {
    printf "ingest: %.1f s, %.0f lines/s, %.1f MB/s, peak RSS %.0f MiB, index %.0f MB (%.2f of raw)\n",
      s, n / s, b / 1e6 / s, r / 1024, i / 1e6, i / b }'
  "$root/target/release/trawl-bench" --case "$case_dir" --runs 20
  # The anchors, on the same files in the same run: what a responder without trawl runs for
  # the same IP pivot (rg every time; lnav loading the logs into its SQL view every session).
  logs=("$corpus"/*/inetpub/logs/LogFiles/W3SVC1/*)
  if command -v rg > /dev/null; then
    /usr/bin/time -f "%e s %M KiB" -o "$work/rg-$n.time" rg -c --no-filename ' 185\.220\.101\.47 ' "${logs[@]}" > "$work/rg-$n.out" || true
    echo "anchor rg, IP count: $(awk '{s += $1} END {print s}' "$work/rg-$n.out") lines, $(cat "$work/rg-$n.time")"
  fi
  if command -v lnav > /dev/null; then
    /usr/bin/time -f "%e s %M KiB" -o "$work/lnav-$n.time" lnav -n -c ";SELECT count(*) FROM w3c_log WHERE c_ip = '185.220.101.47'" "${logs[@]}" > "$work/lnav-$n.out" 2>&1 || true
    echo "anchor lnav, IP count: $(grep -Eo '[0-9]+' "$work/lnav-$n.out" | tail -1) lines, $(cat "$work/lnav-$n.time")"
  fi
done
