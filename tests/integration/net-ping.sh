#!/usr/bin/env bash
# netvsc end to end against a scripted host (evil_host net: NVSP and
# RNDIS by the book through core/net's host engines, ARP and ICMP echo
# answered in C): a real hvis-guest --netns NS makes hn0 there with the
# host's MAC and MTU, up, carrier on; hn0 gets 10.98.0.2/24 and pings
# 10.98.0.1, whose answers come back as transfer-page packets, 3 times
# and then 400 times with full-size frames. Without
# --netns the guest makes no TAP, says so in one line and sends nothing.
# A host sending bad transfer pages, PACKETs, control answers, NVSP
# messages and completions has each refused and counted. A host offering
# RSC that sends malformed sequences of coalesced pieces has each
# dropped whole and counted once, and a good coalesced TCP segment of
# 3000 bytes reaches hn0's kernel as one (its RST acknowledges all). A host that
# never completes a send gets one frame per send section, and the guest
# neither spins nor hangs.
# Needs root, /dev/net/tun, iproute2 and ping: skipped otherwise.
# Usage: net-ping.sh HOST GUEST CTL EVIL_HOST
source "$(dirname "$0")/lib.sh"
need_net ip ping
EVIL_HOST=$4
SOCK=$T/net.sock
EVIL_LOG=$T/evil.log
EVIL_PID=
NS=hvis-net$$
trap 'ip netns del "$NS" 2>/dev/null; cleanup' EXIT

fail_evil() { echo "--- scripted host log"; cat "$EVIL_LOG"; fail "$@"; }

no_sanitizer() {
	grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$GUEST_LOG" "$EVIL_LOG" \
		&& fail_evil "sanitizer report"
	return 0
}

# run SCENARIO GUEST-OPTIONS...: the scripted host, then the guest.
run() {
	: >"$EVIL_LOG"; : >"$GUEST_LOG"
	rm -f "$SOCK"
	"$EVIL_HOST" "$SOCK" "$1" 2>"$EVIL_LOG" &
	EVIL_PID=$!
	_pids+=("$EVIL_PID")
	shift
	wait_until 5 test -S "$SOCK" || fail_evil "scripted host did not start"
	start_guest --vmbus "$SOCK" --memory 64 --no-services --nbd none "$@"
}

# finish [TALLY]: the guest stops cleanly, the host is content, and the
# guest's closing tally ends in TALLY (default: nothing refused).
finish() {
	stop_proc "$GUEST_PID" guest
	wait "$EVIL_PID" || fail_evil "scripted host failed"
	cat "$EVIL_LOG"
	log_has "$GUEST_LOG" "${1:-bad completions 0; refused from host: none}\$" \
		|| fail_evil "tally: $(grep 'refused from host' "$GUEST_LOG")"
	grep 'relid 1: sent' "$GUEST_LOG"
	no_sanitizer
}

# --- --netns: hn0 there, and ping through it
ip netns add "$NS" || fail "ip netns add $NS"
run net --netns "$NS"
wait_until 15 log_has "$GUEST_LOG" "hn0 in network namespace $NS" \
	|| fail_evil "no hn0 in $NS"
link=$(ip -n "$NS" link show hn0)
grep -q 'link/ether 00:15:5d:62:00:02' <<<"$link" \
	|| fail_evil "hn0 without the host's MAC: $link"
grep -q 'UP,LOWER_UP> mtu 1500 ' <<<"$link" \
	|| fail_evil "hn0 not up, carrier on, MTU 1500: $link"
ip -n "$NS" addr add 10.98.0.2/24 dev hn0 || fail_evil "address"
ip netns exec "$NS" ping -c 3 -W 2 10.98.0.1 || fail_evil "ping failed"
# Full-size frames (1514 bytes), more of them than the 170 send sections:
# each section comes back with its completion and is used again.
out=$(ip netns exec "$NS" ping -q -c 400 -i 0.002 -s 1472 -W 2 10.98.0.1) \
	|| fail_evil "ping of full frames failed: $out"
grep -q ' 400 received' <<<"$out" || fail_evil "full frames lost: $out"
finish

# --- RSC: nine malformed sequences of coalesced pieces (evil_host.c's
# net_rsc_hostile), none written half, each counted once; then a good
# 3000-byte TCP segment in 3 pieces, which the guest's kernel takes as
# one and answers with an RST acknowledging all of it (the scripted
# host checks)
run net-rsc --netns "$NS"
wait_until 15 log_has "$GUEST_LOG" "hn0 in network namespace $NS" \
	|| fail_evil "net-rsc: no hn0 in $NS"
log_has "$GUEST_LOG" "RSC 1" || fail_evil "net-rsc: RSC not agreed"
ip -n "$NS" addr add 10.98.0.2/24 dev hn0 || fail_evil "address"
wait_until 10 ip netns exec "$NS" ping -c 1 -W 1 10.98.0.1 ||
	fail_evil "net-rsc: ping failed"
wait_until 10 log_has "$EVIL_LOG" "RST acknowledging 3000 coalesced bytes" \
	|| fail_evil "net-rsc: no RST for the coalesced segment"
finish
log_has "$GUEST_LOG" "rx_rsc=1 rx_rsc_bad=9" ||
	fail_evil "net-rsc: $(grep rx_rsc "$GUEST_LOG")"

# --- a host that never completes a data send: the guest fills every
# send section (a frame each or a few packed in one; the host counts
# the sections), then leaves the TAP alone without spinning, and still
# stops at once
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
run net-stall --netns "$NS"
wait_until 15 log_has "$GUEST_LOG" "hn0 in network namespace $NS" \
	|| fail_evil "net-stall: no hn0 in $NS"
ip -n "$NS" addr add 10.98.0.2/24 dev hn0 || fail_evil "address"
ip -n "$NS" neigh add 10.98.0.1 lladdr 02:00:5e:62:00:01 dev hn0 \
	|| fail_evil "neighbour"
ip netns exec "$NS" ping -q -c 300 -i 0.002 -W 1 10.98.0.1 >/dev/null
t0=$(cpu_ticks "$GUEST_PID")
sleep 1
spent=$(($(cpu_ticks "$GUEST_PID") - t0))
echo "net-stall: guest used $spent ticks of CPU in 1 s with every section out"
[ "$spent" -lt 30 ] || fail_evil "net-stall: the guest spins ($spent ticks)"
t0=$(date +%s%N)
finish
ms=$((($(date +%s%N) - t0) / 1000000))
echo "net-stall: guest stopped in $ms ms"
[ "$ms" -lt 1500 ] || fail_evil "net-stall: stop took $ms ms"
log_has "$GUEST_LOG" "sent [0-9]* frames in 170 messages (0 dropped), received 0 (0 dropped)" \
	|| fail_evil "net-stall: $(grep 'relid 1: sent' "$GUEST_LOG")"
ip -n "$NS" -o link show hn0 2>/dev/null && fail_evil "hn0 left behind"

# --- no --netns: no TAP anywhere, one line says so, no frame sent
links=$(ip -o link | wc -l)
run net-idle
wait_until 15 log_has "$GUEST_LOG" "no --netns: no TAP device made" \
	|| fail_evil "no word of the TAP not made"
sleep 0.5
[ "$(ip -o link | wc -l)" -eq "$links" ] || fail_evil "an interface appeared"
[ "$(ip -n "$NS" -o link | wc -l)" -eq 1 ] || fail_evil "hn0 left behind in $NS"
finish

# --- a host sending what none should: each refused and counted, every
# transfer-page packet completed all the same (the host checks), and the
# guest goes on
run net-bad
wait_until 15 log_has "$EVIL_LOG" "hostile packets sent" \
	|| fail_evil "net-bad: the scripted host did not get there"
sleep 0.5
kill -0 "$GUEST_PID" 2>/dev/null || fail_evil "net-bad: guest died"
finish "received 0 (1 dropped), bad completions 1; refused from host: message-type 1 page-set 1 range 2 rndis-unknown-id 1 packet-msg-len 1"
echo "ok"
