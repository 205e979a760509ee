#!/usr/bin/env bash
# The synthetic network adapter end to end, both halves real: hvis-host
# --nic makes its TAP (the switch port) in a namespace of its own, a real
# hvis-guest --netns makes hn0 in another; the host side gets 10.97.0.1
# and 2001:db8:97::1, the guest 10.97.0.2 and 2001:db8:97::2. Pings both
# ways, IPv4 and IPv6, small, MTU-sized (1472 bytes of ICMP data: a
# 1514-byte frame) and fragmented (4000 bytes), none lost; then a 16 MiB
# file through TCP (nc) from guest to host arrives with the same sha256.
# Needs root, /dev/net/tun, iproute2, ping and nc: skipped otherwise.
# Usage: net-e2e.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
net_pair e2e 97 ping nc sha256sum

# ping_ok NS ADDR SIZE: 5 echoes, none lost.
ping_ok() {
	ip netns exec "$1" ping -c 5 -i 0.2 -W 2 -s "$3" "$2" >"$T/ping" 2>&1 ||
		fail "ping $2 -s $3 from $1: $(cat "$T/ping")"
	grep -q ' 0% packet loss' "$T/ping" || fail "ping $2 -s $3: $(cat "$T/ping")"
}
for size in 56 1472 4000; do
	ping_ok "$GNS" 10.97.0.1 "$size"
	ping_ok "$HNS" 10.97.0.2 "$size"
done
ping_ok "$GNS" 2001:db8:97::1 56
ping_ok "$HNS" 2001:db8:97::2 1452

# A frame longer than a receive slot (the switch port's MTU raised past
# the guest's): dropped and counted, never handed on cut short.
ip -n "$HNS" link set hvport0 mtu 2000 || fail "mtu 2000"
ip netns exec "$HNS" ping -c 1 -W 1 -M do -s 1800 10.97.0.2 >/dev/null 2>&1 &&
	fail "an 1842-byte frame reached the guest"
ctl channels --wide | grep -q 'rx_long=[1-9]' ||
	fail "long frame not counted: $(ctl channels --wide)"
ip -n "$HNS" link set hvport0 mtu 1500 || fail "mtu 1500"
ping_ok "$HNS" 10.97.0.2 1472

# 16 MiB over TCP, guest to host, byte for byte.
head -c 16M /dev/urandom >"$T/blob"
nc_copy "$GNS" "$HNS" 10.97.0.1 9797

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
echo "ok"
