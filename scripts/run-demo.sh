#!/usr/bin/env bash
# `make run`: an emulated Hyper-V host with VM "demo" (the five
# integration services, one test device allowing 2 sub-channels and a
# SCSI controller with a 1 GiB sparse disk), a guest running its service
# drivers, light echo traffic on the three test channels and the disk
# exported over NBD (its URI printed, a file written to it and read
# back), and the live status (hvis-ctl vm watch: VM, channels, services,
# disks) until Ctrl-C.
# Without a terminal on stdin, or with HVIS_RUN_SECONDS=N, it stops by
# itself after N seconds (default 5). Both programs get SIGTERM and must
# exit cleanly; their sockets must be gone.
# Usage: scripts/run-demo.sh BUILD_DIR   (HVIS_DEMO_DIR: runtime dir)
set -uo pipefail

build=${1:?usage: $0 BUILD_DIR}
bin=$build/tools
for p in hvis-host hvis-guest hvis-ctl; do
	[ -x "$bin/$p" ] || { echo "run-demo: $bin/$p not built" >&2; exit 1; }
done
if [ -n "${HVIS_DEMO_DIR:-}" ]; then
	dir=$HVIS_DEMO_DIR
else
	dir=${XDG_RUNTIME_DIR:-/tmp/hvis-$(id -u)}
	[ -n "${XDG_RUNTIME_DIR:-}" ] && dir=$dir/hvis
	dir=$dir/demo
fi
logs=$(mktemp -d "${TMPDIR:-/tmp}/hvis-demo-logs.XXXXXX")
seconds=${HVIS_RUN_SECONDS:-}
[ -z "$seconds" ] && [ ! -t 0 ] && seconds=5

host_pid= guest_pid= watch_pid=
status=0
started=0 # our host took the sockets: they are ours to check at the end

# The guest's disk over NBD: its URI, and 4 MiB of a pattern written and
# checked by a second client through storvsc when qemu-io is there.
demo_disk() {
	local uri="nbd+unix:///scsi0-lun0?socket=$dir/nbd.sock"

	grep -q "NBD export scsi0-lun0" "$logs/guest.log" || {
		echo "run-demo: the guest's disk did not appear" >&2; status=1; return; }
	echo "run-demo: the guest's disk (controller 0, LUN 0) is $uri"
	echo "run-demo: try 'nbdinfo \"$uri\"' or 'qemu-img info \"$uri\"'"
	local out
	command -v qemu-io >/dev/null || return 0
	qemu-io -f raw -c 'write -P 0x5a 0 4M' "$uri" >/dev/null 2>&1
	out=$(qemu-io -f raw -c 'read -P 0x5a 0 4M' "$uri" 2>&1)
	if [[ $out == *"read 4194304/4194304"* && $out != *fail* ]]; then
		echo "run-demo: 4 MiB written to the disk and read back: same bytes"
	else
		echo "run-demo: the disk did not give back what was written" >&2
		status=1
	fi
}

stop() { # pid name
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "run-demo: $2 exited with status $rc" >&2
		status=1
	fi
}

finish() {
	trap - INT TERM
	[ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
	stop "$guest_pid" hvis-guest
	stop "$host_pid" hvis-host
	for s in vmbus.sock ctl.sock nbd.sock; do
		if [ "$started" = 1 ] && [ -e "$dir/$s" ]; then
			echo "run-demo: $dir/$s left behind" >&2
			status=1
		fi
	done
	echo
	echo "--- last host log lines"; tail -n 8 "$logs/host.log"
	echo "--- last guest log lines"; tail -n 8 "$logs/guest.log"
	rm -rf "$logs"
	echo "run-demo: stopped (host pid $host_pid, guest pid $guest_pid)"
	exit "$status"
}

# setsid: Ctrl-C goes to hvis-ctl only; we stop guest then host ourselves,
# so the guest never sees its host die first.
# The default VM: the five integration services and one test device
# allowing 2 sub-channels.
truncate -s 1G "$logs/disk.img"
setsid "$bin/hvis-host" --dir "$dir" --name demo --disk "$logs/disk.img" \
	2>"$logs/host.log" &
host_pid=$!
trap finish INT TERM
# Ready once it says so (a socket file alone may be a dead run's).
for _ in $(seq 100); do
	grep -q "waiting for a guest on" "$logs/host.log" && break
	kill -0 "$host_pid" 2>/dev/null || break
	sleep 0.05
done
if grep -q "is already running" "$logs/host.log"; then
	# Another `make run` (or a host of this VM) is live: its sockets
	# and its VM are not ours to show or to judge.
	echo "run-demo: VM 'demo' is already running (its host listens in" \
		"$dir): stop it first (Ctrl-C where it runs), or set" \
		"HVIS_DEMO_DIR to run another" >&2
	wait "$host_pid"
	host_pid= status=1
	finish
fi
kill -0 "$host_pid" 2>/dev/null && [ -S "$dir/ctl.sock" ] ||
	{ echo "run-demo: host did not start" >&2; cat "$logs/host.log"; status=1; finish; }
started=1

# KVP pools in the scratch dir; backups may only "freeze" /dev/shm (tmpfs
# refuses FIFREEZE), so a `vm backup` tried from the demo freezes nothing.
setsid "$bin/hvis-guest" --dir "$dir" --traffic echo --burst 4 \
	--kvp-root "$logs/kvp" --freeze /dev/shm 2>"$logs/guest.log" &
guest_pid=$!
for _ in $(seq 100); do
	[ "$("$bin/hvis-ctl" --dir "$dir" channels 2>/dev/null | grep -c ' open ')" -ge 10 ] &&
		grep -q "NBD export scsi0-lun0" "$logs/guest.log" && break
	sleep 0.05
done
echo "run-demo: host pid $host_pid, guest pid $guest_pid, sockets in $dir"
echo "run-demo: try '$bin/hvis-ctl --dir $dir channels' in another terminal"
demo_disk

if [ -n "$seconds" ]; then
	"$bin/hvis-ctl" --dir "$dir" vm watch &
	watch_pid=$!
	sleep "$seconds"
else
	# Ctrl-C reaches hvis-ctl too; it exits and we clean up.
	"$bin/hvis-ctl" --dir "$dir" vm watch
fi
finish
