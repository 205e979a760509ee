#!/usr/bin/env bash
# vRSS end to end, both halves real: hvis-host --nic ...,queues=3 offers
# the primary and 2 sub-channels (a TAP queue each), hvis-guest
# --net-queues 3 asks for both, sets RSS and makes hn0 with 3 queues.
# TCP flows from the host's namespace to the guest, one per channel
# (source ports picked by rss_index, the Toeplitz hash netvsp must
# compute), each of a size of its own: every channel's rx_bytes in
# `hvis-ctl channels` grows by its flow and no other. Then the guest
# again with --net-rss-table @FILE, FILE saying 2 (all entries to channel
# 2): flows that the default table puts on channels 0 and 1 all arrive
# on channel 2. Then FILE says 0 and the running guest gets SIGHUP:
# flows of channels 1 and 2 arrive on channel 0.
# Needs root, /dev/net/tun, iproute2, ping and nc: skipped otherwise.
# Usage: net-multichannel.sh HOST GUEST CTL RSS_INDEX
source "$(dirname "$0")/lib.sh"
need_net ip ping nc ss
RSS_INDEX=$4
HNS=hvis-mc-h$$
GNS=hvis-mc-g$$
HIP=10.95.0.1
GIP=10.95.0.2
PORT=9595
KB=1024
SLACK=$((150 * KB))   # frames of no flow (ARP, ND, handshakes) at most
trap 'ip netns del "$HNS" 2>/dev/null; ip netns del "$GNS" 2>/dev/null; cleanup' EXIT
ip netns add "$HNS" && ip netns add "$GNS" || fail "ip netns add"

ip netns exec "$HNS" "$HOST_BIN" --dir "$T" --test-devices 0 \
	--services none --nic tap=hvmc0,queues=3 2>>"$HOST_LOG" &
HOST_PID=$!
_pids+=("$HOST_PID")
wait_until 10 test -S "$T/ctl.sock" || fail "host did not start"
ip -n "$HNS" addr add "$HIP/24" dev hvmc0 && ip -n "$HNS" link set hvmc0 up &&
	ip -n "$HNS" link set lo up || fail "host side addresses"

# guest_up OPTION...: a guest with 3 channels and RSS, hn0 addressed.
guest_up() {
	: >"$GUEST_LOG"
	start_guest --no-services --nbd none --netns "$GNS" --net-queues 3 "$@"
	wait_until 20 log_has "$GUEST_LOG" "hn0 in network namespace $GNS, MTU 1500, 3 queues" ||
		fail "no hn0 with 3 queues"
	log_has "$GUEST_LOG" "3 channels (RSS)" || fail "RSS not over 3 channels"
	wait_until 5 log_has "$GUEST_LOG" "send indirection table taken (3 channels)" ||
		fail "no send indirection table from the host"
	ip -n "$GNS" addr add "$GIP/24" dev hn0 && ip -n "$GNS" link set lo up ||
		fail "guest addresses"
	wait_until 10 ip netns exec "$HNS" ping -c 1 -W 1 "$GIP" ||
		fail "guest not reachable"
	ctl channels --wide | grep 'tap=hvmc0' | grep -q 'rss=on' ||
		fail "host: RSS not on: $(ctl channels --wide)"
}

# rx_bytes Q: the host's bytes to the guest on the open channel of queue Q.
rx_bytes() {
	ctl channels --wide | awk -v q="queue=$1" '$5 == "open" {
		hit = 0; v = ""
		for (i = 1; i <= NF; i++) {
			if ($i == q) hit = 1
			if ($i ~ /^rx_bytes=/) v = substr($i, 10)
		}
		if (hit) print v }'
}
snapshot() { echo "$(rx_bytes 0) $(rx_bytes 1) $(rx_bytes 2)"; }

# ports_for CH...: into SPORTS a source port per channel named, whose
# flow to GIP:PORT hashes (rss_index) to an entry the default table
# (entry i to channel i mod 3) gives that channel; from FIRST up, each
# used once (a port in TIME_WAIT is not bound again).
FIRST=40000
ports_for() {
	local want sport idx
	SPORTS=()
	for want in "$@"; do
		while read -r sport idx; do
			FIRST=$((sport + 1))
			[ $((idx % 3)) -eq "$want" ] && { SPORTS+=("$sport"); break; }
		done < <("$RSS_INDEX" "$HIP" "$GIP" "$PORT" $(seq "$FIRST" $((FIRST + 199))))
	done
	[ "${#SPORTS[@]}" -eq $# ] || fail "no source ports for channels $*"
}

# flow SPORT BYTES: that many bytes over TCP from HIP:SPORT to GIP:PORT.
flow() {
	ip netns exec "$GNS" nc -l "$PORT" >/dev/null &
	local nc=$!
	_pids+=("$nc")
	wait_until 5 sh -c "ip netns exec $GNS ss -ltn | grep -q ':$PORT '" ||
		fail "nc did not listen"
	head -c "$2" /dev/zero |
		timeout 20 ip netns exec "$HNS" nc -N -p "$1" "$GIP" "$PORT" ||
		fail "flow from port $1"
	wait "$nc"
}

# check_delta Q BEFORE AFTER MIN: Q's growth is MIN to MIN + SLACK.
check_delta() {
	local d=$(($3 - $2))
	echo "channel $1: +$d bytes (want $4 to $(($4 + SLACK)))"
	[ "$d" -ge "$4" ] && [ "$d" -lt $(($4 + SLACK)) ] ||
		fail "channel $1 got $d bytes, want $4 (+ up to $SLACK): $(ctl channels --wide)"
}

# moved_to Q CH...: 200 KiB flows from ports the default table gives
# channels CH..., all arriving on channel Q, none on the others.
moved_to() {
	local q=$1 s c
	shift
	ports_for "$@"
	echo "flows from ports ${SPORTS[*]} (default channels $*) to channel $q"
	read -r -a before <<<"$(snapshot)"
	for s in "${SPORTS[@]}"; do
		flow "$s" $((200 * KB))
	done
	read -r -a after <<<"$(snapshot)"
	for c in 0 1 2; do
		check_delta "$c" "${before[$c]}" "${after[$c]}" \
			$((c == q ? $# * 200 * KB : 0))
	done
}

# --- the default table: a flow per channel, 300, 600 and 900 KiB
guest_up
ports_for 0 1 2
echo "flows from ports ${SPORTS[*]} to channels 0 1 2"
read -r -a before <<<"$(snapshot)"
for q in 0 1 2; do
	flow "${SPORTS[$q]}" $(((q + 1) * 300 * KB))
done
read -r -a after <<<"$(snapshot)"
for q in 0 1 2; do
	check_delta "$q" "${before[$q]}" "${after[$q]}" $(((q + 1) * 300 * KB))
done
ctl channels --wide | grep 'tap=hvmc0' | grep -Ev ' refused=0( |$)' &&
	fail "host refused something"
stop_proc "$GUEST_PID" guest
log_has "$GUEST_LOG" "bad completions 0; refused from host: none$" ||
	fail "guest's tally: $(grep 'refused from host' "$GUEST_LOG")"
for q in 1 2; do
	log_has "$GUEST_LOG" "(queue $q): sent [0-9]* frames in [0-9]* messages (0 dropped), received [1-9][0-9]* (0 dropped); refused from host: 0" ||
		fail "guest's queue $q: $(grep "(queue $q)" "$GUEST_LOG")"
done

# --- the table all to channel 2: flows the default table would put on
# channels 0 and 1 arrive there
wait_until 10 sh -c "! \"$CTL_BIN\" --dir \"$T\" vm show | grep -q Running" ||
	fail "host still sees the first guest"
echo 2 >"$T/rss-table"
guest_up --net-rss-table "@$T/rss-table"
wait_until 5 log_has "$GUEST_LOG" "RSS indirection table set" || fail "no table set"
moved_to 2 0 1 0 1

# --- the same guest, its table file now all to channel 0, and SIGHUP
printf '0\n' >"$T/rss-table"
kill -HUP "$GUEST_PID"
wait_until 5 sh -c "[ \$(grep -c 'RSS indirection table set' \"$GUEST_LOG\") -eq 2 ]" ||
	fail "no new table after SIGHUP: $(grep -E 'SIGHUP|RSS' "$GUEST_LOG")"
log_has "$GUEST_LOG" "SIGHUP: RSS table read again from $T/rss-table (1 entries)" ||
	fail "no reload line"
moved_to 0 1 2 1 2
# a file that does not parse: refused, the table kept
echo 'zero' >"$T/rss-table"
kill -HUP "$GUEST_PID"
wait_until 5 log_has "$GUEST_LOG" "SIGHUP: $T/rss-table: want up to 128 channel numbers" ||
	fail "bad file not refused: $(grep SIGHUP "$GUEST_LOG")"
kill -0 "$GUEST_PID" || fail "guest died on a bad table file"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
echo "ok"
