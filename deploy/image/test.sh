#!/usr/bin/env bash
# Builds the image (deploy/image/build.sh), loads it into podman and runs it as its
# config says: as its non-root user, with a read-only root filesystem, and with
# /etc/grantwatch (config, grants, the invictus sample) and /var/lib/grantwatch as
# volumes. It must print its version, pass `grants check` on the example grants,
# replay the invictus CloudTrail sample to the walkthrough's count, and `run` with
# the compose stack's config against the local broker: ready on /readyz from the
# host, alerting on the scenario, archiving into its volume, and stopping cleanly on
# SIGTERM.
#   deploy/image/test.sh        (KAFKA_PORT, GRANTWATCH_BIN as for build.sh; needs
#                                ../shared/data for the invictus sample; as root,
#                                with podman and runc)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=$(realpath -m target/image)
brokers=127.0.0.1:${KAFKA_PORT:-9092}
deploy/image/build.sh "$out"

work=$(mktemp -d /tmp/grantwatch-image.XXXXXX)
pid=""
tag=localhost/grantwatch:test-$$
id=""
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  [ -z "$id" ] || podman rmi -f "$id" > /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
loaded=$(podman load -q -i "$out/grantwatch-oci.tar")
podman tag "${loaded##* }" "$tag"
id=$(podman image inspect --format '{{.Id}}' "$tag")

# What the image declares, as the engine reads it.
user=$(podman image inspect --format '{{.Config.User}}' "$tag")
cwd=$(podman image inspect --format '{{.Config.WorkingDir}}' "$tag")
echo "image $tag runs as $user in $cwd"
[ "${user%%:*}" = 10001 ] || { echo "the image must not run as root (user $user)" >&2; exit 1; }
uid=${user%%:*}
gid=${user##*:}

# The volumes: config and inputs read-only, the working directory writable by the
# image's user only.
shared=$(realpath ../shared/data)
mkdir -p "$work/etc" "$work/data"
cp deploy/compose/grantwatch.toml "$work/etc/grantwatch.toml"
cp -r deploy/compose/grants "$work/etc/grants"
cp -r examples/grants "$work/etc/example-grants"
cp -r examples/invictus "$work/etc/invictus"
cp -r "$shared/cloudtrail-invictus/raw" "$work/etc/invictus/raw"
chown "$uid:$gid" "$work/data"
chmod 0700 "$work/data"

# image [podman run options] -- ARGS...: sets `cmd` to run the image with ARGS after its
# entrypoint. The host's network, so /readyz and the broker are where the host sees
# them. runc and explicit limits because this sandbox refuses what podman does by
# default: crun cannot run without cgroup v2 here, and raising RLIMIT_NOFILE past the
# host's limit is not permitted.
engine=(podman --runtime runc run --rm --read-only --network host
  --ulimit "nofile=$(ulimit -n):$(ulimit -Hn)" --ulimit nproc=4096:4096
  -v "$work/etc:/etc/grantwatch:ro" -v "$work/data:$cwd")
image() {
  local options=()
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  cmd=("${engine[@]}" "${options[@]}" "$tag" "$@")
}

image -- --version
version=$("${cmd[@]}")
echo "$version"
[[ $version == "grantwatch "* ]] || { echo "--version printed: $version" >&2; exit 1; }
image --entrypoint /bin/sh -- -c 'touch /probe'
! "${cmd[@]}" 2> /dev/null || { echo "the root filesystem is writable" >&2; exit 1; }
image -- grants check --at 2026-12-01 /etc/grantwatch/example-grants
"${cmd[@]}" > /dev/null
image -- replay --format cloudtrail --input /etc/grantwatch/invictus/raw \
  --config /etc/grantwatch/invictus/grantwatch.toml --alerts-out "$cwd/invictus.jsonl"
replayed=$("${cmd[@]}" 2>&1 | grep 'replayed .* events' || true)
echo "$replayed"
[[ $replayed == *"replayed 2900 events from 55 files"* ]] || { echo "replay printed: $replayed" >&2; exit 1; }

run=image-$$-$(date +%s)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The scenario's partner actions first: the topic exists when the group joins.
kcat -P -b "$brokers" -t "$run.actions" -K $'\t' < <(
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line); print(e["credential_id"] + "\t" + json.dumps(e))' tests/fixtures/scenario/events.jsonl)
# The compose file's brokers, topics and listen address, pointed at this machine.
# Without ARGS the image runs its own command (`run --config …`).
image \
  -e GRANTWATCH__KAFKA__BROKERS="$brokers" \
  -e GRANTWATCH__KAFKA__GROUP_ID="$run" \
  -e GRANTWATCH__KAFKA__INSTANCE_ID="$run" \
  -e GRANTWATCH__KAFKA__TOPICS="[\"$run.actions\"]" \
  -e GRANTWATCH__KAFKA__DEAD_LETTER_TOPIC="$run.dlq" \
  -e GRANTWATCH__ALERTS__KAFKA_TOPIC="$run.alerts" \
  -e GRANTWATCH__METRICS__LISTEN="127.0.0.1:$port" \
  --
"${cmd[@]}" > "$work/grantwatch.log" 2>&1 &
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
alerts=$work/data/alerts.jsonl
alerted() { [ -s "$alerts" ] && grep -q '"rule":"out_of_purpose_action"' "$alerts"; }

wait_for "ready (/readyz 200)" 90 ready
wait_for "an out_of_purpose_action alert in $alerts" 90 alerted
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
archived=$(find "$work/data/archive" -name '*.parquet' | wc -l)
[ "$archived" -gt 0 ] || fail "nothing archived under /var/lib/grantwatch/archive"
owner=$(stat -c %u "$work/data/archive")
[ "$owner" = "$uid" ] || fail "the archive belongs to uid $owner, not the image's user"
echo "image test passed (podman): read-only root, version, grants check, replay, and run: ready, $(wc -l < "$alerts") alerts, $archived archive files, clean stop"
