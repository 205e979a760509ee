#!/usr/bin/env bash
# The synthetic network adapter's offloads under load, both halves real:
# hvis-host --nic makes its TAP (the switch port) in a namespace of its
# own, hvis-guest --netns makes hn0 in another. hn0 must come up with
# the checksum and segmentation offloads the host offered turned on and
# its GSO size limited to the host's LSO limit;
# then iperf3 TCP and UDP (100 Mbit/s) both ways, with the guest's TSO
# on and then off, each run checked by iperf3's own byte counters (TCP:
# what was sent was received, in-flight bytes aside; UDP: next to
# nothing lost), one TCP run over
# IPv6, and a 32 MiB file each way through nc, sha256-checked, with TSO
# on (and guest to host with TSO off, checksums on: the host merges the
# segments, tx_gro, over IPv4 and then IPv6). The host's counters must
# show LSO sends (the guest's TSO reached the host's TAP as GSO), merged
# segments and no refusals; the guest's log, frames sent by netvsc's
# worker after its receive batches as well as by its reader.
# Needs root, /dev/net/tun, iproute2, ethtool, iperf3, nc and python3:
# skipped otherwise.
# Usage: net-iperf.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
net_pair ipf 98 ethtool iperf3 nc sha256sum python3
wait_until 10 ip netns exec "$GNS" ping -c 1 -W 1 10.98.0.1 ||
	fail "no ping to the host"

# feature NAME: its state on hn0 as ethtool -k says it.
feature() {
	ip netns exec "$GNS" ethtool -k hn0 | awk -v f="$1:" '$1 == f { print $2 }'
}
[ "$(feature tx-checksumming)" = on ] && [ "$(feature tcp-segmentation-offload)" = on ] ||
	fail "offloads not on at hn0: $(ip netns exec "$GNS" ethtool -k hn0)"
# The kernel builds no GSO frame above the host's LSO limit (62780).
ip -n "$GNS" -d link show dev hn0 | grep -q 'gso_max_size 62780 ' ||
	fail "hn0's GSO limit: $(ip -n "$GNS" -d link show dev hn0)"

iperf_serve "$HNS" 5298

# iperf_once ADDR WHAT ARGS...: one run from the guest (-R: host to
# guest), its counters checked (iperf_check.py). TCP in flight when the
# receiver stopped counting: a few MiB even with -n; host to guest with
# RSC, what the host's TAP queue holds too: up to its 1000 frames of
# 64 KiB, and the 16 MiB receive buffer: 96 MiB. UDP with socket
# buffers of 4 MiB: a receiver late on a loaded machine overflows the
# default.
iperf_once() {
	local addr=$1 what=$2 out=$T/iperf.json slack=$((16 << 20))
	shift 2
	case " $* " in *" -R "*) slack=$((96 << 20)) ;; esac
	timeout 30 ip netns exec "$GNS" iperf3 -c "$addr" -p 5298 -t 2 \
		--json "$@" >"$out" 2>&1 || fail "iperf3 $what: $(cat "$out")"
	python3 "$(dirname "$0")/iperf_check.py" "$out" "$what" "$slack"
}

# iperf ADDR WHAT ARGS...: iperf_once; a UDP run gets two more tries
# (on a machine whose CPUs others load, a reader of a TAP, the guest's
# or the host's, falls behind a burst now and then and the kernel drops
# at the TAP's queue: a TAP has no flow control. The failure shows the
# TAPs' TX drops).
iperf() {
	iperf_once "$@" && return
	case " $* " in
	*" -u "*)
		for try in 2 3; do
			echo "try $try:"
			iperf_once "$@" && return
		done ;;
	esac
	fail "iperf3 $2: $(cat "$T/iperf.json")
$(ip -n "$HNS" -s link show dev hvport0; ip -n "$GNS" -s link show dev hn0)
$(ctl channels --wide)"
}

runs() {
	iperf 10.98.0.1 "TCP guest->host ($1)"
	iperf 10.98.0.1 "TCP host->guest ($1)" -R
	iperf 10.98.0.1 "UDP guest->host ($1)" -u -b 100M -w 4M
	iperf 10.98.0.1 "UDP host->guest ($1)" -u -b 100M -w 4M -R
}

runs "TSO on"
iperf 2001:db8:98::1 "TCP/IPv6 guest->host (TSO on)"

# 32 MiB each way over TCP with TSO on, byte for byte.
head -c 32M /dev/urandom >"$T/blob"
nc_copy "$GNS" "$HNS" 10.98.0.1
nc_copy "$HNS" "$GNS" 10.98.0.2

ctl channels --wide >"$T/channels"
grep -q 'tx_lso=[1-9]' "$T/channels" ||
	fail "no LSO send reached the host: $(cat "$T/channels")"
grep -q 'rx_csum_bad=0' "$T/channels" && grep -q 'refused=0' "$T/channels" ||
	fail "offloads refused: $(cat "$T/channels")"

# TSO off, checksum offload on: the host merges the guest's MSS-sized
# segments into GSO frames (tx_gro); the 32 MiB guest to host byte for
# byte through them, and a TCP run.
ip netns exec "$GNS" ethtool -K hn0 tso off || fail "ethtool -K hn0 tso off"
nc_copy "$GNS" "$HNS" 10.98.0.1
iperf 10.98.0.1 "TCP guest->host (TSO off, merged)"
ctl channels --wide >"$T/channels"
grep -q 'tx_gro=[1-9]' "$T/channels" ||
	fail "the host merged no segment: $(cat "$T/channels")"
# and over IPv6
gro4=$(net_ctr tx_gro "$T/channels")
iperf 2001:db8:98::1 "TCP/IPv6 guest->host (TSO off, merged)"
ctl channels --wide >"$T/channels6"
[ "$(net_ctr tx_gro "$T/channels6")" -gt "$gro4" ] ||
	fail "the host merged no IPv6 segment: $(cat "$T/channels6")"

ip netns exec "$GNS" ethtool -K hn0 tso off tx off ||
	fail "ethtool -K hn0 tso off tx off"
[ "$(feature tcp-segmentation-offload)" = off ] || fail "TSO still on"
runs "TSO off"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
grep -q 'tx_lso=[1-9]' "$GUEST_LOG" || fail "the guest counted no LSO send"
# netvsc's worker sends what TCP queued while it took the host's packets
grep -q ' [1-9][0-9]* frames sent by the worker' "$GUEST_LOG" ||
	fail "the guest's worker sent no frame: $(grep 'frames read in' "$GUEST_LOG")"
echo "ok"
