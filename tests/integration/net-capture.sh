#!/usr/bin/env bash
# hvis-ctl nic capture against a real netvsp and netvsc with 2 channels
# (hvis-host --nic ...,queues=2, hvis-guest --net-queues 2), each end in
# a network namespace of its own: a FIFO as the file is refused at once
# and the host keeps answering; a file another user owns (planted) and
# a symbolic link are refused and left as they were; a new file gets
# mode 0600; TCP flows both ways over both channels give a pcap whose
# times never go back (the channels' buffers merged in time order) and
# holds as many frames as the host says it wrote; a capture started
# right after another under traffic holds nothing stamped before it
# began; --seconds beyond a year is refused, --seconds 1 ends by itself.
# Needs root, /dev/net/tun, iproute2, ping, nc, ss, python3.
# Usage: net-capture.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
NET_NIC_OPTS=,queues=2 NET_GUEST_OPTS="--nbd none --net-queues 2" \
	net_pair cap 94 ping nc ss python3
HIP=10.94.0.1
GIP=10.94.0.2
wait_until 20 log_has "$GUEST_LOG" "hn0 in network namespace $GNS, MTU 1500, 2 queues" ||
	fail "no hn0 with 2 queues"
wait_until 10 ip netns exec "$GNS" ping -c 1 -W 1 "$HIP" || fail "no ping"

# refused WHY WORDS...: hvis-ctl fails (exit 1 or 2) at once with one
# line on stderr holding WHY (any case), and the host answers within a
# second after.
refused() {
	local why=$1 rc
	shift
	timeout 5 "$CTL_BIN" --dir "$T" "$@" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] ||
		fail "'$*' exited $rc: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] && grep -qi -- "$why" "$T/err" ||
		fail "'$*' said: $(cat "$T/err")"
	timeout 1 "$CTL_BIN" --dir "$T" nic list >/dev/null ||
		fail "the host does not answer after '$*'"
}

# ---- files that are refused, and left as they were
mkfifo "$T/fifo" || fail mkfifo
refused "not a regular file" nic capture hvport0 "$T/fifo"
echo planted >"$T/planted" && chown nobody "$T/planted" || fail "chown"
refused "owned by uid $(id -u nobody), not by uid 0" nic capture hvport0 "$T/planted"
[ "$(cat "$T/planted")" = planted ] || fail "the planted file was written"
echo mine >"$T/target" && ln -s "$T/target" "$T/link" || fail "ln"
refused "a symbolic link, which is not followed" nic capture hvport0 "$T/link"
[ "$(cat "$T/target")" = mine ] || fail "the link's target was written"
refused "seconds" nic capture hvport0 "$T/long.pcap" --seconds 31536001
refused "seconds" nic capture hvport0 "$T/long.pcap" --seconds 18446744073709551615

# ---- --seconds 1: ends by itself; the file new, mode 0600
ctl nic capture hvport0 "$T/one.pcap" --seconds 1 >/dev/null || fail "--seconds 1"
[ "$(stat -c %a "$T/one.pcap")" = 600 ] ||
	fail "a new capture file has mode $(stat -c %a "$T/one.pcap")"
wait_until 5 sh -c "\"$CTL_BIN\" --dir \"$T\" nic list | grep -q ' -\$'" ||
	fail "capture --seconds 1 did not end: $(ctl nic list)"

# frames Q: the host's frames both ways on the open channel of queue Q.
frames() {
	ctl channels --wide | awk -v q="queue=$1" '$5 == "open" {
		hit = 0; s = 0
		for (i = 1; i <= NF; i++) {
			if ($i == q) hit = 1
			if ($i ~ /^(tx|rx)_frames=/) s += substr($i, index($i, "=") + 1)
		}
		if (hit) print s }'
}
# flows: TCP both ways, 8 flows each way at once (their source ports
# spread them over both channels), 1 MB each.
flows() {
	local i pids=()
	for i in 1 2 3 4 5 6 7 8; do
		ip netns exec "$GNS" nc -l $((9400 + i)) >/dev/null &
		_pids+=($!) && pids+=($!)
		ip netns exec "$HNS" nc -l $((9500 + i)) >/dev/null &
		_pids+=($!) && pids+=($!)
	done
	wait_until 5 sh -c "[ \$(ip netns exec $GNS ss -ltn | grep -c ':94') -eq 8 ] &&
		[ \$(ip netns exec $HNS ss -ltn | grep -c ':95') -eq 8 ]" ||
		fail "nc did not listen"
	for i in 1 2 3 4 5 6 7 8; do
		head -c 1000000 /dev/zero | timeout 20 ip netns exec "$HNS" \
			nc -N "$GIP" $((9400 + i)) &
		head -c 1000000 /dev/zero | timeout 20 ip netns exec "$GNS" \
			nc -N "$HIP" $((9500 + i)) &
	done
	wait "${pids[@]}"
}

# pcap_check FILE STOP_REPLY NOT_BEFORE MIN: FILE is a pcap of as many
# frames as the reply of --stop says were written, at least MIN, its
# times never going back and none before NOT_BEFORE (µs since 1970).
pcap_check() {
	local written
	written=$(grep -o '[0-9]* frames written' "$2" | cut -d' ' -f1)
	python3 - "$1" "$written" "$3" "$4" <<'PY' || fail "pcap $1: see above"
import struct, sys
data = open(sys.argv[1], "rb").read()
magic, = struct.unpack_from("<I", data)
assert magic == 0xa1b2c3d4, hex(magic)
off, last, n, back, first = 24, 0, 0, 0, None
while off < len(data):
    sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
    t = sec * 1000000 + usec
    first = t if first is None else first
    if t < last:
        back += 1
        if back <= 5:
            print(f"frame {n}: {t} after {last}")
    last = max(last, t)
    off += 16 + incl
    n += 1
print(f"{sys.argv[1]}: {n} frames, {back} going back in time, "
      f"the first {first - int(sys.argv[3])} us after the start")
assert off == len(data) and n == int(sys.argv[2]) and back == 0
assert n >= int(sys.argv[4])
assert first >= int(sys.argv[3])
PY
}
now_us() { date +%s%6N; }

# ---- both channels at once: the pcap in time order
b0=$(frames 0) b1=$(frames 1)
t0=$(now_us)
ctl nic capture hvport0 "$T/both.pcap" >/dev/null || fail "capture"
flows
ctl nic capture hvport0 --stop >"$T/stop" || fail "capture stop"
a0=$(frames 0) a1=$(frames 1)
echo "frames during the capture: channel 0 $((a0 - b0)), channel 1 $((a1 - b1))"
[ $((a0 - b0)) -gt 100 ] && [ $((a1 - b1)) -gt 100 ] ||
	fail "the flows did not use both channels: $(ctl channels --wide)"
pcap_check "$T/both.pcap" "$T/stop" "$t0" 200

# ---- a capture stopped and the next started under traffic: nothing of
# the first (stamped before the second began) in the second's file
ip netns exec "$GNS" ping -q -i 0.001 -w 2 "$HIP" >/dev/null &
P1=$!
ip netns exec "$HNS" ping -q -i 0.001 -w 2 "$GIP" >/dev/null &
P2=$!
_pids+=("$P1" "$P2")
ctl nic capture hvport0 "$T/a.pcap" >/dev/null || fail "capture a"
sleep 0.3
ctl nic capture hvport0 --stop >/dev/null || fail "capture a stop"
t1=$(now_us)
ctl nic capture hvport0 "$T/b.pcap" >/dev/null || fail "capture b"
sleep 0.3
ctl nic capture hvport0 --stop >"$T/stop" || fail "capture b stop"
wait "$P1" "$P2"
pcap_check "$T/b.pcap" "$T/stop" "$t1" 100

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
echo "ok"
