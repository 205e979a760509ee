#!/usr/bin/env bash
# Everything `make check` runs: the full test suite under ASan+UBSan, the
# freestanding-core check on a plain build, and each fuzzer briefly on its
# corpus. Ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

asan=${ASAN_BUILD:-build-asan}
plain=${BUILD:-build}
fuzz=${FUZZ_BUILD:-build-fuzz}
passed=0
failed=0

tally() { # testlog.json of a meson test run
  local p f
  read -r p f < <(python3 - "$1" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): ok += 1
    elif r != "SKIP": bad += 1
print(ok, bad)
PY
)
  passed=$((passed + p)); failed=$((failed + f))
}

run_suite() { # builddir, setup args..., then -- meson test args
  local dir=$1; shift
  local setup=() ; while [ "$1" != "--" ]; do setup+=("$1"); shift; done; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${setup[@]}" >/dev/null || { failed=$((failed + 1)); return; }
  fi
  if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
    tail -50 "$dir.ninja.log"; echo "build failed: $dir"; failed=$((failed + 1)); return
  fi
  meson test -C "$dir" --print-errorlogs "$@"
  tally "$dir/meson-logs/testlog.json"
}

run_suite "$asan" -Db_sanitize=address,undefined -Db_lundef=false \
  --buildtype=debug --
run_suite "$plain" --buildtype=debugoptimized -- --suite freestanding

if [ "${HVIS_SKIP_FUZZ:-0}" != 1 ]; then
  if FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh "$fuzz" > "$fuzz.log" 2>&1; then :; fi
  tail -n 30 "$fuzz.log"
  read -r p f < <(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed' "$fuzz.log" \
    | sed -E 's/fuzz: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' || echo "0 1")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
fi

summary="$passed passed, $failed failed"
echo "$summary"
echo "$summary" > "$asan.summary" # .ci/run repeats it after make's own words
[ "$failed" -eq 0 ]
