#!/usr/bin/env bash
# Builds the image (deploy/image/build.sh) and runs it the way its config says:
# unpacked from the OCI archive by umoci, its root filesystem mounted read-only, its
# user, working directory and command read back from the runtime bundle, with
# /etc/grantwatch (config, grants, the invictus sample) and /var/lib/grantwatch as
# volumes. As that user it must print its version, pass `grants check` on the
# example grants, replay the invictus CloudTrail sample to the walkthrough's count,
# and `run` with the compose stack's config against the local broker: ready on
# /readyz from the host, alerting on the scenario, archiving into its volume, and
# stopping cleanly on SIGTERM. No container engine runs here, so chroot and bind
# mounts stand in for one: the namespaces and cgroups an engine adds are not tested.
#   deploy/image/test.sh        (KAFKA_PORT, GRANTWATCH_BIN as for build.sh; needs
#                                ../shared/data for the invictus sample)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=$(realpath -m target/image)
brokers=127.0.0.1:${KAFKA_PORT:-9092}
deploy/image/build.sh "$out"

work=$(mktemp -d /tmp/grantwatch-image.XXXXXX)
pid=""
root=$work/root
mounts=()
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# mount_at SOURCE TARGET [ro]: a bind mount, unmounted at exit.
mount_at() {
  mount --bind "$1" "$2"
  mounts+=("$2")
  [ "${3:-}" != ro ] || mount -o remount,bind,ro "$2"
}
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

# The volumes: config and inputs read-only, the working directory writable by the
# image's user only.
shared=$(realpath ../shared/data)
mkdir -p "$work/etc" "$work/data" "$root"
cp deploy/compose/grantwatch.toml "$work/etc/grantwatch.toml"
cp -r deploy/compose/grants "$work/etc/grants"
cp -r examples/grants "$work/etc/example-grants"
cp -r examples/invictus "$work/etc/invictus"
cp -r "$shared/cloudtrail-invictus/raw" "$work/etc/invictus/raw"
chown "$uid:$gid" "$work/data"
chmod 0700 "$work/data"
mount_at "$rootfs" "$root" ro
mount_at "$work/etc" "$root/etc/grantwatch" ro
mount_at "$work/data" "$root$cwd"
touch "$root/probe" 2>/dev/null && { echo "the root filesystem is writable" >&2; exit 1; }

# image ARGS...: sets `cmd` to the image's entrypoint with ARGS, run as its user
# in its directory, with only `image_env` in its environment. Run as a simple
# command, so that in the background $! is the entrypoint's process (each step execs).
entrypoint=${args%% *}
image_env=()
image() {
  cmd=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$cwd" "${image_env[@]}"
    "$(command -v chroot)" --userspec="$uid:$gid" "$root"
    /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" "$entrypoint" "$@")
}

image --version
version=$("${cmd[@]}")
echo "$version"
[[ $version == "grantwatch "* ]] || { echo "--version printed: $version" >&2; exit 1; }
image grants check --at 2026-12-01 /etc/grantwatch/example-grants
"${cmd[@]}" > /dev/null
image replay --format cloudtrail --input /etc/grantwatch/invictus/raw \
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
image_env=(
  GRANTWATCH__KAFKA__BROKERS="$brokers"
  GRANTWATCH__KAFKA__GROUP_ID="$run"
  GRANTWATCH__KAFKA__INSTANCE_ID="$run"
  GRANTWATCH__KAFKA__TOPICS="[\"$run.actions\"]"
  GRANTWATCH__KAFKA__DEAD_LETTER_TOPIC="$run.dlq"
  GRANTWATCH__ALERTS__KAFKA_TOPIC="$run.alerts"
  GRANTWATCH__METRICS__LISTEN="127.0.0.1:$port"
)
# shellcheck disable=SC2086 # the image's command, as words
image ${args#* }
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
alerts=$root/var/lib/grantwatch/alerts.jsonl
alerted() { [ -s "$alerts" ] && grep -q '"rule":"out_of_purpose_action"' "$alerts"; }

wait_for "ready (/readyz 200)" 90 ready
wait_for "an out_of_purpose_action alert in $alerts" 90 alerted
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || fail "exit status $status after SIGTERM"
archived=$(find "$root/var/lib/grantwatch/archive" -name '*.parquet' | wc -l)
[ "$archived" -gt 0 ] || fail "nothing archived under /var/lib/grantwatch/archive"
owner=$(stat -c %u "$root/var/lib/grantwatch/archive")
[ "$owner" = "$uid" ] || fail "the archive belongs to uid $owner, not the image's user"
echo "image test passed: read-only root, version, grants check, replay, and run: ready, $(wc -l < "$alerts") alerts, $archived archive files, clean stop"
