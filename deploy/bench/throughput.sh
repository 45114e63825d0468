#!/usr/bin/env bash
# Throughput of one `grantwatch run` draining a topic, next to kcat's raw consume rate
# of the same topic (the ceiling for any Kafka consumer on this machine).
#   deploy/bench/throughput.sh [EVENTS=1000000] [GRANTS=1000] [PARTITIONS=4]
# Needs the local broker (deploy/local/kafka.sh start) and a release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
events=${1:-1000000}
grants=${2:-1000}
partitions=${3:-4}
brokers=127.0.0.1:${KAFKA_PORT:-9092}
jars=${KAFKA_JARS_DIR:-$HOME/.cache/grantwatch/kafka-jars}
bin=${GRANTWATCH_BIN:-target/release/grantwatch}   # another build to compare
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d /tmp/gw-bench.XXXXXX)
run=$(date +%s)
topic=bench-actions-$run

echo "generating $events events for $grants grants in $work"
python3 deploy/bench/generate.py "$work" "$events" "$grants"
echo "average event size: $(( $(cut -f2- "$work/events.tsv" | wc -c) / events )) bytes"

java -cp "$jars/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" \
  --create --topic "$topic" --partitions "$partitions" --replication-factor 1 >/dev/null 2>&1
t0=$(date +%s.%N)
kcat -P -b "$brokers" -t "$topic" -K $'\t' -z lz4 -X linger.ms=20 -X batch.num.messages=10000 < "$work/events.tsv"
# One sentinel per partition, last in each: its alert proves the partition is drained.
for p in $(seq 0 $((partitions - 1))); do
  echo "{\"ts\":1796000999999,\"event_id\":\"sentinel-$p\",\"credential_id\":\"cli_sentinel_$p\",\"action\":\"GET /ping\"}" \
    | kcat -P -b "$brokers" -t "$topic" -p "$p"
done
t1=$(date +%s.%N)
echo "produced in $(echo "$t1 - $t0" | bc) s"

t0=$(date +%s.%N)
count=$(kcat -C -b "$brokers" -t "$topic" -o beginning -e -q -f '%o\n' -X fetch.wait.max.ms=10 | wc -l)
t1=$(date +%s.%N)
kcat_rate=$(echo "$count / ($t1 - $t0)" | bc)
echo "kcat raw consume: $count messages in $(echo "$t1 - $t0" | bc) s = $kcat_rate msg/s"

cat > "$work/grantwatch.toml" <<TOML
[kafka]
brokers = "$brokers"
group_id = "bench-$run"
topics = ["$topic"]
dead_letter_topic = "$topic.dlq"
[grants]
paths = ["grants.yaml"]
[alerts]
file = "alerts.jsonl"
[metrics]
listen = "127.0.0.1:0"
TOML
# The archive is on unless ARCHIVE=0: Parquet of every event, put each second (the
# end condition below is the last alert, so the final put may trail it by up to 1 s).
if [ "${ARCHIVE:-1}" != 0 ]; then
  printf '[archive]\nurl = "archive"\nflush_interval = "1s"\n' >> "$work/grantwatch.toml"
fi
: > "$work/alerts.jsonl"
t0=$(date +%s.%N)
GRANTWATCH_LOG=warn "$bin" run --config "$work/grantwatch.toml" 2> "$work/grantwatch.log" &
pid=$!
until [ "$(grep -c '"sentinel-' "$work/alerts.jsonl")" -ge "$partitions" ]; do
  kill -0 $pid 2>/dev/null || { cat "$work/grantwatch.log"; echo "grantwatch died" >&2; exit 1; }
  sleep 0.2
done
t1=$(date +%s.%N)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
total=$((events + partitions))
secs=$(echo "$t1 - $t0" | bc)
rate=$(echo "$total / $secs" | bc)
alerts=$(wc -l < "$work/alerts.jsonl")
echo "grantwatch: $total events in $secs s = $rate events/s (startup included, archive ${ARCHIVE:-1}), $alerts alerts, peak RSS $((rss_kb / 1024)) MiB"
echo "ratio to kcat: $(echo "scale=2; $rate / $kcat_rate" | bc)"
echo "cores: $(nproc)"
