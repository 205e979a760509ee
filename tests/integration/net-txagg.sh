#!/usr/bin/env bash
# netvsc's TX aggregation, both halves real (as net-e2e.sh): a UDP flood
# of 64-byte datagrams from the guest must reach the host in far fewer
# SEND_RNDIS_PKT messages than frames (the host's tx_msgs against its
# tx_frames), every frame the guest's reader took from hn0 must come
# out of the host's TAP (hn0's TX packets = the host's tx_frames =
# hvport0's RX packets, whatever the TAP's queue dropped before the
# reader under load), and 16 MiB guest to host through TCP (nc), with
# TSO on (GSO frames sent alone by GPA-direct among small ones) and off
# (MTU-sized frames, three to a section), must arrive sha256-equal.
# With AGG 1 (--net-tx-agg 1) the same, but one frame a message.
# Needs root, /dev/net/tun, iproute2, ethtool, iperf3, nc and sha256sum:
# skipped otherwise.
# Usage: net-txagg.sh HOST GUEST CTL [AGG]
source "$(dirname "$0")/lib.sh"
AGG=${4:-}
[ -n "$AGG" ] && NET_GUEST_OPTS="--net-tx-agg $AGG"
net_pair txa 96 ethtool iperf3 nc sha256sum
wait_until 10 ip netns exec "$GNS" ping -c 1 -W 1 10.96.0.1 ||
	fail "no ping to the host"
want=8
[ -n "$AGG" ] && want=$AGG
grep -q "send aggregation: up to $want frames" "$GUEST_LOG" ||
	fail "aggregation limit not $want"


ip netns exec "$HNS" iperf3 -s -p 5296 >"$T/iperf-server" 2>&1 &
_pids+=($!)
wait_until 5 sh -c "ip netns exec $HNS ss -ltn | grep -q ':5296'" ||
	fail "iperf3 did not listen"
# One snapshot each side of the flood: frames and messages counted
# together (ARP or neighbour discovery may pass meanwhile).
ctl channels --wide >"$T/c0" || fail "hvis-ctl channels"
timeout 30 ip netns exec "$GNS" iperf3 -c 10.96.0.1 -p 5296 -u -l 64 \
	-b 0 -t 2 >"$T/iperf" 2>&1 || fail "iperf3: $(cat "$T/iperf")"
wait_until 10 net_g2h_all || fail "frames lost: $(net_g2h_all)
$(ctl channels --wide)"
ctl channels --wide >"$T/c1" || fail "hvis-ctl channels"
frames=$(($(net_ctr tx_frames "$T/c1") - $(net_ctr tx_frames "$T/c0")))
msgs=$(($(net_ctr tx_msgs "$T/c1") - $(net_ctr tx_msgs "$T/c0")))
echo "UDP flood: $frames frames in $msgs messages; $(net_g2h_all)"
[ "$frames" -ge 2000 ] || fail "only $frames frames: $(cat "$T/iperf")"
if [ "$want" = 1 ]; then
	# one each (a frame of background traffic may be counted as a
	# message but not yet as a frame when a snapshot is taken)
	[ $((msgs - frames)) -le 1 ] && [ $((frames - msgs)) -le 1 ] ||
		fail "$frames frames in $msgs messages"
else
	[ $((msgs * 2)) -lt "$frames" ] ||
		fail "not aggregated: $frames frames in $msgs messages"
fi
grep -q 'tx_err=0 ' <(ctl channels --wide) && grep -q 'refused=0 ' <(ctl channels --wide) ||
	fail "errors: $(ctl channels --wide)"
# nic list --json sums the channels' messages as channels shows them
read -r jf jm < <(ctl nic list --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["nics"][0]["counters"]
print(c["tx_frames"], c["tx_msgs"])')
[ "$jm" -ge "$(net_ctr tx_msgs "$T/c1")" ] && [ "$jm" -le "$jf" ] ||
	fail "nic list: $jf frames, $jm messages"

# 16 MiB guest to host over TCP, byte for byte, every frame there.
head -c 16M /dev/urandom >"$T/blob"
nc_copy "$GNS" "$HNS" 10.96.0.1 9796
wait_until 10 net_g2h_all || fail "frames lost (TSO on): $(net_g2h_all)"
ip netns exec "$GNS" ethtool -K hn0 tso off tx off ||
	fail "ethtool -K hn0 tso off tx off"
nc_copy "$GNS" "$HNS" 10.96.0.1 9796
wait_until 10 net_g2h_all || fail "frames lost (TSO off): $(net_g2h_all)"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
grep -E 'sent [0-9]+ frames in' "$GUEST_LOG"
echo "ok"
