#!/usr/bin/env bash
# Builds the image (deploy/image/build.sh) and starts it the way its config says:
# unpacked from the OCI archive by umoci, its entrypoint and command run in its root
# filesystem (chroot) as its user, in its working directory, with the compose
# stack's grantwatch.toml and grants in /etc/grantwatch. Against the local broker it
# must become ready, alert on the scenario's events, archive them, and stop cleanly
# on SIGTERM. No container engine runs here, so chroot stands in for one: the
# namespaces and cgroups an engine adds are not tested.
#   deploy/image/test.sh        (KAFKA_PORT, GRANTWATCH_BIN as for build.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=$(realpath -m target/image)
brokers=127.0.0.1:${KAFKA_PORT:-9092}
deploy/image/build.sh "$out"

work=$(mktemp -d /tmp/grantwatch-image.XXXXXX)
pid=""
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/layout"
tar -C "$work/layout" -xf "$out/grantwatch-oci.tar"
umoci unpack --image "$work/layout:latest" "$work/bundle" > /dev/null
rootfs=$work/bundle/rootfs

# What the image declares, read back from the runtime bundle umoci made of it.
read -r uid gid cwd args < <(python3 - "$work/bundle/config.json" <<'PY'
import json, shlex, sys
p = json.load(open(sys.argv[1]))["process"]
print(p["user"]["uid"], p["user"]["gid"], p["cwd"], shlex.join(p["args"]))
PY
)
echo "image runs: $args (as $uid:$gid in $cwd)"
[ "$uid" = 10001 ] || { echo "the image must not run as root (uid $uid)" >&2; exit 1; }

cp deploy/compose/grantwatch.toml "$rootfs/etc/grantwatch/grantwatch.toml"
cp -r deploy/compose/grants "$rootfs/etc/grantwatch/grants"
run=image-$$-$(date +%s)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The scenario's partner actions first: the topic exists when the group joins.
kcat -P -b "$brokers" -t "$run.actions" -K $'\t' < <(
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line); print(e["credential_id"] + "\t" + json.dumps(e))' tests/fixtures/scenario/events.jsonl)
# The compose file's brokers, topics and listen address, pointed at this machine.
env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$cwd" \
  GRANTWATCH__KAFKA__BROKERS="$brokers" \
  GRANTWATCH__KAFKA__GROUP_ID="$run" \
  GRANTWATCH__KAFKA__INSTANCE_ID="$run" \
  GRANTWATCH__KAFKA__TOPICS="[\"$run.actions\"]" \
  GRANTWATCH__KAFKA__DEAD_LETTER_TOPIC="$run.dlq" \
  GRANTWATCH__ALERTS__KAFKA_TOPIC="$run.alerts" \
  GRANTWATCH__METRICS__LISTEN="127.0.0.1:$port" \
  "$(command -v chroot)" --userspec="$uid:$gid" "$rootfs" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" \
  $args > "$work/grantwatch.log" 2>&1 &
pid=$!

fail() { echo "$1" >&2; cat "$work/grantwatch.log" >&2; exit 1; }
wait_for() {  # wait_for WHAT SECONDS COMMAND...
  local what=$1 deadline=$(( $(date +%s) + $2 ))
  shift 2
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || fail "grantwatch exited while waiting for: $what"
    [ "$(date +%s)" -lt "$deadline" ] || fail "not within the time: $what"
    sleep 0.5
  done
}
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; }
alerts=$rootfs/var/lib/grantwatch/alerts.jsonl
alerted() { [ -s "$alerts" ] && grep -q '"rule":"out_of_purpose_action"' "$alerts"; }

wait_for "ready (/readyz 200)" 90 ready
wait_for "an out_of_purpose_action alert in $alerts" 90 alerted
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
archived=$(find "$rootfs/var/lib/grantwatch/archive" -name '*.parquet' | wc -l)
[ "$archived" -gt 0 ] || fail "nothing archived under /var/lib/grantwatch/archive"
owner=$(stat -c %u "$rootfs/var/lib/grantwatch/archive")
[ "$owner" = "$uid" ] || fail "the archive belongs to uid $owner, not the image's user"
echo "image test passed: ready, $(wc -l < "$alerts") alerts, $archived archive files, clean stop"
