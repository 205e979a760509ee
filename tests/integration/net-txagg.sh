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
# Toward the guest (without AGG): the host batches the frames of a TAP
# burst into transfer-page packets of several ranges, so a UDP flood of
# 64-byte datagrams from the host's side must reach the guest in fewer
# packets than frames (the host's rx_msgs against its rx_frames), every
# frame the host sent must come out of hn0 (the host's rx_frames =
# hn0's RX packets), and 16 MiB host to guest through TCP must arrive
# sha256-equal.
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

# flood FROM ADDR PORT NAME ARRIVED: 2 s of 64-byte UDP datagrams from
# namespace FROM to the iperf3 server at ADDR:PORT, then until ARRIVED
# holds; one snapshot of hvis-ctl channels each side ($T/NAME.0 and
# .1): frames and messages counted together (ARP or neighbour
# discovery may pass meanwhile).
flood() {
	ctl channels --wide >"$T/$4.0" || fail "hvis-ctl channels"
	timeout 30 ip netns exec "$1" iperf3 -c "$2" -p "$3" -u -l 64 \
		-b 0 -t 2 >"$T/$4.iperf" 2>&1 ||
		fail "iperf3 from $1: $(cat "$T/$4.iperf")"
	wait_until 10 "$5" || fail "frames lost: $("$5")
$(ctl channels --wide)"
	ctl channels --wide >"$T/$4.1" || fail "hvis-ctl channels"
}
# grown NAME CTR: how much counter CTR grew over flood NAME.
grown() { echo $(($(net_ctr "$2" "$T/$1.1") - $(net_ctr "$2" "$T/$1.0"))); }
# json_ctrs A B: the adapter's counters A and B in nic list --json.
json_ctrs() {
	ctl nic list --json | python3 -c '
import json, sys
c = json.load(sys.stdin)["nics"][0]["counters"]
print(c[sys.argv[1]], c[sys.argv[2]])' "$1" "$2"
}

iperf_serve "$HNS" 5296
flood "$GNS" 10.96.0.1 5296 tx net_g2h_all
frames=$(grown tx tx_frames)
msgs=$(grown tx tx_msgs)
echo "UDP flood: $frames frames in $msgs messages; $(net_g2h_all)"
[ "$frames" -ge 2000 ] || fail "only $frames frames: $(cat "$T/tx.iperf")"
if [ "$want" = 1 ]; then
	# one each (a frame of background traffic may be counted as a
	# message but not yet as a frame when a snapshot is taken)
	[ $((msgs - frames)) -le 1 ] && [ $((frames - msgs)) -le 1 ] ||
		fail "$frames frames in $msgs messages"
else
	[ $((msgs * 2)) -lt "$frames" ] ||
		fail "not aggregated: $frames frames in $msgs messages"
fi
net_clean tx_err refused >"$T/clean" || fail "errors: $(cat "$T/clean")"
# nic list --json sums the channels' messages as channels shows them
read -r jf jm < <(json_ctrs tx_frames tx_msgs)
[ "$jm" -ge "$(net_ctr tx_msgs "$T/tx.1")" ] && [ "$jm" -le "$jf" ] ||
	fail "nic list: $jf frames, $jm messages"

# 16 MiB guest to host over TCP, byte for byte, every frame there.
head -c 16M /dev/urandom >"$T/blob"
nc_copy "$GNS" "$HNS" 10.96.0.1 9796
wait_until 10 net_g2h_all || fail "frames lost (TSO on): $(net_g2h_all)"
ip netns exec "$GNS" ethtool -K hn0 tso off tx off ||
	fail "ethtool -K hn0 tso off tx off"
nc_copy "$GNS" "$HNS" 10.96.0.1 9796
wait_until 10 net_g2h_all || fail "frames lost (TSO off): $(net_g2h_all)"

# rx_arrived: every frame the host sent the guest since the snapshot
# $T/rx.0 came out of hn0 (then $g0).
rx_arrived() { net_h2g_all "$T/rx.0" "$g0"; }
if [ -z "$AGG" ]; then
	iperf_serve "$GNS" 5297
	g0=$(net_devstat "$GNS" hn0 rx_packets)
	flood "$HNS" 10.96.0.2 5297 rx rx_arrived
	frames=$(grown rx rx_frames)
	msgs=$(grown rx rx_msgs)
	echo "UDP flood to the guest: $frames frames in $msgs packets"
	[ "$frames" -ge 2000 ] || fail "only $frames frames: $(cat "$T/rx.iperf")"
	[ "$msgs" -lt "$frames" ] ||
		fail "not batched: $frames frames in $msgs packets"
	read -r jf jm < <(json_ctrs rx_frames rx_msgs)
	[ "$jm" -ge "$(net_ctr rx_msgs "$T/rx.1")" ] && [ "$jm" -lt "$jf" ] ||
		fail "nic list: $jf frames to the guest in $jm packets"
	nc_copy "$HNS" "$GNS" 10.96.0.2 9797
	wait_until 10 rx_arrived || fail "frames lost (TCP): $(rx_arrived)"
fi

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
grep -E 'sent [0-9]+ frames in' "$GUEST_LOG"
echo "ok"
