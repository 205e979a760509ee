#!/usr/bin/env bash
# Receive segment coalescing (RSC) host to guest, both halves real:
# hvis-host --nic makes its TAP in a namespace of its own, hvis-guest
# --netns makes hn0 in another.
# RSC on (the guest's default): the host's TAP must have TSO on (the
# kernel hands over TCP frames of up to 64 KiB), iperf3 TCP host->guest
# over IPv4 and IPv6 must deliver what was sent, a 32 MiB file through nc
# host->guest must arrive byte for byte, and the host must count
# coalesced frames (rsc_frames, in pieces) with none refused, the guest
# coalesced frames written to hn0 with none dropped as malformed.
# On an access VLAN (hvis-ctl nic set vlan=7), a tagged 4000-byte GSO
# packet into the host's TAP reaches the guest's kernel as one segment.
# Then a new guest with --net-rsc off: the host's TAP must have TSO off
# again, and the same traffic must pass with no coalesced frame.
# Needs root, /dev/net/tun, iproute2, ethtool, iperf3, nc, python3 and tcpdump:
# skipped otherwise.
# Usage: net-rsc.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
net_pair rsc 97 ethtool iperf3 nc sha256sum python3 tcpdump

# tso_is STATE: TSO's state at the host's TAP as ethtool -k says it.
tso_is() {
	[ "$(ip netns exec "$HNS" ethtool -k hvport0 |
		awk '$1 == "tcp-segmentation-offload:" { print $2 }')" = "$1" ]
}

iperf_serve "$HNS" 5297
head -c 32M /dev/urandom >"$T/blob"

# iperf_rx ADDR WHAT: host->guest TCP for 2 s, iperf3's byte counters
# checked (received is what was sent, but for what was in flight when
# the receiver stopped counting, as net-iperf.sh explains: up to 96 MiB
# with the host's TAP queue of coalesced frames, and what the sender
# sent while it counted past the receiver).
iperf_rx() {
	local out=$T/iperf.json
	timeout 30 ip netns exec "$GNS" iperf3 -c "$1" -p 5297 -t 2 -R \
		--json >"$out" 2>&1 || fail "iperf3 $2: $(cat "$out")"
	python3 "$(dirname "$0")/iperf_check.py" "$out" "$2" $((96 << 20)) ||
		fail "iperf3 $2: $(cat "$out")"
}

traffic() {
	wait_until 10 ip netns exec "$GNS" ping -c 1 -W 1 10.97.0.1 ||
		fail "no ping to the host ($1)"
	iperf_rx 10.97.0.1 "TCP host->guest ($1)"
	iperf_rx 2001:db8:97::1 "TCP/IPv6 host->guest ($1)"
	nc_copy "$HNS" "$GNS" 10.97.0.2
	echo "32 MiB host->guest ($1): same sha256"
	ctl channels --wide >"$T/channels"
	net_clean rsc_bad refused rx_csum_bad >"$T/clean" ||
		fail "frames refused ($1): $(cat "$T/clean")"
}

# ---- RSC on ----
wait_until 10 tso_is on ||
	fail "TSO not on at the host's TAP: $(ip netns exec "$HNS" ethtool -k hvport0)"
traffic "RSC on"
grep -Eq 'rsc_frames=[1-9]' "$T/channels" && grep -Eq 'rsc_pieces=[1-9]' "$T/channels" ||
	fail "the host coalesced nothing: $(cat "$T/channels")"
grep -o 'rsc_[a-z]*=[0-9]*' "$T/channels" | paste -sd ' '

# ---- on an access VLAN: a tagged 4000-byte TCP segment, one GSO packet
# into the host's TAP (the kernel here has no VLAN devices), comes out
# of the TAP as one coalesced frame, which the switch port untags; the
# guest's kernel takes it whole: its first RST, tagged on the way out,
# acknowledges all 4000 bytes (frames one by one would each have theirs)
# ----
ctl nic set hvport0 vlan=7 >/dev/null || fail "vlan=7"
before=$(net_ctr rsc_frames)
: >"$T/sniff.err"
ip netns exec "$HNS" timeout 20 tcpdump -l -e -n -S -i hvport0 -c 1 \
	'vlan 7 and tcp[tcpflags] & tcp-rst != 0' >"$T/rst" \
	2>"$T/sniff.err" &
td=$!
_pids+=("$td")
wait_until 10 grep -q "listening on" "$T/sniff.err" ||
	fail "tcpdump: $(cat "$T/sniff.err")"
ip netns exec "$HNS" python3 "$(dirname "$0")/net_gso_frame.py" \
	hvport0 "$(ip -n "$GNS" -br link show hn0 | awk '{ print $3 }')" \
	7 10.97.0.1 10.97.0.2 9 4000 || fail "GSO frame not sent"
wait "$td"
grep -q "vlan 7.*10.97.0.2.9 > 10.97.0.1.40000: Flags \[R.\], seq 0, ack 5000" "$T/rst" ||
	fail "no RST acknowledging 4000 coalesced bytes: $(cat "$T/rst")"
[ "$(net_ctr rsc_frames)" -gt "$before" ] ||
	fail "not coalesced over the VLAN: $(ctl channels --wide)"
echo "4000 bytes in one coalesced frame over VLAN 7: acknowledged"
ctl nic set hvport0 vlan=none >/dev/null || fail "vlan=none"
stop_proc "$GUEST_PID" guest
grep -q 'RSC 1' "$GUEST_LOG" || fail "the guest did not agree RSC"
grep -Eq 'rx_rsc=[1-9]' "$GUEST_LOG" && ! grep -Eq 'rx_rsc_bad=[1-9]' "$GUEST_LOG" ||
	fail "the guest's RSC counters: $(grep rx_rsc "$GUEST_LOG")"

# ---- a new guest, RSC off ----
wait_until 10 sh -c "! ip -n $GNS link show dev hn0" || fail "hn0 left behind"
: >"$GUEST_LOG.1"
GUEST_LOG_ON=$GUEST_LOG
GUEST_LOG=$GUEST_LOG.1
start_guest --no-services --netns "$GNS" --net-rsc off
wait_until 15 log_has "$GUEST_LOG" "hn0 in network namespace" ||
	fail "no hn0 for the new guest"
ip -n "$GNS" addr add 10.97.0.2/24 dev hn0 &&
	ip -n "$GNS" addr add 2001:db8:97::2/64 dev hn0 nodad ||
	fail "addresses"
wait_until 10 tso_is off ||
	fail "TSO still on at the host's TAP: $(ip netns exec "$HNS" ethtool -k hvport0)"
traffic "RSC off"
grep -Eq 'rsc_frames=[1-9]' "$T/channels" &&
	fail "coalesced frames to a guest that did not ask: $(cat "$T/channels")"
tso_is off || fail "TSO came back on"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -q 'RSC 0' "$GUEST_LOG" || fail "the second guest agreed RSC"
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" \
	"$GUEST_LOG" "$GUEST_LOG_ON" && fail "sanitizer report"
echo "ok"
