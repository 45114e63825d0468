#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, starts a
# real single-node Kafka broker (deploy/local/kafka.sh), then runs formatting, lints,
# docs, unit and integration tests against it. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

log() { printf '\n==> %s\n' "$*"; }

install_system_packages() {
  # kcat is the tests' independent producer; Java 17 and Maven run the broker;
  # prometheus brings promtool and the server the metrics tests scrape with;
  # prometheus-alertmanager is the real peer of the Alertmanager sink test.
  # librdkafka and OpenSSL are built from source by cargo (needs gcc, make, perl).
  local need=()
  command -v kcat >/dev/null || need+=(kcat)
  command -v promtool >/dev/null && command -v prometheus >/dev/null || need+=(prometheus)
  command -v java >/dev/null || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || need+=(maven)
  command -v make >/dev/null || need+=(make)
  command -v perl >/dev/null || need+=(perl)
  command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
  # The container image is built on a debootstrap base, packed by umoci and run by
  # podman (with runc: see deploy/image/test.sh).
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v umoci >/dev/null || need+=(umoci)
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  # The console's browser tests drive Debian's chromium through chromedriver.
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  # The nginx preset's test runs Debian's NGINX with the format the preset documents.
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup" >&2; exit 2; }
  rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt >/dev/null 2>&1 || true
}

install_system_packages

log "python with duckdb and pyarrow (the reports' independent check)"
export GRANTWATCH_TEST_PYTHON
GRANTWATCH_TEST_PYTHON=$(deploy/local/python.sh)

export KAFKA_PORT=${KAFKA_PORT:-9092}
export GRANTWATCH_TEST_BROKERS=127.0.0.1:$KAFKA_PORT
started_kafka=0
if ! deploy/local/kafka.sh status >/dev/null 2>&1; then
  log "starting Kafka on 127.0.0.1:$KAFKA_PORT"
  deploy/local/kafka.sh start
  started_kafka=1
fi
cleanup() { [ "$started_kafka" -eq 0 ] || deploy/local/kafka.sh stop >/dev/null || true; }
trap cleanup EXIT

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

log "cargo test (unit and integration, against the real broker)"
cargo test --locked -- --test-threads 2

# The binary the integration tests built: `cargo run` would rebuild it, because
# dev-dependencies change feature unification.
grantwatch="${CARGO_TARGET_DIR:-target}/debug/grantwatch"

log "rules test (every rule's fixtures)"
"$grantwatch" rules test

log "grants check examples/grants"
"$grantwatch" grants check --at 2026-12-01 examples/grants

log "container image: built on a debootstrap base, run by podman, alerting (deploy/image/test.sh)"
if [ "$(id -u)" -eq 0 ]; then
  GRANTWATCH_BIN="$grantwatch" deploy/image/test.sh
else
  sudo --preserve-env=KAFKA_PORT GRANTWATCH_BIN="$grantwatch" deploy/image/test.sh
fi

log "fuzz targets compile (scripts/fuzz.sh runs them)"
CARGO_TARGET_DIR=target/fuzz-check cargo check --locked --quiet --manifest-path fuzz/Cargo.toml --bins

log "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet

log "all checks passed"
