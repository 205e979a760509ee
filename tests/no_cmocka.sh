#!/usr/bin/env bash
# `make run` installs only the build packages: the tree must configure and
# build its programs without cmocka, leaving the test suite out. Then, as
# a newcomer's `make check` finds such a build directory once cmocka is
# installed, scripts/check.sh must configure it again and count the
# freestanding suite, not report nothing; and its tally must count a
# missing log or a suite that ran nothing as a failure.
# Usage: no_cmocka.sh SRCDIR
set -euo pipefail
src=$1
# Run by the check below: the suite is what is being counted, not built.
[ -z "${HVIS_NO_CMOCKA_NESTED:-}" ] || { echo "SKIP: nested"; exit 77; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir "$t/bin" "$t/pc"
# Every package pkg-config knows but cmocka.
for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do
	for pc in "$d"/*.pc; do
		[ -e "$pc" ] && [ "${pc##*/}" != cmocka.pc ] && ln -sf "$pc" "$t/pc/"
	done
done
printf '#!/bin/sh\nexit 1\n' >"$t/bin/cmake" # no cmake lookup either
chmod +x "$t/bin/cmake"
PATH="$t/bin:$PATH" PKG_CONFIG_LIBDIR="$t/pc" \
	meson setup "$t/b" "$src" >"$t/setup.log" 2>&1 \
	|| { cat "$t/setup.log"; echo "FAIL: setup without cmocka"; exit 1; }
grep -q "cmocka found: NO" "$t/setup.log" \
	|| { echo "FAIL: cmocka was found; the check proves nothing"; exit 1; }
ninja -C "$t/b" >"$t/ninja.log" 2>&1 \
	|| { tail -20 "$t/ninja.log"; echo "FAIL: build without cmocka"; exit 1; }
for p in hvis-host hvis-guest hvis-ctl hvis-bench; do
	[ -x "$t/b/tools/$p" ] || { echo "FAIL: $p not built"; exit 1; }
done

# make run, then make check: the plain part on this very directory.
HVIS_NO_CMOCKA_NESTED=1 BUILD=$t/b HVIS_CHECK_PARTS=plain \
	"$src/scripts/check.sh" >"$t/check.log" 2>&1 || true
fail() { cat "$t/check.log"; echo "FAIL: $*"; exit 1; }
grep -q "configured without the test suite; configuring it again" "$t/check.log" \
	|| fail "check did not configure the directory again"
[ "$(tail -1 "$t/check.log")" = "2 passed, 0 failed" ] \
	|| fail "freestanding suite not counted"
grep -q "check: skipped: build-without-cmocka" "$t/check.log" \
	|| fail "the skipped test was not named"

# The tally: no log, an empty log, a suite that ran nothing.
tally=$src/scripts/tally.py
[ "$("$tally" "$t/none.json" core 2>/dev/null)" = "0 2" ] \
	|| fail "missing log not counted"
: >"$t/empty.json"
[ "$("$tally" "$t/empty.json" 2>/dev/null)" = "0 1" ] \
	|| fail "empty log not counted"
printf '%s\n' '{"name": "hvis:core / a", "result": "OK"}' \
	'{"name": "hvis:guest-os / b", "result": "SKIP"}' >"$t/one.json"
[ "$("$tally" "$t/one.json" core guest-os 2>/dev/null)" = "1 1" ] \
	|| fail "a suite that only skipped was not counted"
echo "ok"
