#!/usr/bin/env bash
# Time the console takes to render its pages over a large archive: the reports
# benchmark's generated history (EVENTS events over DAYS days) plus ALERTS partner
# credentials no grant binds, each raising its own unknown_credential alert.
#   scripts/bench/console.sh [EVENTS=10000000] [DAYS=10] [ALERTS=100000]
# Needs a release build. The archive is built once per size and kept in $BENCH_DIR.
# Each page is fetched 5 times with curl after one warm-up; the best and the median
# are reported, and appended to docs/bench/console.csv unless RECORD=0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo +dirty)
events=${1:-10000000}
days=${2:-10}
alerts=${3:-100000}
bin=${GRANTWATCH_BIN:-target/release/grantwatch}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
bin=$(realpath "$bin")
work=${BENCH_DIR:-/tmp/grantwatch-console-$events-$alerts}
since=2026-11-01
until=$(date -u -d "$since + $days days" +%F)

if [ ! -f "$work/ready" ]; then
  rm -rf "$work"
  mkdir -p "$work"
  echo "generating $events events over $days days, and $alerts unbound credentials"
  python3 tests/history/generate.py --out "$work" --days "$days" \
    --events-per-day $((events / days)) --bulk-grants 1000
  python3 - "$work/unbound.jsonl" "$alerts" "$days" <<'PY'
import json, sys
out, n, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(out, "w") as f:
    for i in range(n):
        day, second = i % days, (i * 7) % 86400
        ts = f"2026-11-{day + 1:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
        f.write(json.dumps({"ts": ts, "event_id": f"unbound-{i}", "credential_id": f"cli_unbound_{i}",
                            "action": f"GET /v1/accounts/acc_{i}"}) + "\n")
PY
  echo "archiving with grantwatch replay --archive-out"
  /usr/bin/time -f "replay: %e s, peak RSS %M KiB" "$bin" replay \
    --input "$work/events.jsonl" --input "$work/unbound.jsonl" \
    --grants "$work/grants.yaml" --alerts-out "$work/alerts.jsonl" --archive-out "$work/archive"
  printf '[grants]\npaths = ["grants.yaml"]\n[archive]\nurl = "archive"\n' > "$work/grantwatch.toml"
  touch "$work/ready"
fi
archived_alerts=$(wc -l < "$work/alerts.jsonl")
echo "archive: $(du -sh "$work/archive" | cut -f1), $archived_alerts alerts written"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec "$bin" console --config grantwatch.toml --listen "127.0.0.1:$port") \
  > "$work/console.log" 2>&1 &
console=$!
trap 'kill $console 2>/dev/null || true' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$port/reports"; do sleep 0.2; done

alert=$(grep -m1 '"rule":"unknown_credential"' "$work/alerts.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["alert_id"])')
printf '\n| page | status | best (ms) | median (ms) |\n|---|---|---|---|\n'
for labelled in "alerts list|/alerts?since=$since&until=$until" \
  "alerts list filtered and sorted|/alerts?since=$since&until=$until&severity=high&sort=count" \
  "alerts list page 101|/alerts?since=$since&until=$until&page=100" \
  "alert|/alerts/$alert" \
  "grant|/grants/payouts-main?since=$since&until=$until" \
  "overview|/"; do
  label=${labelled%%|*}
  page=${labelled#*|}
  url="http://127.0.0.1:$port$page"
  status=$(curl -s -o /dev/null -w '%{http_code}' "$url")
  times=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$url"; done | sort -n)
  best=$(echo "$times" | head -1)
  median=$(echo "$times" | sed -n 3p)
  printf '| %s | %s | %.0f | %.0f |\n' "$label" "$status" "$(echo "$best * 1000" | bc)" "$(echo "$median * 1000" | bc)"
  if [ "${RECORD:-1}" != 0 ]; then
    printf '%s,%s,%s,%s,%s,%s,%s,%.0f,%.0f\n' "$(date -u +%F)" "$commit" "$(nproc)" "$events" \
      "$archived_alerts" "$label" "$status" "$(echo "$best * 1000" | bc)" "$(echo "$median * 1000" | bc)" \
      >> docs/bench/console.csv
  fi
done
echo "cores: $(nproc); rows appended to docs/bench/console.csv unless RECORD=0"
