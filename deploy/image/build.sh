#!/usr/bin/env bash
# Builds the grantwatch container image with no container engine and no registry:
# a Debian bookworm base made by debootstrap from Debian's packages, the binary and
# a non-root user added, packed by umoci as an OCI image archive that
# `podman load`, `docker load` (Docker 25 or later) or
# `skopeo copy oci-archive:grantwatch-oci.tar …` take.
#   deploy/image/build.sh [OUT=target/image]
#   GRANTWATCH_BIN=PATH   the binary to ship (default target/dist/grantwatch, the
#                         `dist` profile deploy/Dockerfile builds; made if missing)
#   DEBIAN_MIRROR=URL     where debootstrap fetches from (default deb.debian.org)
# The base is made once per OUT and reused. Needs root (debootstrap, chroot) and the
# packages debootstrap and umoci. Leaves OUT/grantwatch-oci.tar and OUT/oci (the
# image layout, tag `grantwatch:latest`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out=$(realpath -m "${1:-target/image}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
bin=${GRANTWATCH_BIN:-target/dist/grantwatch}
[ "$(id -u)" -eq 0 ] || { echo "run as root: debootstrap and chroot need it" >&2; exit 2; }
for tool in debootstrap umoci; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install debootstrap umoci" >&2; exit 2; }
done
if [ ! -x "$bin" ]; then
  [ -z "${GRANTWATCH_BIN:-}" ] || { echo "$bin: not an executable" >&2; exit 2; }
  cargo build --profile dist --locked
fi
mkdir -p "$out"

# The base: minbase (dpkg, apt and what they need) with CA certificates for TLS to
# brokers and object stores, without the package cache, documentation and locales.
base=$out/base
if [ ! -f "$base/.complete" ]; then
  rm -rf "$base"
  echo "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$base" "$mirror" > "$out/debootstrap.log"
  chroot "$base" apt-get clean
  rm -rf "$base"/var/lib/apt/lists/* "$base"/usr/share/doc/* "$base"/usr/share/man/* \
    "$base"/usr/share/locale/* "$base"/usr/share/info/*
  chroot "$base" useradd --uid 10001 --user-group --no-log-init --shell /usr/sbin/nologin \
    --home-dir /var/lib/grantwatch --create-home grantwatch
  mkdir -p "$base/etc/grantwatch"
  touch "$base/.complete"
fi

# The image: one layer, the base with the binary, and the config deploy/Dockerfile's
# final stage declares (user, working directory, entrypoint, command, port).
layout=$out/oci
bundle=$out/bundle
rm -rf "$layout" "$bundle"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$bundle" > /dev/null
cp -a "$base/." "$bundle/rootfs/"
rm -f "$bundle/rootfs/.complete"
install -m 0755 "$bin" "$bundle/rootfs/usr/local/bin/grantwatch"
umoci repack --image "$layout:latest" "$bundle"
umoci config --image "$layout:latest" \
  --config.user 10001:10001 \
  --config.workingdir /var/lib/grantwatch \
  --config.entrypoint /usr/local/bin/grantwatch \
  --config.cmd run --config.cmd --config --config.cmd /etc/grantwatch/grantwatch.toml \
  --config.exposedports 9464/tcp \
  --config.label org.opencontainers.image.title=grantwatch \
  --config.label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
umoci gc --layout "$layout"
rm -rf "$bundle"
tar -C "$layout" -cf "$out/grantwatch-oci.tar" .
echo "image: $out/grantwatch-oci.tar ($(du -h "$out/grantwatch-oci.tar" | cut -f1)), layout $layout:latest"
