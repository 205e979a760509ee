#!/usr/bin/env bash
# Everything `make check` runs: the full test suite under ASan+UBSan, the
# freestanding-core check on a plain build, and each fuzzer briefly on its
# corpus. Ends with one line: "N passed, N failed".
#
# Nothing may vanish from the count: a build directory configured before
# the test packages were installed (`make run` on a fresh machine) is
# configured again; a suite expected here that ran no test, a missing
# test log, or a fuzz target that did not run counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

asan=${ASAN_BUILD:-build-asan}
plain=${BUILD:-build}
fuzz=${FUZZ_BUILD:-build-fuzz}
passed=0
failed=0

# has_suite DIR SUITE: DIR's build defines at least one test of SUITE.
has_suite() {
  meson introspect --tests "$1" 2>/dev/null | python3 -c '
import json, sys
tests = json.load(sys.stdin)
sys.exit(0 if any(sys.argv[1] in t["suite"] for t in tests) else 1)
' "hvis:$2"
}

# tally LOG SUITE...: results of one meson test run (scripts/tally.py).
tally() {
  local p f
  read -r p f < <(scripts/tally.py "$@")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
}

# run_suite DIR SUITE [setup args...] -- [meson test args...]
# SUITE: the suite this directory must define (reconfigured if not).
run_suite() {
  local dir=$1 want=$2; shift 2
  local setup=() ; while [ "$1" != "--" ]; do setup+=("$1"); shift; done; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${setup[@]}" >/dev/null || { failed=$((failed + 1)); return; }
  elif ! has_suite "$dir" "$want"; then
    echo "check: $dir was configured without the test suite; configuring it again"
    meson setup --reconfigure "$dir" "${setup[@]}" >/dev/null ||
      { failed=$((failed + 1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
    tail -50 "$dir.ninja.log"; echo "build failed: $dir"; failed=$((failed + 1)); return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --print-errorlogs "$@"
}

# HVIS_CHECK_PARTS picks parts (its own test runs only "plain").
parts=" ${HVIS_CHECK_PARTS:-asan plain fuzz} "
if [[ $parts == *" asan "* ]]; then
  run_suite "$asan" core -Db_sanitize=address,undefined -Db_lundef=false \
    --buildtype=debug --
  tally "$asan/meson-logs/testlog.json" core runtime host integration \
    guest-os fuzz-corpus install
fi
if [[ $parts == *" plain "* ]]; then
  run_suite "$plain" freestanding --buildtype=debugoptimized -- \
    --suite freestanding
  tally "$plain/meson-logs/testlog.json" freestanding
fi

if [[ $parts != *" fuzz "* ]]; then
  :
elif [ "${HVIS_SKIP_FUZZ:-0}" != 1 ]; then
  if FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh "$fuzz" > "$fuzz.log" 2>&1; then :; fi
  tail -n 30 "$fuzz.log"
  read -r p f < <(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$fuzz.log" \
    | sed -E 's/fuzz: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' || echo "0 1")
  # Every target with a corpus must have run.
  want=$(find fuzz/corpus -mindepth 1 -maxdepth 1 -type d | wc -l)
  if [ "$((${p:-0} + ${f:-0}))" -lt "$want" ]; then
    echo "check: $((${p:-0} + ${f:-0})) of $want fuzz targets ran: counted as a failure"
    f=$((${f:-0} + 1))
  fi
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
else
  echo "check: fuzzers skipped (HVIS_SKIP_FUZZ=1)"
fi

summary="$passed passed, $failed failed"
echo "$summary"
[[ $parts == *" asan "* ]] && echo "$summary" > "$asan.summary" # .ci/run repeats it
[ "$failed" -eq 0 ]
