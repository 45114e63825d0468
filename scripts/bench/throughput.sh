#!/usr/bin/env bash
# The pipeline benchmark: what one `grantwatch run` does against the local broker,
# next to kcat's raw consume rate of the same topic (the ceiling for any Kafka
# consumer on this machine).
#   scripts/bench/throughput.sh [EVENTS=2000000] [GRANTS=10000] [PARTITIONS=4]
# Three runs, one table (printed, and appended to docs/bench/pipeline.csv unless RECORD=0):
#   drain    EVENTS partner actions (~450 bytes, ~2% out of purpose) for GRANTS grants,
#            produced first, then consumed, decoded, judged by every rule, alerted,
#            archived and committed: events/s from process start to exit after the
#            last event's alert (the exit puts the archive and commits offsets; the
#            group's lag is checked to be zero afterwards). Also timed from the start,
#            without stopping: "own count" until the last partition's sentinel has
#            alerted, "committed" until the broker holds commits covering every
#            event (what a crash would not re-read; scripts/bench/Committed.java);
#   memory   the same for BIG_GRANTS (100000) grants: peak RSS;
#   latency  RATE (20000) events/s for SECONDS (30) into a running grantwatch: each
#            alert's Kafka timestamp minus its event's produce time, p50/p99, after a
#            WARMUP (5 s); pacing starts once grantwatch has alerted on a probe event
#            (so the group join is behind it).
# Each drain also prints its CPU by thread (the loop, the runtime's workers, the
# archive thread and librdkafka's), the share of the cores it kept busy (CPU over
# cores x wall: unlike wall time it repeats to ~0.01 here, so it compares scheduling
# changes) and when its first batch was processed.
#   callgrind  (only when named in RUNS) the instructions `grantwatch run` takes to
#            drain the workload's first CALLGRIND_EVENTS (400000) events, under
#            valgrind's callgrind. Unlike time they repeat on this machine (it has no
#            hardware counters for perf stat), so they compare builds; no table row.
# The archive runs at its defaults (ARCHIVE_FLUSH=1s, say, sets archive.flush_interval
# for a tuned run to show beside them); ARCHIVE=0 leaves it off; KEEP=1 keeps the work files and topics; GRANTWATCH_BIN compares another build; RUNS picks
# runs ("drain latency"; latency uses the drain run's workload).
# Comparing builds: this machine's speed drifts by up to half within an hour, so only
# alternated runs compare. WORKLOAD=DIR reuses (or first writes) the drain run's
# generated files in DIR (the latency run reads them too), and TOPIC=NAME drains a
# topic already holding them and their sentinels (as a KEEP=1 run leaves it) instead
# of producing a new one; the memory run always makes its own:
#   for b in /tmp/gw-before target/release/grantwatch /tmp/gw-before ...; do
#     GRANTWATCH_BIN=$b RUNS=drain RECORD=0 WORKLOAD=/tmp/w TOPIC=kept scripts/bench/throughput.sh
#   done
# Needs the local broker (deploy/local/kafka.sh start) and a `dist` build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
events=${1:-2000000}
grants=${2:-10000}
partitions=${3:-4}
big_grants=${BIG_GRANTS:-100000}
rate=${RATE:-20000}
seconds=${SECONDS_PACED:-30}
warmup=${WARMUP:-5}
brokers=127.0.0.1:${KAFKA_PORT:-9092}
jars=${KAFKA_JARS_DIR:-$HOME/.cache/grantwatch/kafka-jars}
# The build the image ships (the `dist` profile); GRANTWATCH_BIN=target/release/grantwatch
# measures the everyday build instead.
bin=${GRANTWATCH_BIN:-target/dist/grantwatch}
[ -x "$bin" ] || { echo "build first: cargo build --profile dist" >&2; exit 2; }
bin=$(realpath "$bin")
work=$(mktemp -d /tmp/gw-bench.XXXXXX)
run=$(date +%s)
# Each run leaves ~1 GB of events and topics behind: removed at exit unless KEEP=1.
cleanup() {
  [ "${KEEP:-0}" = 1 ] && return
  java -cp "$jars/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" \
    --delete --if-exists --topic "bench-.*-$run.*" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo +dirty)
rows=$work/rows.md
: > "$rows"

kafka_tool() { java -cp "$jars/*" "$@" --bootstrap-server "$brokers"; }
ms() { date +%s%3N; }
per_second() { echo "$1 * 1000 / $2" | bc; }

# generate DIR GRANTS: the workload (grants.yaml, events.tsv) in DIR, unless DIR
# already holds it.
generate() {
  mkdir -p "$1"
  [ -f "$1/events.tsv" ] && [ -f "$1/grants.yaml" ] && return
  python3 scripts/bench/generate.py "$1" "$events" "$2"
}

# produce DIR TOPIC: the workload to a new topic, then one sentinel per partition,
# last in each: its alert proves the partition is drained.
produce() {
  kafka_tool org.apache.kafka.tools.TopicCommand --create --topic "$2" \
    --partitions "$partitions" --replication-factor 1 >/dev/null
  kcat -P -b "$brokers" -t "$2" -K $'\t' -z lz4 -X linger.ms=20 -X batch.num.messages=10000 < "$1/events.tsv"
  for p in $(seq 0 $((partitions - 1))); do
    echo "{\"ts\":1796000999999,\"event_id\":\"sentinel-$p\",\"credential_id\":\"cli_sentinel_$p\",\"action\":\"GET /ping\"}" \
      | kcat -P -b "$brokers" -t "$2" -p "$p"
  done
}

# ceiling TOPIC: kcat's raw consume rate of the whole topic, msg/s.
ceiling() {
  local t0 count
  t0=$(ms)
  count=$(kcat -C -b "$brokers" -t "$1" -o beginning -e -q -f '%o\n' -X fetch.wait.max.ms=10 | wc -l)
  per_second "$count" $(( $(ms) - t0 ))
}

# config DIR DATA TOPIC GROUP [ALERT_TOPIC]: a grantwatch.toml in DIR, for the grants
# of the workload in DATA.
config() {
  local alert_topic=${5:+"kafka_topic = \"$5\""}
  mkdir -p "$1"
  cat > "$1/grantwatch.toml" <<TOML
[kafka]
brokers = "$brokers"
group_id = "$4"
topics = ["$3"]
dead_letter_topic = "$4.dlq"
[grants]
paths = ["$(realpath "$2/grants.yaml")"]
[alerts]
file = "alerts.jsonl"
$alert_topic
[metrics]
listen = "127.0.0.1:0"
TOML
  # Parquet of every event, at the archive's default settings unless ARCHIVE_FLUSH.
  if [ "${ARCHIVE:-1}" != 0 ]; then
    printf '[archive]\nurl = "archive"\n' >> "$1/grantwatch.toml"
    [ -z "${ARCHIVE_FLUSH:-}" ] || printf 'flush_interval = "%s"\n' "$ARCHIVE_FLUSH" >> "$1/grantwatch.toml"
  fi
  : > "$1/alerts.jsonl"
}

# Sampled while grantwatch runs: peak RSS (MiB), CPU seconds used, and those of its
# threads by kind as last sampled before the stop: the loop (the main thread), the
# runtime's workers (reading, decoding, preparing, the rule queries), the archive
# thread, librdkafka's. Their sum against wall time × cores shows how much of the
# machine a drain leaves idle, and which stage to move work from.
peak_rss=0 cpu_s=0 threads=""
sample() {
  local hwm ticks split
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 0
  [ -n "$hwm" ] && peak_rss=$((hwm / 1024))
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null) || return 0
  [ -n "$ticks" ] && cpu_s=$(echo "scale=1; $ticks / $(getconf CLK_TCK)" | bc)
  # One awk for all threads: a process per thread each sample would load the CPU
  # being measured. A thread's name is in parentheses and may hold spaces.
  split=$(awk -v pid="$1" -v hz="$(getconf CLK_TCK)" '
    match($0, /\(.*\)/) {
      name = substr($0, RSTART + 1, RLENGTH - 2)
      split(substr($0, RSTART + RLENGTH + 1), f, " ")
      kind = $1 == pid ? "loop" : name ~ /^tokio-rt/ ? "workers" : name ~ /^archive/ ? "archive" \
        : name ~ /^rdk:|^producer/ ? "librdkafka" : "other"
      cpu[kind] += f[12] + f[13]
    }
    END { for (k in cpu) printf "%s %.1f s, ", k, cpu[k] / hz }' /proc/"$1"/task/*/stat 2>/dev/null) || return 0
  [ -n "$split" ] && threads=${split%, }
}

# start DIR: grantwatch on DIR/grantwatch.toml in the background (pid in $pid).
start() {
  peak_rss=0 cpu_s=0 threads=""
  # Warnings, and each batch's debug line (~250 a drain): the first one dates the
  # end of start-up.
  GRANTWATCH_LOG=warn,grantwatch::telemetry::events=debug "$bin" run --config "$1/grantwatch.toml" \
    2> "$1/grantwatch.log" &
  pid=$!
}

# stop DIR: SIGTERM (drain, final archive put, offset commit), wait for the exit.
stop() {
  # Threads as last sampled running: librdkafka's end before the process does.
  local running=$threads
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sample "$pid"; sleep 0.05; done
  threads=$running
  wait "$pid" || { cat "$1/grantwatch.log"; echo "grantwatch failed" >&2; exit 1; }
}

# alerted DIR: whether the sentinel of every partition has alerted; exits if the
# grantwatch started from DIR has died.
alerted() {
  kill -0 "$pid" 2>/dev/null || { cat "$1/grantwatch.log"; echo "grantwatch died" >&2; exit 1; }
  [ "$(grep -c '"sentinel-' "$1/alerts.jsonl")" -ge "$partitions" ]
}

# watch_commits DIR GROUP TOTAL: in the background, the broker's record of GROUP's
# commits (scripts/bench/Committed.java), polled until the offsets cover TOTAL
# events; DIR/committed gets "ready", then the epoch ms they did. Started before
# grantwatch, so the JVM's start does not share the drain's cores.
watch_commits() {
  java -cp "$jars/*" scripts/bench/Committed.java "$brokers" "$2" "$3" 300 > "$1/committed" 2>&1 &
  watcher=$!
  until grep -q ready "$1/committed"; do
    kill -0 "$watcher" 2>/dev/null || { cat "$1/committed"; echo "commit watcher failed" >&2; exit 1; }
    sleep 0.1
  done
}

# lag GROUP: the group's total lag as the broker sees it.
lag() {
  kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --describe --group "$1" 2>/dev/null \
    | awk '$6 ~ /^[0-9]+$/ {sum += $6} END {print sum + 0}'
}

# drain NAME GRANTS [DATA [TOPIC]]: one drain run of the workload in DATA (written
# there if missing), from TOPIC if given (else produced to a new one), adding a row.
drain() {
  local dir=$work/$1 data=${3:-$work/$1} topic=${4:-bench-$1-$run} group=bench-$1-$run
  local t0 elapsed kcat_rate gw_rate alerts
  echo "== $1: $events events, $2 grants"
  generate "$data" "$2"
  if [ -z "${4:-}" ]; then
    echo "average event: $(( $(cut -f2- "$data/events.tsv" | wc -c) / events )) bytes"
    produce "$data" "$topic"
  fi
  kcat_rate=$(ceiling "$topic")
  echo "kcat raw consume: $kcat_rate msg/s"
  config "$dir" "$data" "$topic" "$group"
  local total=$((events + partitions)) left own until
  watch_commits "$dir" "$group" "$total"
  t0=$(ms)
  start "$dir"
  until alerted "$dir"; do
    sample "$pid"
    sleep 0.1
  done
  own=$(( $(ms) - t0 ))
  # The topic is new, or kept from a run that produced it whole: offsets start at 0.
  while kill -0 "$watcher" 2>/dev/null; do
    sample "$pid"
    sleep 0.1
  done
  wait "$watcher" || { echo "offsets not committed within 300 s" >&2; exit 1; }
  until=$(( $(tail -n1 "$dir/committed") - t0 ))
  stop "$dir"
  elapsed=$(( $(ms) - t0 ))
  gw_rate=$(per_second "$total" "$elapsed")
  alerts=$(wc -l < "$dir/alerts.jsonl")
  left=$(lag "$group")
  echo "grantwatch: $total events in $elapsed ms = $gw_rate events/s, $alerts alerts, lag after $left, peak RSS $peak_rss MiB, CPU $cpu_s s"
  echo "drain by own count $own ms, until committed $until ms ($(printf '%.2f' "$(echo "scale=3; $until / $own" | bc)")x)"
  echo "CPU by thread: $threads; busy $(printf "%.2f" "$(echo "scale=3; $cpu_s * 1000 / ($(nproc) * $elapsed)" | bc)") of $(nproc) cores"
  # Start-up: launch to the first batch processed (grants parsed, rules planned, Kafka
  # and the state topic reached, the group joined, a batch read and judged).
  local first
  first=$(grep -m1 'Processed batch' "$dir/grantwatch.log" | cut -d' ' -f1)
  [ -z "$first" ] || echo "first batch processed $(( $(date -u -d "$first" +%s%3N) - t0 )) ms after launch"
  [ "$left" = 0 ] || { echo "the group's lag is $left after exit" >&2; exit 1; }
  printf '| %s | %s | %s | %s | %s | %s | %s | %s events/s (%s s) | %s | - | %s MiB | %s s | %s / %s s |\n' \
    "$(date +%F)" "$commit" "$(nproc)" "$1${ARCHIVE_FLUSH:+ (flush $ARCHIVE_FLUSH)}" "$2" "$total" "$kcat_rate" "$gw_rate" \
    "$(echo "scale=1; $elapsed / 1000" | bc)" "$(printf '%.2f' "$(echo "scale=4; $gw_rate / $kcat_rate" | bc)")" \
    "$peak_rss" "$cpu_s" "$(echo "scale=1; $own / 1000" | bc)" "$(echo "scale=1; $until / 1000" | bc)" >> "$rows"
}

# latency: RATE events/s into a running grantwatch; alerts on a Kafka topic.
latency() {
  local dir=$work/latency data=${WORKLOAD:-$work/drain} topic=bench-latency-$run alert_topic=bench-alerts-$run since
  echo "== latency: $rate events/s for $seconds s after $warmup s, $grants grants"
  generate "$data" "$grants"
  kafka_tool org.apache.kafka.tools.TopicCommand --create --topic "$topic" \
    --partitions "$partitions" --replication-factor 1 >/dev/null
  kafka_tool org.apache.kafka.tools.TopicCommand --create --topic "$alert_topic" \
    --partitions 1 --replication-factor 1 >/dev/null
  config "$dir" "$data" "$topic" "bench-latency-$run" "$alert_topic"
  start "$dir"
  # Paced events start once grantwatch alerts on a probe: the group has joined and
  # the backlog of the join is not measured (a fixed wait sometimes fell short).
  echo '{"ts":1796000999999,"event_id":"sentinel-ready","credential_id":"cli_sentinel_ready","action":"GET /ping"}' \
    | kcat -P -b "$brokers" -t "$topic"
  until grep -q '"sentinel-ready' "$dir/alerts.jsonl"; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/grantwatch.log"; echo "grantwatch died" >&2; exit 1; }
    sleep 0.1
  done
  since=$(( $(ms) + warmup * 1000 ))
  python3 scripts/bench/pace.py "$data/events.tsv" "$rate" $((seconds + warmup)) \
    | kcat -P -b "$brokers" -t "$topic" -K $'\t' -X linger.ms=1
  sleep 2
  sample "$pid"
  stop "$dir"
  kcat -C -b "$brokers" -t "$alert_topic" -o beginning -e -q -f '%T\t%s\n' > "$work/latency-alerts.tsv"
  read -r count p50 p99 max < <(python3 scripts/bench/latency.py "$work/latency-alerts.tsv" "$since")
  echo "detection latency over $count alerts: p50 $p50 ms, p99 $p99 ms, max $max ms; peak RSS $peak_rss MiB, CPU $cpu_s s"
  printf '| %s | %s | %s | latency | %s | %s/s for %s s | - | - | - | %s / %s ms (%s alerts) | %s MiB | %s s | %s / %s |\n' \
    "$(date +%F)" "$commit" "$(nproc)" "$grants" "$rate" "$seconds" "$p50" "$p99" "$count" \
    "$peak_rss" "$cpu_s" "-" "-" >> "$rows"
}

# callgrind: the instructions of one drain of the first CALLGRIND_EVENTS events of the
# drain run's workload, from a topic of their own; the profile is left for
# callgrind_annotate (KEEP=1 keeps it).
callgrind() {
  local dir=$work/callgrind data=${WORKLOAD:-$work/drain} topic=bench-callgrind-$run
  local n=${CALLGRIND_EVENTS:-400000}
  command -v valgrind >/dev/null || { echo "the callgrind run needs valgrind (apt-get install valgrind)" >&2; exit 2; }
  echo "== callgrind: the first $n events, $grants grants"
  generate "$data" "$grants"
  mkdir -p "$dir"
  head -n "$n" "$data/events.tsv" > "$dir/events.tsv"
  produce "$dir" "$topic"
  config "$dir" "$data" "$topic" "bench-callgrind-$run"
  GRANTWATCH_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
    "$bin" run --config "$dir/grantwatch.toml" 2> "$dir/grantwatch.log" &
  pid=$!
  until alerted "$dir"; do sleep 0.5; done
  stop "$dir"
  echo "instructions: $(grep -o 'Collected : [0-9]*' "$dir/grantwatch.log" | cut -d' ' -f3)" \
    "($(wc -l < "$dir/alerts.jsonl") alerts); profile: $dir/callgrind.out (removed at exit unless KEEP=1)"
}

for r in ${RUNS:-drain memory latency}; do
  case $r in
    drain) drain drain "$grants" "${WORKLOAD:-}" "${TOPIC:-}" ;;
    memory) drain memory "$big_grants" ;;
    latency) latency ;;
    callgrind) callgrind ;;
  esac
done

table=$work/table.md
{
  echo "| date | commit | cores | run | grants | events | kcat raw consume (msg/s) | grantwatch | ratio | detection p50 / p99 | peak RSS | CPU | own count / committed |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$rows"
} > "$table"
echo
cat "$table"
echo "archive: ${ARCHIVE:-1}"
if [ "${RECORD:-1}" != 0 ] && [ -s "$rows" ]; then
  # The table's rows, as CSV, appended to the raw results BENCHMARKS.md summarises.
  python3 - "$rows" <<'PY'
import csv, sys
with open(sys.argv[1]) as rows, open("docs/bench/pipeline.csv", "a", newline="") as out:
    for line in rows:
        if line.startswith("|"):
            csv.writer(out).writerow(c.strip() for c in line.strip().strip("|").split("|"))
PY
  echo "rows appended to docs/bench/pipeline.csv"
fi
