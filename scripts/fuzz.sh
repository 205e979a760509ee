#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for FUZZ_SECONDS on a
# copy of its checked-in corpus (new inputs stay out of the tree).
# Ends with "fuzz: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
dir=${1:-build-fuzz}
secs=${FUZZ_SECONDS:-10}
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dtests=disabled --buildtype=debug \
    -Db_lundef=false >/dev/null || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
fi
ninja -C "$dir" >/dev/null || { echo "fuzz: 0 passed, 1 failed"; exit 1; }
# Per-target libFuzzer flags. Without -max_len libFuzzer caps inputs at
# the largest seed, at least 4096 bytes. The ic targets take two selector
# bytes and one whole IC message; the largest is KVP IP info in string
# form (message versions below 5.0): 28-byte header + 7428-byte body =
# IC_MSG_MAX, 7456 bytes. 8 KiB reaches every field and lets inputs grow
# past the end of the biggest message.
target_flags() {
  case $1 in
  fuzz_ic_guest|fuzz_ic_host) echo -max_len=8192 ;;
  esac
}
passed=0; failed=0
for bin in "$dir"/fuzz/fuzz_*; do
  if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
  name=$(basename "$bin")
  corpus=fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  # shellcheck disable=SC2046 # the flags are words without blanks
  if "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
       -print_final_stats=0 $(target_flags "$name") "$work" \
       >"$work.log" 2>&1; then
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
