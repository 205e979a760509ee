#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for FUZZ_SECONDS on a
# copy of its checked-in corpus (new inputs stay out of the tree), with its
# dictionary fuzz/dict/NAME.dict; a target without one fails. One line per
# target, "fuzz NAME: ok (N inputs, N exec/s)" or "fuzz NAME: FAILED ..."
# and the log's tail; ends with "fuzz: N passed, N failed".
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
# "N exec/s" from libFuzzer's final stats, or "?".
exec_rate() {
  local r
  r=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\)$/\1/p' "$1")
  echo "${r:-?} exec/s"
}
passed=0; failed=0
for bin in "$dir"/fuzz/fuzz_*; do
  if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
  name=$(basename "$bin")
  dict=fuzz/dict/${name#fuzz_}.dict
  if [ ! -s "$dict" ]; then
    echo "fuzz $name: FAILED (no dictionary $dict)"
    failed=$((failed + 1)); continue
  fi
  corpus=fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  # shellcheck disable=SC2046 # the flags are words without blanks
  if "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
       -dict="$dict" -print_final_stats=1 $(target_flags "$name") "$work" \
       >"$work.log" 2>&1; then
    # libFuzzer says how many entries it took; none means a broken file.
    if grep -Eq '^Dictionary: [1-9][0-9]* entries$' "$work.log"; then
      echo "fuzz $name: ok ($(grep -c . <(ls "$work")) inputs," \
        "$(exec_rate "$work.log"))"
      passed=$((passed + 1))
    else
      echo "fuzz $name: FAILED (libFuzzer loaded no entries from $dict)"
      failed=$((failed + 1))
    fi
  else
    echo "fuzz $name: FAILED"; tail -40 "$work.log"
    failed=$((failed + 1))
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
