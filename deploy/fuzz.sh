#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (default 30 s each).
#   deploy/fuzz.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
seconds=${1:-30}
shift || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
# Seed the decoders with real samples where the shared data is present.
seed() {
  local corpus=corpus/$1; mkdir -p "$corpus"
  [ -d ../../shared/data ] || return 0
  case $1 in
    decode_cloudtrail) find ../../shared/data/cloudtrail-invictus/raw -name '*.json' | head -5 | xargs -I{} cp {} "$corpus"/ ;;
    decode_k8s_audit) head -20 ../../shared/data/panther-fixtures/Amazon.EKS.Audit.jsonl | split -l 1 - "$corpus"/eks- ;;
    decode_github_audit) head -20 ../../shared/data/panther-fixtures/GitHub.Audit.jsonl | split -l 1 - "$corpus"/gh- ;;
    decode_native) head -20 ../tests/fixtures/scenario/events.jsonl | split -l 1 - "$corpus"/native- ;;
    grants_parse) cp ../tests/fixtures/scenario/grants.yaml "$corpus"/ ;;
  esac
}
for target in "${targets[@]}"; do
  seed "$target"
  echo "==> $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=65536 2>&1 | tail -3
done
