#!/usr/bin/env bash
# Runs every fuzz target for a bounded time each.
#   scripts/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# Targets: decode (every input format), grants (the grants parser), config.
# Stable Rust: cargo-fuzz runs without a sanitizer (panics, overflows in debug
# assertions, timeouts and out-of-memory are still caught). FUZZ_SANITIZER=address
# turns AddressSanitizer on through RUSTC_BOOTSTRAP, for a stable toolchain that
# ships its runtime. Seeds come from tests/fixtures and ../shared/data when present;
# crashes land in fuzz/artifacts/TARGET/ and make the script exit 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode mapped grants config)
sanitizer=${FUZZ_SANITIZER:-none}

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if [ "$sanitizer" != none ]; then export RUSTC_BOOTSTRAP=1; fi

seed() {  # seed corpus per target from files the project already has
  local dir=fuzz/corpus/$1
  mkdir -p "$dir"
  case $1 in
    decode)
      # One seed per line of the scenario, each under every format selector.
      local i=0
      while IFS= read -r line; do
        for sel in 0 1 2 3 4 5; do printf "\\x0$sel%s" "$line" > "$dir/scenario-$i-$sel"; done
        i=$((i + 1))
      done < tests/fixtures/scenario/events.jsonl
      if [ -d ../shared/data ]; then
        find ../shared/data -name '*.json' -size -64k | head -20 | while read -r f; do
          printf '\x01' | cat - "$f" > "$dir/shared-$(basename "$f")"
        done
      fi ;;
    mapped)
      # Each gateway sample under each preset selector, and under a written mapping.
      local mapping='ts = ["/time", "/start_time"]\ncredential_id = "/consumer/id"\naction = "{/request/method} {/request/uri}"\noutcome = { from = "/status", map = { "2*" = "success", "*" = "failure" } }'
      for f in tests/gateways/*.jsonl; do
        local name i=0
        name=$(basename "$f" .jsonl)
        while IFS= read -r line; do
          for sel in 0 1 2 3; do printf "\\x0$sel%s" "$line" > "$dir/$name-$i-$sel"; done
          { printf "$mapping"; printf '\x00%s' "$line"; } > "$dir/$name-$i-mapping"
          i=$((i + 1))
        done < "$f"
      done ;;
    grants) cp tests/fixtures/scenario/grants.yaml examples/grants/*.yaml "$dir/" 2>/dev/null || true ;;
    config) cp deploy/*/*.toml "$dir/" 2>/dev/null || true ;;
  esac
}

status=0
for target in "${targets[@]}"; do
  seed "$target"
  echo "==> fuzzing $target for ${seconds}s (sanitizer: $sanitizer)"
  if ! cargo fuzz run --sanitizer "$sanitizer" "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10; then
    echo "!! $target found a failure: see fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit $status
