#!/usr/bin/env bash
# netvsp end to end with a scripted guest (net_guest.c): hvis-host makes
# TAP device NAME for its NIC; the test moves it into a network namespace
# of its own with 10.99.0.1/24, and the guest's ARP and ICMP requests
# there must be answered by that namespace's kernel through the NIC.
# Needs root, /dev/net/tun and iproute2: skipped otherwise.
# Usage: net-tap.sh HOST GUEST CTL NET_GUEST [HOST_OPTION...]
source "$(dirname "$0")/lib.sh"
need_net ip
NET_GUEST=$4
TAP=hvt$$
NS=hvis-net-$$
MAC=00:15:5d:aa:bb:01
trap 'ip netns del "$NS" 2>/dev/null; cleanup' EXIT

start_host --test-devices 0 --services none --nic "tap=$TAP,mac=$MAC,queues=2" \
	"${@:5}"
ip netns add "$NS" || fail "ip netns add"
ip link set "$TAP" netns "$NS" || fail "moving $TAP"
ip -n "$NS" addr add 10.99.0.1/24 dev "$TAP" || fail "address"
ip -n "$NS" link set "$TAP" up || fail "link up"
ip -n "$NS" link set lo up

# Twice: the second guest finds the NIC as new (the first one's buffers
# let go when its channel closed).
for run in 1 2; do
	"$NET_GUEST" "$T/vmbus.sock" "$T/ctl.sock" "$MAC" "$TAP" \
		2>"$T/guest$run.log"
	rc=$?
	cat "$T/guest$run.log"
	[ "$rc" -eq 0 ] || fail "net_guest run $run exited $rc"
	wait_until 10 sh -c "! \"$CTL_BIN\" --dir \"$T\" vm show |
		grep -q 'Running'" || fail "host still sees guest $run"
done
ctl channels || fail "hvis-ctl channels"
# net_guest tears its send buffer down ahead of the revoke: the host
# must have let the teardown wait for netvsp, once per run
[ "$(grep -c 'teardown waits for its device' "$HOST_LOG")" -ge 2 ] ||
	fail "no send-buffer teardown waited for netvsp to let go"
kill -0 "$HOST_PID" 2>/dev/null || fail "host died"
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" \
	"$T"/guest[12].log && fail "sanitizer report"
echo "ok"
