#!/usr/bin/env bash
# Seed corpora for the fuzz targets, from the public samples in ../shared/corpus and the
# repository's own fixtures (written to fuzz/corpus/<target>/, which git ignores).
#
#   fuzz/seed.sh && cd fuzz && cargo +nightly fuzz run formats -- -runs=10000000
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=${TRAWL_CORPUS:-$root/../shared/corpus}
out=$here/corpus
mkdir -p "$out"/{formats,query,query_index,rules,sigma,evtx,decode}
n=0
seed() { # target, file: its first 16 KiB as one seed
  n=$((n + 1))
  head -c 16384 "$2" > "$out/$1/seed-$n"
}
if [ -d "$shared" ]; then
  while IFS= read -r f; do
    case "$f" in
      *.evtx) [ "$(stat -c %s "$f")" -le 70000 ] && cp "$f" "$out/evtx/seed-$((n += 1))" ;;
      *.zip|*.gz) seed decode "$f" ;;
      *.md|*.yml|*.yaml) ;;
      *) seed formats "$f"; seed decode "$f" ;;
    esac
  done < <(find "$shared" -type f | sort)
else
  echo "no $shared: seeding from the repository only" >&2
fi
while IFS= read -r f; do seed formats "$f"; done < <(find "$root/sample-logs" "$root/tests/fixtures" -type f -not -name '*.yml' | sort)
for f in "$root"/tests/fixtures/sigma/*.yml; do cp "$f" "$out/sigma/"; done
cp "$root/src/rules/builtin.toml" "$out/rules/"
# Queries: every example in the README's query table, and the built-in rules' queries.
grep -o '`[^`]*:[^`]*`' "$root/README.md" | tr -d '`' | while IFS= read -r q; do
  n=$((n + 1)); printf '%s' "$q" > "$out/query/seed-$n"
done
grep -E "^query = '" "$root/src/rules/builtin.toml" | sed -E "s/^query = '(.*)'$/\1/" | while IFS= read -r q; do
  n=$((n + 1)); printf '%s' "$q" > "$out/query/rule-$n"
done
# Queries for the index: the same ones, those the target takes (256 bytes at most).
find "$out/query" -type f -size -257c -exec cp {} "$out/query_index/" \;
for t in formats query query_index rules sigma evtx decode; do
  echo "$t: $(find "$out/$t" -type f | wc -l) seeds"
done
