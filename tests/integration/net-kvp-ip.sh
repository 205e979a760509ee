#!/usr/bin/env bash
# KVP's GET/SET_IP_INFO on netvsc's adapter, as Set-VMNetworkConfiguration
# on Hyper-V: hvis-host --nic (its TAP, the switch port, in a namespace of
# its own, the KVP service on), hvis-guest --netns G (hn0 there; no
# --system, no --kvp-scripts: hvis's own helpers, and the adapter is the
# guest's own). `hvis-ctl kvp ip set` for the NIC's MAC puts static IPv4
# and IPv6 addresses, default routes and name servers on hn0 inside G
# (the name servers in G's resolv.conf, /etc/netns/G/resolv.conf); `kvp
# ip get` returns them; the host side pings the address set; a second
# set replaces the first; the KVP auto pool's addresses are hn0's. None
# of it reaches this machine's own namespace (no address or route of the
# test's there, /etc/resolv.conf unchanged; other programs may change
# that namespace meanwhile, so not more).
# Needs root, /dev/net/tun, iproute2 and ping: skipped otherwise.
# Usage: net-kvp-ip.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
need_net ip ping sha256sum
HNS=hvis-kip-h$$
GNS=hvis-kip-g$$
MAC=00:15:5d:61:00:01
trap 'ip netns del "$HNS" 2>/dev/null; ip netns del "$GNS" 2>/dev/null
	rm -rf "/etc/netns/$GNS"; rmdir /etc/netns 2>/dev/null; cleanup' EXIT
ip netns add "$HNS" && ip netns add "$GNS" || fail "ip netns add"
# What must stay out of this machine's own namespace.
resolv=$(sha256sum /etc/resolv.conf 2>/dev/null)
machine_clean() {
	! { ip -o addr show; ip route show; ip -6 route show; } |
		grep -E '10\.96\.0\.|2001:db8:96::' &&
		[ "$(sha256sum /etc/resolv.conf 2>/dev/null)" = "$resolv" ]
}
machine_clean || fail "this machine's namespace already has 10.96.0.0/24 or 2001:db8:96::/64"

ip netns exec "$HNS" "$HOST_BIN" --dir "$T" --test-devices 0 \
	--services kvp --nic "tap=hvport0,mac=$MAC" 2>>"$HOST_LOG" &
HOST_PID=$!
_pids+=("$HOST_PID")
wait_until 10 test -S "$T/ctl.sock" || fail "host did not start"
start_guest --netns "$GNS"
wait_until 10 ip -n "$GNS" link show dev hn0 || fail "no hn0 in the guest's namespace"
ip -n "$HNS" addr add 10.96.0.1/24 dev hvport0 &&
	ip -n "$HNS" addr add 2001:db8:96::1/64 dev hvport0 nodad &&
	ip -n "$HNS" link set hvport0 up && ip -n "$HNS" link set lo up ||
	fail "host side addresses"
# KVP answers once the guest's service is up.
wait_until 15 ctl kvp ip get "$MAC" || fail "kvp ip get: $(ctl kvp ip get "$MAC" 2>&1)"

out=$(ctl kvp ip set "$MAC" --ip 10.96.0.2/24,2001:db8:96::2/64 \
	--gateway 10.96.0.1,2001:db8:96::1 --dns 10.96.0.53,2001:db8:96::53 2>&1) ||
	fail "kvp ip set: $out"
grep -qx "Adapter $MAC: static configuration applied" <<<"$out" || fail "set: $out"
grep -q "ip configuration of $MAC (hn0 in its namespace) applied" "$GUEST_LOG" ||
	fail "guest did not say where it applied it"
a=$(ip -n "$GNS" addr show dev hn0)
grep -q 'inet 10\.96\.0\.2/24 ' <<<"$a" || fail "no IPv4 address on hn0: $a"
grep -q 'inet6 2001:db8:96::2/64 ' <<<"$a" || fail "no IPv6 address on hn0: $a"
ip -n "$GNS" route show default | grep -q 'via 10.96.0.1 dev hn0' ||
	fail "IPv4 default route: $(ip -n "$GNS" route show)"
ip -n "$GNS" -6 route show default | grep -q 'via 2001:db8:96::1 dev hn0' ||
	fail "IPv6 default route: $(ip -n "$GNS" -6 route show)"
# (IPv6 spelt in full, as in the ifcfg file)
[ "$(grep '^nameserver' "/etc/netns/$GNS/resolv.conf" | tr '\n' ' ')" = \
	"nameserver 10.96.0.53 nameserver 2001:0db8:0096:0000:0000:0000:0000:0053 " ] ||
	fail "G's resolv.conf: $(cat "/etc/netns/$GNS/resolv.conf" 2>&1)"

# GET: what the guest's OS has now (the IPv6 one once DAD is over).
ip netns exec "$HNS" ping -c 3 -i 0.2 -W 2 10.96.0.2 >"$T/ping" 2>&1 ||
	fail "host side cannot ping 10.96.0.2: $(cat "$T/ping")"
wait_until 10 sh -c "! ip -n $GNS -6 addr show dev hn0 tentative | grep -q 2001:db8:96::2" ||
	fail "IPv6 address still tentative"
ip netns exec "$HNS" ping -c 3 -i 0.2 -W 2 2001:db8:96::2 >"$T/ping" 2>&1 ||
	fail "host side cannot ping 2001:db8:96::2: $(cat "$T/ping")"
out=$(ctl kvp ip get "$MAC") || fail "kvp ip get: $out"
addrs=$(grep '^Address:' <<<"$out" | awk '{print $2}' | tr '\n' ' ')
[[ $addrs == "10.96.0.2/24 2001:db8:96::2/64 "* ]] || fail "get addresses: $out"
[ "$(grep '^Gateway:' <<<"$out" | awk '{print $2}' | tr '\n' ' ')" = \
	"10.96.0.1 2001:db8:96::1 " ] || fail "get gateways: $out"
[ "$(grep '^DNS:' <<<"$out" | awk '{print $2}' | tr '\n' ' ')" = \
	"10.96.0.53 2001:db8:96::53 " ] || fail "get dns: $out"
grep -qx 'DHCP:     Disabled' <<<"$out" || fail "get dhcp: $out"

# A second set replaces the first (addresses, routes, name servers).
ctl kvp ip set "$MAC" --ip 10.96.0.3/24 --gateway 10.96.0.1 --dns 10.96.0.54 \
	>/dev/null || fail "second set"
a=$(ip -n "$GNS" addr show dev hn0)
grep -q 'inet 10\.96\.0\.3/24 ' <<<"$a" && ! grep -Eq '10\.96\.0\.2/|2001:db8:96::2/' <<<"$a" ||
	fail "second set did not replace the addresses: $a"
ip -n "$GNS" -6 route show default | grep -q . && fail "IPv6 default route left"
ip netns exec "$HNS" ping -c 2 -i 0.2 -W 2 10.96.0.3 >"$T/ping" 2>&1 ||
	fail "host side cannot ping 10.96.0.3: $(cat "$T/ping")"
grep -q '^nameserver 10.96.0.54$' "/etc/netns/$GNS/resolv.conf" ||
	fail "second dns: $(cat "/etc/netns/$GNS/resolv.conf")"

# The auto pool's addresses are the VM's network's: hn0's in G.
out=$(ctl kvp list --pool auto) || fail "kvp list --pool auto: $out"
[ "$(sed -n 's/^NetworkAddressIPv4\t//p' <<<"$out")" = 10.96.0.3 ] ||
	fail "auto pool IPv4 addresses: $out"
sed -n 's/^NetworkAddressIPv6\t//p' <<<"$out" | grep -Eq '^fe80::215:5dff:fe61:1$' ||
	fail "auto pool IPv6 addresses: $out"
machine_clean || fail "this machine's own namespace changed"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
echo "ok"
