#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 60) on a fresh corpus
# seeded from the given files/directories (missing ones are ignored, e.g. when
# ../shared is absent). Exits non-zero on any crash, leak, timeout or OOM.
set -euo pipefail
fuzzer=$1
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
for seed in "$@"; do
  if [[ -d "$seed" ]]; then
    find "$seed" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.bin' -o -name '*.webp' -o -name '*.bmp' \
    -o -name '*.ppm' -o -name '*.pgm' \) -exec cp {} "$work/corpus/" \;
  elif [[ -f "$seed" ]]; then
    cp "$seed" "$work/corpus/"
  fi
done
echo "seeds: $(ls "$work/corpus" | wc -l) files"
cd "$work"
"$fuzzer" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" corpus 2>&1 | tail -n 25
