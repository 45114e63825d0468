#!/usr/bin/env bash
# Single-node KRaft Apache Kafka for development and tests.
#   deploy/local/kafka.sh start|stop|status
# The broker's jars come from Maven Central (pom.xml beside this file) on first use
# and are cached; Java 17 comes from the machine. `start` returns once the broker
# answers a metadata request.
#
# KAFKA_PORT        client port (default 9092); the controller listens on KAFKA_PORT+1
# KAFKA_STATE_DIR   jars, config, data and log (default ~/.cache/grantwatch/kafka-$KAFKA_PORT)
# KAFKA_SASL_PORT   also a SASL_PLAINTEXT listener with SCRAM-SHA-256 on this port
# KAFKA_SCRAM_USER  USER:PASSWORD created for it when the storage is first formatted
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${KAFKA_PORT:-9092}
controller_port=$((port + 1))
sasl_port=${KAFKA_SASL_PORT:-}
state=${KAFKA_STATE_DIR:-$HOME/.cache/grantwatch/kafka-$port}
jars=${KAFKA_JARS_DIR:-$HOME/.cache/grantwatch/kafka-jars}
pidfile=$state/kafka.pid

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch_jars() {
  # The marker names the pom the jars came from, so a changed pom fetches afresh.
  local want
  want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
  [ "$(cat "$jars/.complete" 2>/dev/null)" = "$want" ] && return
  command -v mvn >/dev/null || die "mvn not found (install maven)"
  echo "kafka.sh: fetching Kafka jars from Maven Central into $jars" >&2
  # Fetched beside, then swapped in: no stale jar stays on the class path.
  rm -rf "$jars.new"
  mkdir -p "$jars.new"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$jars.new" -DincludeScope=runtime >&2
  echo "$want" > "$jars.new/.complete"
  rm -rf "$jars"
  mv "$jars.new" "$jars"
}

# Lines of the broker's log written before this start (the log keeps earlier starts).
logged=0

answers() {
  # A metadata round trip proves the broker is serving clients, not just listening.
  if command -v kcat >/dev/null; then
    kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1
  else
    # Without kcat, an open port could be another process's: it counts only once
    # our broker is alive and has logged its start.
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && running \
      && awk -v from="$((logged + 1))" 'NR >= from && /Kafka Server started/ { up = 1 }
                                        END { exit !up }' "$state/kafka.log" 2>/dev/null
  fi
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

write_config() {
  mkdir -p "$state/data"
  local listeners="PLAINTEXT://127.0.0.1:$port" map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT" sasl=""
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    map="$map,SASL_PLAINTEXT:SASL_PLAINTEXT"
    sasl="sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  fi
  cat > "$state/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$map
$sasl
log.dirs=$state/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
PROPS
  cat > "$state/log4j2.properties" <<PROPS
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$state/kafka.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
PROPS
}

java_cmd() {
  java -Xms256m -Xmx768m -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$state/log4j2.properties" \
    -cp "$jars/*" "$@"
}

# The errors this start logged (each with the line after it, which names the cause),
# then the JVM's own output.
start_errors() {
  tail -n +"$((logged + 1))" "$state/kafka.log" 2>/dev/null | grep -A1 -E '^\[[^]]*\] ERROR' | head -n 20 || true
  tail -n 5 "$state/stdout.log" 2>/dev/null || true
}

start() {
  if running && answers; then echo "kafka running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return; fi
  command -v java >/dev/null || die "java not found (install a JDK 17)"
  fetch_jars
  write_config
  if [ ! -f "$state/data/meta.properties" ]; then
    local scram=()
    if [ -n "${KAFKA_SCRAM_USER:-}" ]; then
      scram=(--add-scram "SCRAM-SHA-256=[name=${KAFKA_SCRAM_USER%%:*},password=${KAFKA_SCRAM_USER#*:}]")
    fi
    java_cmd kafka.tools.StorageTool format --ignore-formatted \
      -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
      -c "$state/server.properties" "${scram[@]}" >"$state/format.log" 2>&1 \
      || { cat "$state/format.log" >&2; die "storage format failed"; }
  fi
  # A failed start reports only its own errors.
  if [ -f "$state/kafka.log" ]; then logged=$(wc -l < "$state/kafka.log"); fi
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$state/log4j2.properties" \
    -cp "$jars/*" kafka.Kafka "$state/server.properties" \
    >"$state/stdout.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if answers; then echo "kafka running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return; fi
    running || { start_errors >&2; die "broker exited during start (see $state/kafka.log)"; }
    sleep 0.5
  done
  die "broker did not answer on 127.0.0.1:$port within 60 s (see $state/kafka.log)"
}

stop() {
  if ! running; then echo "kafka not running"; rm -f "$pidfile"; return; fi
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "kafka stopped"; return; }; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "kafka killed after 30 s"
}

status() {
  if running && answers; then echo "kafka running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
  elif running; then echo "kafka process $(cat "$pidfile") up but not answering"; exit 1
  else echo "kafka not running"; exit 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
