#!/usr/bin/env bash
# `make run`: an emulated Hyper-V host with VM "demo" (the five
# integration services, one test device allowing 2 sub-channels and a
# SCSI controller with a 1 GiB sparse disk), a guest running its service
# drivers, light echo traffic on the three test channels and the disk
# exported over NBD (its URI printed, a file written to it and read
# back), and the live status (hvis-ctl vm watch: VM, channels, services,
# disks) until Ctrl-C.
# Run as root (with /dev/net/tun, ip and ping), the VM also has a network
# adapter: the host's TAP device (its switch port) in a network namespace
# of its own with 10.99.0.1/24, the guest's hn0 in another, its address
# 10.99.0.2/24 set through KVP (`hvis-ctl kvp ip set`, as
# Set-VMNetworkConfiguration); the guest pings the host's side every
# second and the live status shows the last answer. Both namespaces go
# when the demo stops. Otherwise one line says why there is no adapter.
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

host_pid= guest_pid= watch_pid= filter_pid= ping_pid= sleep_pid=
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

# ---- the network adapter (root only) ----
hns= gns= nic_mac=
nic_addr=10.99.0.2 nic_peer=10.99.0.1

# nic_missing: why this machine cannot have the demo's adapter, if so.
nic_missing() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "not run as root (TAP devices and network namespaces need it)"
	elif [ ! -c /dev/net/tun ]; then
		echo "no /dev/net/tun"
	elif ! command -v ip >/dev/null; then
		echo "no ip command (iproute2)"
	elif ! command -v ping >/dev/null; then
		echo "no ping command (iputils-ping)"
	fi
}

nic_plan() {
	local why
	why=$(nic_missing)
	if [ -z "$why" ]; then
		hns=hvis-demo-h$$ gns=hvis-demo-g$$
		# A TAP device tried first: a container may have the
		# device node and not the right to use it.
		if ! { ip netns add "$hns" && ip netns add "$gns"; } 2>/dev/null; then
			why="ip netns add failed"
		elif ! { ip -n "$hns" tuntap add dev hvprobe mode tap &&
			ip -n "$hns" link del hvprobe; } 2>/dev/null; then
			why="no TAP device can be made here"
		else
			return 0
		fi
		nic_down
	fi
	echo "run-demo: the VM has no network adapter: $why"
}

# The host's side up; the guest's address through KVP (its service may
# still be negotiating: a few tries); then the guest pings the host.
nic_up() {
	local out
	for _ in $(seq 100); do
		ip -n "$gns" link show dev hn0 >/dev/null 2>&1 && break
		sleep 0.05
	done
	nic_mac=$(ip -n "$gns" -o link show dev hn0 2>/dev/null |
		sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	[ -n "$nic_mac" ] || {
		echo "run-demo: the guest made no hn0 in $gns" >&2; status=1; return; }
	ip -n "$hns" addr add "$nic_peer/24" dev hvport0 &&
		ip -n "$hns" link set hvport0 up ||
		{ echo "run-demo: the host's TAP hvport0 not set up" >&2; status=1; return; }
	for _ in $(seq 50); do
		out=$("$bin/hvis-ctl" --dir "$dir" kvp ip set "$nic_mac" \
			--ip "$nic_addr/24" --gateway "$nic_peer" 2>&1) && break
		sleep 0.1
	done
	[[ $out == *"configuration applied"* ]] ||
		{ echo "run-demo: kvp ip set: $out" >&2; status=1; return; }
	echo "run-demo: network adapter $nic_mac: the host's TAP hvport0" \
		"($nic_peer) in namespace $hns, the guest's hn0 in namespace $gns," \
		"$nic_addr set by 'hvis-ctl kvp ip set $nic_mac --ip $nic_addr/24" \
		"--gateway $nic_peer'"
	echo "run-demo: try 'ip netns exec $gns ping $nic_peer' or" \
		"'hvis-ctl --dir $dir kvp ip get $nic_mac'"
	ip netns exec "$gns" ping -O -i 1 -W 1 "$nic_peer" >"$logs/ping" 2>&1 &
	ping_pid=$!
}

# nic_status: one line for the live status, the last ping answer.
nic_status() {
	local last n ok
	[ -n "$ping_pid" ] || return 0
	last=$(grep -E 'bytes from|no answer' "$logs/ping" | tail -n 1)
	ok=$(grep -c 'bytes from' "$logs/ping")
	n=$(sed -n 's/.*icmp_seq=\([0-9]*\).*/\1/p' "$logs/ping" | tail -n 1)
	if [[ $last == *"bytes from"* ]]; then
		last="icmp_seq=${n} time=${last##*time=}"
	elif [ -n "$last" ]; then
		last="icmp_seq=${n} no answer"
	else
		last="no answer yet"
	fi
	echo "Network:         ping $nic_peer (host's TAP) from hn0 $nic_addr" \
		"(guest): $last, ${ok} of ${n:-0} answered"
}

# The live status as hvis-ctl prints it, with the network line after
# each refresh's first line; the screen is cleared here on a terminal.
status_filter() {
	local line
	while IFS= read -r line; do
		if [[ $line == "--- hvis VM status at"* ]]; then
			[ -t 1 ] && printf '\033[H\033[2J'
			printf '%s\n' "$line"
			nic_status
		else
			printf '%s\n' "$line"
		fi
	done
}

# gone PID [SIGNAL]: PID signalled (if SIGNAL), given 2 s to end, then killed;
# polled rather than waited for: ping, hvis-ctl and the status loop may
# end with the very signal that stops the demo, and bash 5.2 can lose
# such a child's exit while a trap runs, after which `wait` hangs.
gone() {
	[ -n "$1" ] || return 0
	[ -n "${2:-}" ] && kill "-$2" "$1" 2>/dev/null
	for _ in $(seq 40); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
}

# Namespaces gone (after the programs that use them).
nic_down() {
	gone "$ping_pid" TERM
	ping_pid=
	for ns in $hns $gns; do
		ip netns del "$ns" 2>/dev/null
	done
	hns= gns=
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
	gone "$sleep_pid" TERM
	gone "$watch_pid" TERM
	gone "$filter_pid"
	[ -n "$ping_pid" ] && kill "$ping_pid" 2>/dev/null
	stop "$guest_pid" hvis-guest
	stop "$host_pid" hvis-host
	nic_down
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
# With the adapter, the host runs in its namespace, where it makes the TAP.
truncate -s 1G "$logs/disk.img"
trap nic_down EXIT
nic_plan
host_nic=() guest_nic=()
if [ -n "$hns" ]; then
	host_nic=(ip netns exec "$hns")
	guest_nic=(--netns "$gns")
fi
setsid "${host_nic[@]}" "$bin/hvis-host" --dir "$dir" --name demo \
	--disk "$logs/disk.img" ${hns:+--nic tap=hvport0,queues=2} 2>"$logs/host.log" &
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
	--kvp-root "$logs/kvp" --freeze /dev/shm "${guest_nic[@]}" \
	2>"$logs/guest.log" &
guest_pid=$!
want=10 # 3 test channels, 5 services, a SCSI controller and its sub-channel
[ -n "$gns" ] && want=11 # and the network adapter
for _ in $(seq 100); do
	[ "$("$bin/hvis-ctl" --dir "$dir" channels 2>/dev/null | grep -c ' open ')" -ge "$want" ] &&
		grep -q "NBD export scsi0-lun0" "$logs/guest.log" && break
	sleep 0.05
done
echo "run-demo: host pid $host_pid, guest pid $guest_pid, sockets in $dir"
echo "run-demo: try '$bin/hvis-ctl --dir $dir channels' in another terminal"
demo_disk
[ -n "$gns" ] && nic_up

# hvis-ctl writes into a FIFO read by status_filter; it is stopped by
# SIGTERM at the end (it ignores SIGPIPE: the reader's end is no stop).
mkfifo "$logs/watch"
"$bin/hvis-ctl" --dir "$dir" vm watch >"$logs/watch" &
watch_pid=$!
# From here a signal only ends the waiting below (stopping hvis-ctl ends
# the status loop), and finish runs after it, outside the trap.
trap 'kill "$watch_pid" 2>/dev/null' INT TERM
if [ -n "$seconds" ]; then
	status_filter <"$logs/watch" &
	filter_pid=$!
	# wait, not sleep alone: a trapped signal ends it at once.
	sleep "$seconds" &
	sleep_pid=$!
	wait "$sleep_pid"
else
	# Ctrl-C reaches hvis-ctl too; it exits and we clean up.
	status_filter <"$logs/watch"
fi
finish
