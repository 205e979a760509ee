#!/usr/bin/env bash
# `make run` in CI mode: HVIS_RUN_SECONDS=2 scripts/run-demo.sh BUILD exits
# 0, prints the live status, and leaves no process or socket behind.
# Usage: demo.sh SRCDIR BUILDDIR
set -uo pipefail
src=$1
build=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/hvis-demo-it.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; echo "--- output"; cat "$T/out"; exit 1; }

HVIS_RUN_SECONDS=2 HVIS_DEMO_DIR=$T/demo "$src/scripts/run-demo.sh" "$build" \
	</dev/null >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "run-demo exited $rc"
grep -q '^State: *Running (guest connected)' "$T/out" || fail "no live status"
# 3 test channels, 5 services, a SCSI controller and its sub-channel
grep -q '^Channels: *10 (10 open)' "$T/out" || fail "not 10 open channels"
grep -Eq '^[0-9]+ +test .* 2 open ' "$T/out" || fail "no sub-channel 2 in the listing"
grep -q "run-demo: the guest's disk (controller 0, LUN 0) is nbd+unix:///scsi0-lun0" \
	"$T/out" || fail "no NBD URI of the disk"
grep -q "4 MiB written to the disk and read back: same bytes" "$T/out" ||
	fail "disk not written and read back"
grep -Eq '^SCSI +0 +0 +1073741824 no +[1-9][0-9]* +[1-9][0-9]* +0 ' "$T/out" ||
	fail "no disk with I/O counters in the live status"
grep -Eq '^Key-Value Pair Exchange +True +OK +3\.0 +5\.0 ' "$T/out" ||
	fail "no services in the live status"
read -r host guest < <(sed -nE 's/^run-demo: stopped \(host pid ([0-9]+), guest pid ([0-9]+)\)$/\1 \2/p' "$T/out")
[ -n "$host" ] && [ -n "$guest" ] || fail "pids not reported"
kill -0 "$host" 2>/dev/null && fail "host $host still running"
kill -0 "$guest" 2>/dev/null && fail "guest $guest still running"
[ -z "$(ls -A "$T/demo" 2>/dev/null)" ] || fail "left in runtime dir: $(ls "$T/demo")"

# A second `make run` while the first is live refuses, says why, and
# leaves the first VM alone (its sockets are not reported as its own).
mkdir -m 700 "$T/live"
"$build/tools/hvis-host" --dir "$T/live" --services none 2>"$T/live.log" &
live=$!
trap 'kill "$live" 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -S "$T/live/ctl.sock" ] && break; sleep 0.05; done
HVIS_RUN_SECONDS=2 HVIS_DEMO_DIR=$T/live "$src/scripts/run-demo.sh" "$build" \
	</dev/null >"$T/out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "second run-demo exited 0"
grep -q "run-demo: VM 'demo' is already running" "$T/out" || fail "no reason given"
grep -q "left behind" "$T/out" && fail "the live VM's sockets reported as left behind"
grep -q "^State:" "$T/out" && fail "the live VM shown as the demo's"
kill -0 "$live" || fail "the live host died"
"$build/tools/hvis-ctl" --dir "$T/live" vm show >/dev/null || fail "the live host lost its sockets"
kill "$live"; wait "$live"
echo "ok"
