#!/usr/bin/env bash
# `make run` installs only the build packages: the tree must configure and
# build its programs without cmocka, leaving the test suite out.
# Usage: no_cmocka.sh SRCDIR
set -euo pipefail
src=$1
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
mkdir "$t/bin" "$t/pc"
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
echo "ok"
