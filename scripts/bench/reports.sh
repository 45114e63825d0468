#!/usr/bin/env bash
# Time of every canned report over an archive of generated events, side by side with
# DuckDB asking the same question of the same Parquet files (tests/history/check.py).
#   scripts/bench/reports.sh [EVENTS=10000000] [DAYS=10]
# Needs a release build. The archive is built once per size (generate.py, then
# `grantwatch replay --archive-out`) and kept in $BENCH_DIR for reruns.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo +dirty)
events=${1:-10000000}
days=${2:-10}
bin=${GRANTWATCH_BIN:-target/release/grantwatch}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
bin=$(realpath "$bin")
work=${BENCH_DIR:-/tmp/grantwatch-reports-$events}
python=$(deploy/local/python.sh)
since=2026-11-01
until=$(date -u -d "$since + $days days" +%F)

if [ ! -f "$work/generated" ]; then
  rm -rf "$work"
  echo "generating $events events over $days days in $work"
  python3 tests/history/generate.py --out "$work" --days "$days" \
    --events-per-day $((events / days)) --bulk-grants 1000
  touch "$work/generated"
fi
if [ ! -f "$work/ready" ]; then
  rm -rf "$work/archive"
  echo "archiving with grantwatch replay --archive-out"
  /usr/bin/time -f "replay: %e s, peak RSS %M KiB" "$bin" replay --input "$work/events.jsonl" \
    --grants "$work/grants.yaml" --alerts-out "$work/alerts.jsonl" --archive-out "$work/archive"
  printf '[grants]\npaths = ["grants.yaml"]\n[archive]\nurl = "archive"\n' > "$work/grantwatch.toml"
  touch "$work/ready"
fi
rows=$(find "$work/archive" -path '*alerts*' -prune -o -name '*.parquet' -print | wc -l)
size=$(du -sh "$work/archive" | cut -f1)
echo "archive: $size, $rows action files"

best() { sort -n | head -1; }
# Both sides time the query alone (plan and run, result collected), after their tables
# are registered; the grantwatch process's wall time (start-up, grants, listing) beside.
printf '\n| report | rows | grantwatch (s) | DuckDB (s) | ratio | grantwatch process (s) |\n|---|---|---|---|---|---|\n'
for report in idle_grants unused_scopes least_privilege drift_by_partner out_of_purpose_top \
  delegate_activity emergency_usage expiring_soon credential_reuse grant_changes alerts_summary; do
  runs=$(for _ in 1 2 3; do
    t0=$(date +%s.%N)
    timing=$(cd "$work" && "$bin" query "$report" --config grantwatch.toml --since "$since" \
      --until "$until" --format csv 2>&1 >/dev/null | tail -1)   # "N rows in S s"
    t1=$(date +%s.%N)
    echo "$(echo "$timing" | awk '{print $4}') $(echo "$t1 - $t0" | bc) $(echo "$timing" | awk '{print $1}')"
  done | sort -n)
  gw=$(echo "$runs" | head -1 | cut -d' ' -f1)
  wall=$(echo "$runs" | awk '{print $2}' | sort -n | head -1)
  rows=$(echo "$runs" | head -1 | cut -d' ' -f3)
  duck=$(for _ in 1 2 3; do
    "$python" tests/history/check.py --dir "$work" --since "$since" --until "$until" --bench "$report"
  done | best)
  ratio=$(printf '%.2f' "$(echo "$gw / $duck" | bc -l)")
  printf '| %s | %s | %.3f | %.3f | %s | %.3f |\n' "$report" "$rows" "$gw" "$duck" "$ratio" "$wall"
  if [ "${RECORD:-1}" != 0 ]; then
    printf '%s,%s,%s,%s,%s,%.3f,%.3f,%s,%.3f\n' "$(date -u +%F)" "$commit" "$(nproc)" \
      "$report" "$rows" "$gw" "$duck" "$ratio" "$wall" >> docs/bench/reports.csv
  fi
done
echo "cores: $(nproc); best of 3 each; rows appended to docs/bench/reports.csv unless RECORD=0"
