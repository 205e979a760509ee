#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for FUZZ_SECONDS on a
# copy of its checked-in corpus (new inputs stay out of the tree).
# Ends with "fuzz: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
secs=${FUZZ_SECONDS:-10}
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dtests=disabled --buildtype=debug \
    -Db_lundef=false >/dev/null || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
fi
ninja -C "$dir" >/dev/null || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
passed=0; failed=0
for bin in "$dir"/fuzz/fuzz_*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus=fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  if "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
       -print_final_stats=0 "$work" >"$work.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . <(ls "$work")) inputs)"
    passed=$((passed + 1))
  else
    echo "fuzz $name: FAILED"; tail -40 "$work.log"
    failed=$((failed + 1))
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
