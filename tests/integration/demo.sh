#!/usr/bin/env bash
# `make run` in CI mode: HVIS_RUN_SECONDS=2 scripts/run-demo.sh BUILD exits
# 0, prints the live status, and leaves no process or socket behind. As
# root (with /dev/net/tun, ip and ping) the VM has a network adapter
# whose pings show in the status, and its two network namespaces are gone
# after, also when the demo is stopped by Ctrl-C (SIGINT to its process
# group); otherwise one line says why it has none.
# Usage: demo.sh SRCDIR BUILDDIR
set -uo pipefail
src=$1
build=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/hvis-demo-it.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; echo "--- output"; cat "$T/out"; exit 1; }
# fail_tail: as fail, with the output's end (where the stop is).
fail_tail() { echo "FAIL: $*"; echo "--- end of output"; tail -n 25 "$T/out"; exit 1; }

HVIS_RUN_SECONDS=2 HVIS_DEMO_DIR=$T/demo "$src/scripts/run-demo.sh" "$build" \
	</dev/null >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "run-demo exited $rc"
grep -q '^State: *Running (guest connected)' "$T/out" || fail "no live status"
# 3 test channels, 5 services, a SCSI controller and its sub-channel (and
# the network adapter: queues=2, a sub-channel where the guest has two
# CPUs to ask for it)
nic=
if [ "$(id -u)" -eq 0 ] && [ -c /dev/net/tun ] && command -v ip >/dev/null &&
	command -v ping >/dev/null; then
	nic=$(( $(nproc) >= 2 ? 2 : 1 ))
fi
chans=$((10 + ${nic:-0}))
grep -q "^Channels: *$chans ($chans open)" "$T/out" || fail "not $chans open channels"
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

# demo_ns: the namespaces the run named.
demo_ns() {
	sed -nE 's/^run-demo: network adapter .* in namespace (hvis-demo-h[0-9]+), .* in namespace (hvis-demo-g[0-9]+),.*/\1 \2/p' "$T/out"
}
# nic_checks: the adapter's line, its pings in the status, its namespaces
# gone.
nic_checks() {
	local ns
	ns=$(demo_ns)
	[ -n "$ns" ] || fail "no network adapter line"
	grep -Eq '^Network: +ping 10\.99\.0\.1 .*, [1-9][0-9]* of [0-9]+ answered$' "$T/out" ||
		fail "no answered ping in the live status"
	for n in $ns; do
		ip netns list | grep -qw "$n" && fail "namespace $n left behind"
	done
}
if [ -n "$nic" ]; then
	nic_checks
	# Ctrl-C: SIGINT to the demo's process group (its own: set -m).
	(
		set -m
		HVIS_RUN_SECONDS=60 HVIS_DEMO_DIR=$T/demo "$src/scripts/run-demo.sh" \
			"$build" </dev/null >"$T/out" 2>&1 &
		pid=$!
		for _ in $(seq 200); do
			grep -q '^Network:.* [1-9][0-9]* of' "$T/out" && break
			sleep 0.05
		done
		kill -INT -- -"$pid"
		# host and guest stop one after the other, each in about 2 s
		# under ASan on a loaded machine
		for _ in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && { kill -KILL -- -"$pid"; exit 99; }
		wait "$pid"
	)
	rc=$?
	if [ "$rc" -eq 99 ]; then
		# SIGKILL ran no trap: the namespaces are the test's to remove
		for n in $(demo_ns); do ip netns del "$n" 2>/dev/null; done
		fail_tail "run-demo did not stop within 15 s of Ctrl-C"
	fi
	[ "$rc" -eq 0 ] || fail_tail "run-demo exited $rc after Ctrl-C"
	nic_checks
	[ -z "$(ls -A "$T/demo" 2>/dev/null)" ] || fail "left in runtime dir after Ctrl-C"
else
	[ "$(grep -c '^run-demo: the VM has no network adapter: ' "$T/out")" -eq 1 ] ||
		fail "no line saying why the VM has no network adapter"
fi

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
