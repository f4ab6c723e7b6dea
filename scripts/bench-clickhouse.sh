#!/usr/bin/env bash
# The ClickHouse store for BENCHMARKS.md: a local clickhouse-server (Debian's package) started
# on loopback with its own data directory, the bench corpus (scripts/bench.sh makes it) ingested
# into it with the release binary, its size on disk, then the same questions timed through the
# store seam on the ClickHouse case and on the local tantivy case, in the same run.
#
#   scripts/bench-clickhouse.sh              # 10M lines
#   scripts/bench-clickhouse.sh 1000000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${TRAWL_BENCH_DIR:-/tmp/trawl-bench}
n=${1:-10000000}
bin=$root/target/release/trawl
corpus=$work/corpus-$n
case_dir=$work/case-$n
[ -f "$corpus/.done" ] || { echo "run scripts/bench.sh $n first (it writes the corpus and the local case)"; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --workspace

server=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
ch=$work/clickhouse
rm -rf "$ch"; mkdir -p "$ch"
port=18190
cat > "$ch/users.xml" <<XML
<?xml version="1.0"?><yandex><profiles><default></default></profiles><users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users><quotas><default></default></quotas></yandex>
XML
cat > "$ch/config.xml" <<XML
<?xml version="1.0"?><yandex><logger><level>warning</level><console>1</console></logger>
<http_port>$port</http_port><tcp_port>$((port + 1))</tcp_port><listen_host>127.0.0.1</listen_host>
<path>$ch/data/</path><tmp_path>$ch/tmp/</tmp_path><user_files_path>$ch/uf/</user_files_path>
<users_config>$ch/users.xml</users_config><default_profile>default</default_profile>
<default_database>default</default_database><mark_cache_size>5368709120</mark_cache_size></yandex>
XML
"$server" --config-file="$ch/config.xml" > "$ch/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -s "http://127.0.0.1:$port/ping" > /dev/null; do sleep 0.1; done
store="clickhouse://127.0.0.1:$port/default"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); $("$server" --version 2>/dev/null | head -1)"
raw=$(du -sb "$corpus" | cut -f1)
cat "$corpus"/*/inetpub/logs/LogFiles/W3SVC1/* > /dev/null
/usr/bin/time -v "$bin" ingest --quiet --store "$store" --case bench "$corpus" > "$work/ch-ingest-$n.out" 2> "$work/ch-ingest-$n.time"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/ch-ingest-$n.time")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/ch-ingest-$n.time")
secs=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }')
sql() { curl -s --data-binary "$1" "http://127.0.0.1:$port/"; }
bytes=$(sql "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = 'bench_events'")
server_rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
echo "== $n lines, $(awk -v b="$raw" 'BEGIN {printf "%.0f MB", b/1e6}') raw, into ClickHouse"
awk -v n="$n" -v s="$secs" -v b="$raw" -v r="$rss" -v i="$bytes" -v sr="$server_rss" 'BEGIN {
  printf "ingest (rules included): %.1f s, %.0f lines/s, %.1f MB/s, trawl peak RSS %.0f MiB, server peak RSS %.0f MiB, table %.0f MB (%.2f of raw)\n",
    s, n / s, b / 1e6 / s, r / 1024, sr / 1024, i / 1e6, i / b }'
echo "-- the ClickHouse case, through the store seam"
"$root/target/release/trawl-bench" --store "$store" --case bench --runs 10
if [ -d "$case_dir/index" ]; then
  echo "-- the local case of the same corpus, through the same seam"
  "$root/target/release/trawl-bench" --case "$case_dir" --runs 10
fi
