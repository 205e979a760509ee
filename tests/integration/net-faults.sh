#!/usr/bin/env bash
# The network adapter's faults, netvsp and netvsc both real, each end in
# a network namespace (host TAP hvport0 10.95.0.1, guest hn0 10.95.0.2):
# - the link down and up under ping and iperf3: the guest's carrier
#   follows, TCP survives, the pings resume;
# - a hot-added NIC (hvport1, hn1) hot-removed under iperf3: hn1 goes,
#   hvis-guest stays up, hn0 and the heartbeat service keep working;
# - the guest killed (SIGKILL) mid-transfer: the host closes the
#   channel and lets go of every GPADL mapping (vm show: none held), and
#   a new guest attaches and passes traffic.
# Needs root, /dev/net/tun, iproute2, ping, iperf3.
# Usage: net-faults.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
need_net ip ping iperf3 python3
HNS=hvis-nflt-h$$
GNS=hvis-nflt-g$$
trap 'ip netns del "$HNS" 2>/dev/null; ip netns del "$GNS" 2>/dev/null; cleanup' EXIT
ip netns add "$HNS" && ip netns add "$GNS" || fail "ip netns add"
gns() { ip netns exec "$GNS" "$@"; }

ip netns exec "$HNS" "$HOST_BIN" --dir "$T" --test-devices 0 \
	--services heartbeat --heartbeat-ms 200 --nic tap=hvport0 \
	2>>"$HOST_LOG" &
HOST_PID=$!
_pids+=("$HOST_PID")
wait_until 10 test -S "$T/ctl.sock" || fail "host did not start"
ip -n "$HNS" addr add 10.95.0.1/24 dev hvport0 &&
	ip -n "$HNS" link set hvport0 up || fail "host address"

# guest_up: a guest whose hn0 has its address and reaches the host.
guest_up() {
	start_guest --traffic none --netns "$GNS"
	wait_until 10 ip -n "$GNS" link show dev hn0 || fail "no hn0"
	ip -n "$GNS" addr add 10.95.0.2/24 dev hn0 || fail "guest address"
	wait_until 10 gns ping -c 1 -W 1 10.95.0.1 || fail "no ping"
}
# iperf_to ADDR PORT SECONDS OUT: a one-off iperf3 server in the host's
# namespace and a client from the guest's, in the background ($IPERF).
iperf_to() {
	ip netns exec "$HNS" iperf3 -s -1 -B "$1" -p "$2" >/dev/null 2>&1 &
	_pids+=("$!")
	wait_until 5 sh -c "ip netns exec $HNS ss -ltn | grep -q ':$2 '" ||
		fail "iperf3 did not listen"
	# ip execs iperf3: $! is the client itself, which kill must reach
	# (a shell function's subshell would die and leave it running)
	ip netns exec "$GNS" iperf3 -c "$1" -p "$2" -t "$3" \
		--connect-timeout 3000 >"$4" 2>&1 &
	IPERF=$!
	_pids+=("$IPERF")
}
carrier() { ! ip -n "$GNS" link show "$1" | grep -q NO-CARRIER; }
no_carrier() { ! carrier "$1"; }
# none_held: the host maps none of the guest's GPADLs.
none_held() {
	[ "$(ctl vm show --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["guest_mappings"]["held"])')" = 0 ]
}
guest_up

# ---- link down for 2 s under ping and iperf3
ip netns exec "$GNS" ping -i 0.2 -c 60 -W 1 10.95.0.1 >"$T/ping" 2>&1 &
PING=$!
_pids+=("$PING")
iperf_to 10.95.0.1 5301 10 "$T/iperf1"
sleep 2
ctl nic link hvport0 down >/dev/null || fail "link down"
wait_until 5 no_carrier hn0 ||
	fail "hn0 kept its carrier"
sleep 2
ctl nic link hvport0 up >/dev/null || fail "link up"
wait_until 5 carrier hn0 || fail "no carrier after link up"
wait "$IPERF" || fail "iperf3 across the link flap: $(cat "$T/iperf1")"
grep -q receiver "$T/iperf1" || fail "iperf3: $(cat "$T/iperf1")"
wait "$PING"
# No loss is asked for: whether the kernel drops what hn0 gets while it
# has no carrier or sends it once it is back depends on when its link
# watch runs (0 of 60 lost in some runs, 10 in others).
grep -Eq 'icmp_seq=(5[5-9]|60) ' "$T/ping" ||
	fail "pings did not resume: $(tail -5 "$T/ping")"

# ---- hot remove of a second NIC under iperf3
ip netns exec "$HNS" "$CTL_BIN" --dir "$T" nic add tap=hvport1 >/dev/null ||
	fail "nic add"
wait_until 10 ip -n "$GNS" link show dev hn1 || fail "no hn1"
ip -n "$HNS" addr add 10.96.0.1/24 dev hvport1 &&
	ip -n "$HNS" link set hvport1 up &&
	ip -n "$GNS" addr add 10.96.0.2/24 dev hn1 || fail "hn1 addresses"
wait_until 10 gns ping -c 1 -W 1 10.96.0.1 || fail "no ping over hn1"
iperf_to 10.96.0.1 5302 30 "$T/iperf2"
sleep 2
ctl nic remove hvport1 >/dev/null || fail "nic remove"
wait_until 10 sh -c "! ip -n $GNS link show dev hn1" || fail "hn1 stayed"
wait_until 10 sh -c "! ip -n $HNS link show dev hvport1" ||
	fail "the host kept hvport1"
kill "$IPERF" 2>/dev/null
kill -0 "$GUEST_PID" || fail "the guest died with its NIC"
log_has "$GUEST_LOG" ": adapter rescinded" || fail "no rescind in the guest"
gns ping -c 2 -i 0.3 -W 2 10.95.0.1 >/dev/null || fail "hn0 broke"
wait_until 5 ctl vm services || fail "services: $(ctl vm services)"

# ---- the guest killed mid-transfer
iperf_to 10.95.0.1 5303 20 "$T/iperf3"
sleep 2
kill -KILL "$GUEST_PID"
wait "$GUEST_PID" 2>/dev/null
kill "$IPERF" 2>/dev/null
wait_until 10 sh -c "! $CTL_BIN --dir $T vm show | grep -q '^State: *Running'" ||
	fail "the host did not see the guest go"
wait_until 10 none_held ||
	fail "GPADL mappings still held: $(ctl vm show)"
[ "$(open_channels)" -eq 0 ] || fail "channels open: $(ctl channels)"
ctl nic list | grep -Eq '^hvport0 .* offered ' || fail "nic: $(ctl nic list)"
guest_up
iperf_to 10.95.0.1 5304 2 "$T/iperf4"
wait "$IPERF" || fail "iperf3 with the new guest: $(cat "$T/iperf4")"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
echo "ok"
