#!/usr/bin/env bash
# hvis's own KVP helpers (guest/kvp-scripts) end to end: `hvis-ctl kvp ip
# set` through hvis-host to an hvis-guest run with --system (so with
# them, found in the build tree) in a network namespace of this test,
# whose hv_set_ifconfig applies the configuration with iproute2 to the
# veth found by its MAC: addresses, default routes and DNS servers in
# the namespace's own resolv.conf (/etc/netns/NAME/resolv.conf, which ip
# netns exec mounts over /etc/resolv.conf: the machine's is never
# touched, and is checked to be unchanged). Then DHCP with a stand-in
# dhclient, `kvp ip get` through the get helpers, and a guest without
# --system refusing to configure anything. Needs root: skipped otherwise.
source "$(dirname "$0")/services-common.sh"

NS=hvis-kvph-$$
MAC=00:15:5d:0a:0b:0d
make_netns "$NS"
RESOLV=/etc/netns/$NS/resolv.conf
helpers_cleanup() {
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	[ -s "$T/dhclient.pid" ] && kill -KILL "$(cat "$T/dhclient.pid")" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "/etc/netns/$NS"
	rmdir /etc/netns 2>/dev/null
	cleanup
}
trap helpers_cleanup EXIT
real_resolv=$(sha256sum /etc/resolv.conf 2>/dev/null)
mkdir -p "/etc/netns/$NS"
printf 'search example.test\nnameserver 198.51.100.99\n' >"$RESOLV"
# The helper writes /etc/resolv.conf: only go on where it is the
# namespace's own file.
[ "$(ip netns exec "$NS" cat /etc/resolv.conf)" = "$(cat "$RESOLV")" ] ||
	{ echo "SKIP: ip netns exec does not mount $RESOLV"; exit 77; }

nsip() { ip -n "$NS" "$@" || fail "ip $*"; }
nsip link add hv0 address "$MAC" type veth peer name hv1
nsip link set hv1 up
nsip addr add 192.0.2.10/24 dev hv0
nsip link set hv0 up
nsip route add default via 192.0.2.1 dev hv0

# A stand-in dhclient: goes to the background as -nw does, records its
# arguments and stays, naming the interface, as a real one does.
mkdir -p "$T/bin"
cat >"$T/bin/dhclient" <<EOS
#!/bin/sh
if [ "\$1" != --bg ]; then
	"\$0" --bg "\$@" </dev/null >/dev/null 2>&1 &
	exit 0
fi
shift
echo "\$*" >"$T/dhclient.args"
echo \$\$ >"$T/dhclient.pid"
while :; do sleep 0.2; done
EOS
chmod +x "$T/bin/dhclient"

start_host --heartbeat-ms 200
start_guest_ns() {
	: >"$GUEST_LOG"
	ip netns exec "$NS" env PATH="$T/bin:$PATH" "$GUEST_BIN" --dir "$T" \
		--memory 32 --ring-size 64 --traffic none --kvp-root "$KVP_ROOT" \
		--freeze /dev/shm --timesync report "$@" 2>>"$GUEST_LOG" &
	GUEST_PID=$!
	_pids+=("$GUEST_PID")
	wait_until 10 svc_is "Key-Value Pair Exchange" OK || fail "KVP not OK"
}
start_guest_ns --system

# --- static: addresses, gateways, DNS replace what the adapter had
out=$(ctl kvp ip set "$MAC" --ip 10.1.2.3/24,10.9.0.4/16,2001:db8:1::5/64 \
	--gateway 10.1.2.1,2001:db8:1::1 --dns 10.1.2.53,2001:db8:1::53) ||
	fail "ip set refused: $out"
v4=$(ip -n "$NS" -4 -o addr show dev hv0 | awk '{print $4}' | tr '\n' ' ')
[ "$v4" = "10.1.2.3/24 10.9.0.4/16 " ] || fail "IPv4 addresses: $v4"
ip -n "$NS" -6 -o addr show dev hv0 scope global | grep -q ' 2001:db8:1::5/64 ' ||
	fail "IPv6 address: $(ip -n "$NS" -6 addr show dev hv0)"
[ "$(ip -n "$NS" -4 route show default | awk '{print $3}')" = 10.1.2.1 ] ||
	fail "IPv4 default route: $(ip -n "$NS" -4 route)"
ip -n "$NS" -6 route show default | grep -q 'via 2001:db8:1::1 dev hv0' ||
	fail "IPv6 default route: $(ip -n "$NS" -6 route)"
printf '%s\n' "search example.test" "nameserver 10.1.2.53" \
	"nameserver 2001:0db8:0001:0000:0000:0000:0000:0053" | cmp -s - "$RESOLV" ||
	fail "resolv.conf: $(cat "$RESOLV")"
[ "$(sha256sum /etc/resolv.conf 2>/dev/null)" = "$real_resolv" ] ||
	fail "the machine's /etc/resolv.conf changed"

# --- GET through hvis's hv_get_dns_info and hv_get_dhcp_info
out=$(ctl kvp ip get "$MAC") || fail "ip get: $out"
grep -qx 'DHCP:     Disabled' <<<"$out" || fail "dhcp: $out"
[ "$(grep '^DNS:' <<<"$out" | awk '{print $2}' | tr '\n' ' ')" = \
	"10.1.2.53 2001:db8:1::53 " ] || fail "dns: $out"
grep -qx 'Address:  10.1.2.3/24' <<<"$out" || fail "address: $out"

# --- DHCP: static addresses and routes go, the client is started; GET
# then reports DHCP; a static SET stops the client again.
ctl kvp ip set "$MAC" --dhcp >/dev/null || fail "dhcp set refused"
wait_until 5 test -s "$T/dhclient.args" || fail "dhclient not started"
[ "$(cat "$T/dhclient.args")" = "-nw hv0" ] || fail "dhclient got $(cat "$T/dhclient.args")"
[ -z "$(ip -n "$NS" -4 -o addr show dev hv0)" ] || fail "addresses kept under DHCP"
[ -z "$(ip -n "$NS" -4 route show default)" ] || fail "default route kept under DHCP"
ctl kvp ip get "$MAC" | grep -qx 'DHCP:     Enabled' || fail "DHCP not reported"
ctl kvp ip set "$MAC" --ip 10.1.2.3/24 >/dev/null || fail "static after dhcp"
dpid=$(cat "$T/dhclient.pid")
wait_until 5 sh -c "! kill -0 $dpid 2>/dev/null" || fail "dhclient kept running"

# --- the helper's own refusals reach the caller
ctl kvp ip set 00:15:5d:99:99:99 --dhcp 2>"$T/err" && fail "unknown MAC accepted"
grep -q 'no adapter with MAC 00:15:5d:99:99:99' "$T/err" || fail "unknown MAC: $(cat "$T/err")"
stop_proc "$GUEST_PID" guest

# --- without --system (nor --kvp-scripts) the guest configures nothing
nsip addr flush dev hv0
start_guest_ns
ctl kvp ip set "$MAC" --ip 10.7.7.7/24 2>"$T/err" && fail "set without --system accepted"
grep -qF "kvp ip set $MAC: guest status 0x80070005 (access denied): set ip info $MAC: this guest configures none of its machine's interfaces (hvis-guest --system, or --kvp-scripts DIR, lets it)" \
	"$T/err" || fail "refusal: $(cat "$T/err")"
[ -z "$(ip -n "$NS" -4 -o addr show dev hv0)" ] || fail "configured without --system"
ctl kvp ip get "$MAC" >/dev/null || fail "get without --system"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
[ "$(sha256sum /etc/resolv.conf 2>/dev/null)" = "$real_resolv" ] ||
	fail "the machine's /etc/resolv.conf changed"
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" \
	&& fail "sanitizer report"
echo "ok"
