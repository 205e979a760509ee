#!/usr/bin/env bash
# TAP I/O in bursts (runtime/rt_tapio): a flood of 64-byte UDP
# datagrams each way through both TAPs, in network namespaces, must take
# fewer system calls on the TAP queues than frames: at the host, a
# guest message's frames are written together (tx_calls < tx_frames)
# and frames are read in bursts (rx_calls < rx_frames); in the guest,
# the reader reads bursts and a transfer-page packet's frames are
# written together (its closing line: frames read and written in fewer
# calls). Every frame one side read came out of the other side's TAP
# (device counters against the channels'), and 8 MiB each way through
# TCP (nc) arrive sha256-equal. With OFF (HVIS_TAPIO=off: one call per frame, as
# where io_uring is missing) the same traffic passes, a call a frame.
# Needs root, /dev/net/tun, iproute2, iperf3, nc and sha256sum:
# skipped otherwise.
# Usage: net-tapio.sh HOST GUEST CTL [off]
source "$(dirname "$0")/lib.sh"
OFF=${4:-}
[ "$OFF" = off ] && export HVIS_TAPIO=off
net_pair tio 97 iperf3 nc sha256sum
wait_until 10 ip netns exec "$GNS" ping -c 1 -W 1 10.97.0.1 ||
	fail "no ping to the host"
if [ "$OFF" = off ]; then
	for log in "$HOST_LOG" "$GUEST_LOG"; do
		grep -q 'TAP bursts off (HVIS_TAPIO=off)' "$log" ||
			fail "no line saying the bursts are off in $log"
	done
elif grep -Eq 'no io_uring here|io_uring not set up' "$HOST_LOG" "$GUEST_LOG"; then
	echo "SKIP: no io_uring on this machine (one call a frame)"
	exit 77
fi
# A TAP that takes no RWF_NOWAIT reads (Linux 6.1) keeps its reads one
# call each: only the writes are then in bursts.
READS=bursts
grep -q 'the TAP takes no RWF_NOWAIT reads' "$HOST_LOG" "$GUEST_LOG" &&
	READS=single && echo "the TAP takes no RWF_NOWAIT reads: read calls not checked"

# in_bursts WHAT FRAMES CALLS: fewer calls than frames; with the
# bursts off, no fewer.
in_bursts() {
	if [ "$OFF" = off ]; then
		[ "$3" -ge "$2" ] || fail "$1: $3 calls for $2 frames, bursts off"
	else
		[ "$3" -lt "$2" ] || fail "$1: $3 calls for $2 frames, no bursts"
	fi
}
reads_in_bursts() { [ "$READS" = single ] || in_bursts "$@"; }
# flood DIR: 2 s of 64-byte datagrams, guest to host, or with -R the
# other way; the host's counters before and after in $T/c0, $T/c1.
flood() {
	ctl channels --wide >"$T/c0" || fail "hvis-ctl channels"
	timeout 30 ip netns exec "$GNS" iperf3 -c 10.97.0.1 -p 5297 -u \
		-l 64 -b 0 -t 2 "$@" >"$T/iperf" 2>&1 ||
		fail "iperf3 $*: $(cat "$T/iperf")"
	wait_until 10 net_g2h_all || fail "frames lost: $(net_g2h_all)"
	wait_until 10 net_h2g_all || fail "frames lost: $(net_h2g_all)"
	ctl channels --wide >"$T/c1" || fail "hvis-ctl channels"
}
delta() { echo $(($(net_ctr "$1" "$T/c1") - $(net_ctr "$1" "$T/c0"))); }

iperf_serve "$HNS" 5297
flood
frames=$(delta tx_frames) calls=$(delta tx_calls)
echo "guest to host: the host wrote $frames frames in $calls calls"
[ "$frames" -ge 2000 ] || fail "only $frames frames: $(cat "$T/iperf")"
flood -R
rframes=$(delta rx_frames) rcalls=$(delta rx_calls)
echo "host to guest: the host read $rframes frames in $rcalls calls"
[ "$rframes" -ge 1000 ] || fail "only $rframes frames: $(cat "$T/iperf")"
in_bursts "host writes" "$frames" "$calls"
reads_in_bursts "host reads" "$rframes" "$rcalls"

# 8 MiB each way, byte for byte, every frame there.
head -c 8M /dev/urandom >"$T/blob"
nc_copy "$GNS" "$HNS" 10.97.0.1 9797
nc_copy "$HNS" "$GNS" 10.97.0.2 9797
wait_until 10 net_g2h_all || fail "frames lost (TCP): $(net_g2h_all)"
wait_until 10 net_h2g_all || fail "frames lost (TCP): $(net_h2g_all)"
net_clean tx_err refused >"$T/clean" || fail "errors: $(cat "$T/clean")"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
# The guest's readers and workers: frames and calls, all queues.
read -r gread gcalls gwrote gwcalls < <(grep -o 'TAP: [0-9]* frames read in [0-9]* calls, [0-9]* written in [0-9]* calls' "$GUEST_LOG" |
	awk '{ r += $2; rc += $6; w += $8; wc += $11 }
	     END { print r + 0, rc + 0, w + 0, wc + 0 }')
echo "guest: read $gread frames in $gcalls calls, wrote $gwrote in $gwcalls"
[ "$gread" -ge 4000 ] && [ "$gwrote" -ge 1000 ] ||
	fail "guest counted too few frames"
reads_in_bursts "guest reads" "$gread" "$gcalls"
# the host packs a burst's frames into transfer-page packets of several
in_bursts "guest writes" "$gwrote" "$gwcalls"
echo "ok"
