#!/usr/bin/env bash
# Alert volume on a mixed stream (tests/volume: the real CloudTrail, EKS and GitHub
# logs in ../shared/data beside generated REST traffic): alerts per 10,000 events and
# the share of alerts about a partner grant or an in-scope identity.
#   scripts/bench/alert-volume.sh [OTHER_BIN...]
# Measures this tree's build, then each OTHER_BIN (another build of grantwatch, e.g.
# one made from an older commit with `cargo build --release`); an older build is run
# without the workload's config, which it may not understand. Rows are appended to
# docs/bench/alert-volume.csv unless RECORD=0. Counts, not times: they repeat exactly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src queries Cargo.toml || echo +dirty)
csv=docs/bench/alert-volume.csv
[ -f "$csv" ] || echo "date,build,events,alerts,alerts_per_10k,about_partners,share" > "$csv"
measure() {
  local label=$1 line
  line=$(cargo test --quiet --locked --test tests volume -- --nocapture 2>&1 | grep '^alert-volume:') \
    || { echo "the volume test failed for $label" >&2; exit 1; }
  # alert-volume: events=N alerts=N per_10k=X about_partners=N share=X
  local fields
  fields=$(sed -E 's/^alert-volume: events=([0-9]+) alerts=([0-9]+) per_10k=([0-9.]+) about_partners=([0-9]+) share=([0-9.]+)$/\1,\2,\3,\4,\5/' <<<"$line")
  printf '%-28s %s\n' "$label" "$line"
  [ "${RECORD:-1}" = 0 ] || echo "$(date -u +%F),$label,$fields" >> "$csv"
}
measure "$commit"
for bin in "$@"; do
  # The commit of the tree the build sits in, when it is a git checkout.
  label=$(git -C "$(dirname "$(realpath "$bin")")" rev-parse --short HEAD 2>/dev/null || echo "$bin")
  GRANTWATCH_VOLUME_BIN=$(realpath "$bin") measure "$label"
done
