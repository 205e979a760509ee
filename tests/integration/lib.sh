# Shared helpers of the integration tests: real hvis-host, hvis-guest and
# hvis-ctl processes in a private runtime directory.
# Usage from a test: source lib.sh HOST GUEST CTL
set -uo pipefail

HOST_BIN=$1
GUEST_BIN=$2
CTL_BIN=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/hvis-it.XXXXXX")
HOST_LOG=$T/host.log
GUEST_LOG=$T/guest.log
HOST_PID=
GUEST_PID=
_pids=()
# A guest without --kvp-root keeps its pools in its state directory:
# the test's, never the home of whoever runs the tests.
export XDG_STATE_HOME=$T/state

LOOP=

cleanup() {
	fuse_detach 2>/dev/null
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${HVIS_TEST_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- host log"; cat "$HOST_LOG" 2>/dev/null
	echo "--- guest log"; cat "$GUEST_LOG" 2>/dev/null
	exit 1
}

# wait_until SECONDS CMD...: poll CMD every 50 ms.
wait_until() {
	local n=$(($1 * 20)); shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.05
	done
}

ctl() { "$CTL_BIN" --dir "$T" "$@"; }

# need_net PROGRAM...: skip (77) the test unless it runs as root with
# /dev/net/tun and each PROGRAM (network namespaces and TAP devices).
need_net() {
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
	[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
	for p in "$@"; do
		command -v "$p" >/dev/null || { echo "SKIP: no $p"; exit 77; }
	done
}

start_host() {
	"$HOST_BIN" --dir "$T" "$@" 2>>"$HOST_LOG" &
	HOST_PID=$!
	_pids+=("$HOST_PID")
	wait_until 10 test -S "$T/ctl.sock" || fail "host did not start"
}

start_guest() {
	"$GUEST_BIN" --dir "$T" "$@" 2>>"$GUEST_LOG" &
	GUEST_PID=$!
	_pids+=("$GUEST_PID")
}

# stop_proc PID NAME: SIGTERM, expect exit 0 (ASan leak check included).
stop_proc() {
	kill -TERM "$1" 2>/dev/null || fail "$2 already gone"
	wait "$1"
	local rc=$?
	[ "$rc" -eq 0 ] || fail "$2 exited $rc after SIGTERM"
}

vm_running() { ctl vm show | grep -q '^State: *Running'; }

# open_channels: number of channels in state open.
open_channels() { ctl channels --wide | awk 'NR > 1 && $5 == "open"' | wc -l; }
has_open() { [ "$(open_channels)" -ge "$1" ]; }
log_has() { grep -q -- "$2" "$1"; }

# fuse_ok: a filesystem can be put on an NBD export here: nbdfuse,
# fusermount3 (fuse3), /dev/fuse, mkfs.ext4, debugfs, a free loop device
# and root.
fuse_ok() {
	command -v nbdfuse >/dev/null && command -v fusermount3 >/dev/null &&
		[ -e /dev/fuse ] && command -v mkfs.ext4 >/dev/null &&
		command -v debugfs >/dev/null && [ "$(id -u)" = 0 ] &&
		losetup -f >/dev/null 2>&1
}

# fuse_attach URI: nbdfuse serves URI as the file $T/fuse/disk and the
# loop device $LOOP sits on it; $T/mnt is made for a mount.
fuse_attach() {
	mkdir -p "$T/fuse" "$T/mnt"
	nbdfuse -P "$T/fuse.pid" "$T/fuse/disk" "$1" 2>>"$T/fuse.log" &
	_pids+=($!)
	wait_until 10 test -s "$T/fuse.pid" || fail "nbdfuse did not start"
	LOOP=$(losetup -f --show "$T/fuse/disk") || fail "losetup"
}

# fuse_detach: unmounts $T/mnt, frees $LOOP and ends nbdfuse (also when
# a test failed half way).
fuse_detach() {
	mountpoint -q "$T/mnt" && umount "$T/mnt"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	LOOP=
	mountpoint -q "$T/fuse" && fusermount3 -u "$T/fuse"
}

# net_pair NAME NET TOOL...: the network adapter's two halves, both
# real, each in a network namespace of its own ($HNS, $GNS, deleted on
# exit): hvis-host --nic makes its TAP hvport0 (the switch port) in
# $HNS with 10.NET.0.1 and 2001:db8:NET::1, hvis-guest --netns makes
# hn0 in $GNS with 10.NET.0.2 and 2001:db8:NET::2. Skips (77) without
# root, /dev/net/tun or one of the TOOLs. NET_GUEST_OPTS (words): more
# options for hvis-guest; NET_NIC_OPTS (",queues=2" ...): for --nic.
net_pair() {
	local net=$2
	need_net ip "${@:3}"
	HNS=hvis-$1-h$$
	GNS=hvis-$1-g$$
	trap 'ip netns del "$HNS" 2>/dev/null; ip netns del "$GNS" 2>/dev/null; cleanup' EXIT
	ip netns add "$HNS" && ip netns add "$GNS" || fail "ip netns add"
	ip netns exec "$HNS" "$HOST_BIN" --dir "$T" --test-devices 0 \
		--services none --nic "tap=hvport0${NET_NIC_OPTS:-}" 2>>"$HOST_LOG" &
	HOST_PID=$!
	_pids+=("$HOST_PID")
	wait_until 10 test -S "$T/ctl.sock" || fail "host did not start"
	# shellcheck disable=SC2086 # words on purpose
	start_guest --no-services --netns "$GNS" ${NET_GUEST_OPTS:-}
	wait_until 10 ip -n "$GNS" link show dev hn0 ||
		fail "no hn0 in the guest's namespace"
	ip -n "$HNS" addr add "10.$net.0.1/24" dev hvport0 &&
		ip -n "$HNS" addr add "2001:db8:$net::1/64" dev hvport0 nodad &&
		ip -n "$HNS" link set hvport0 up &&
		ip -n "$GNS" addr add "10.$net.0.2/24" dev hn0 &&
		ip -n "$GNS" addr add "2001:db8:$net::2/64" dev hn0 nodad &&
		ip -n "$GNS" link set lo up && ip -n "$HNS" link set lo up ||
		fail "addresses"
}

# net_ctr NAME [FILE]: the host's counter NAME summed over the
# adapter's channels, now or in FILE (a snapshot of hvis-ctl channels).
net_ctr() {
	if [ -n "${2:-}" ]; then cat "$2"; else ctl channels --wide; fi |
		grep -o " $1=[0-9]*" | awk -F= '{ s += $2 } END { print s + 0 }'
}
# net_devstat NS DEV WHAT: a device's statistics counter.
net_devstat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
# net_g2h_all: every frame hn0 gave the guest's readers left hvport0
# (net_pair's namespaces); the segments netvsp merged into the write
# before them (tx_gro) came as part of it, one packet to the kernel.
net_g2h_all() {
	local taken host gro port
	taken=$(net_devstat "$GNS" hn0 tx_packets)
	host=$(net_ctr tx_frames)
	gro=$(net_ctr tx_gro)
	port=$(net_devstat "$HNS" hvport0 rx_packets)
	echo "hn0 read $taken, host sent $host ($gro merged), hvport0 got $port"
	[ "$taken" = "$host" ] && [ $((host - gro)) = "$port" ]
}
# net_h2g_all [SNAPSHOT G0]: every frame the host passed on to the guest
# came out of hn0 (since SNAPSHOT, a copy of hvis-ctl channels, when hn0
# had had G0).
net_h2g_all() {
	local host got h0=0
	[ -n "${1:-}" ] && h0=$(net_ctr rx_frames "$1")
	host=$(($(net_ctr rx_frames) - h0))
	got=$(($(net_devstat "$GNS" hn0 rx_packets) - ${2:-0}))
	echo "host passed on $host, hn0 got $got"
	[ "$host" = "$got" ]
}
# net_clean NAME...: no channel of the adapter counts any of the
# counters NAME (errors, refusals): false, with the channels shown,
# when one does.
net_clean() {
	local c names
	c=$(ctl channels --wide) || { echo "hvis-ctl channels failed"; return 1; }
	names=$(IFS='|'; echo "$*")
	! grep -Eq " ($names)=[1-9]" <<<"$c" || { echo "$c"; return 1; }
}

# iperf_serve NS PORT: an iperf3 server in namespace NS, listening.
iperf_serve() {
	ip netns exec "$1" iperf3 -s -p "$2" >"$T/iperf-server-$2" 2>&1 &
	_pids+=($!)
	wait_until 5 sh -c "ip netns exec $1 ss -ltn | grep -q ':$2'" ||
		fail "iperf3 did not listen in $1"
}

# nc_copy FROM_NS TO_NS ADDR [PORT]: $T/blob through TCP (nc) from one
# namespace to ADDR:PORT (default 9798) in the other, byte for byte.
nc_copy() {
	local port=${4:-9798}
	rm -f "$T/got"
	ip netns exec "$2" nc -l "$port" >"$T/got" &
	local nc=$!
	_pids+=("$nc")
	wait_until 5 sh -c "ip netns exec $2 ss -ltn | grep -q ':$port'" ||
		fail "nc did not listen"
	timeout 30 ip netns exec "$1" nc -N "$3" "$port" <"$T/blob" ||
		fail "nc send from $1"
	wait "$nc"
	[ "$(sha256sum <"$T/blob")" = "$(sha256sum <"$T/got")" ] ||
		fail "$(stat -c %s "$T/blob") bytes from $1: $(stat -c %s "$T/got") arrived, not the same"
}
