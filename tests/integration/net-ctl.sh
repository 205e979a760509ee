#!/usr/bin/env bash
# hvis-ctl nic against a real netvsp and netvsc, each end in a network
# namespace of its own (host TAP hvport0 10.98.0.1, guest hn0 10.98.0.2):
# nic list/add/remove/set/link/capture, text and --json (and two NICs on
# one TAP refused, hot-added and at start), and what the
# switch port does: the link told to the guest (NO-CARRIER), spoofed
# frames dropped and counted (and passing with mac-spoofing=on), the
# guest's packet filter, the access VLAN (tagged on the TAP, untagged
# frames from the host's side not delivered), a pcap tcpdump reads, and
# a NIC hot-added (hn1) and hot-removed while the guest runs.
# Needs root, /dev/net/tun, iproute2, ping, tcpdump, python3.
# Usage: net-ctl.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
FRAME=$(dirname "$0")/net_frame.py
net_pair nctl 98 ping tcpdump python3
hns() { ip netns exec "$HNS" "$@"; }
gns() { ip netns exec "$GNS" "$@"; }
GMAC=$(ip -n "$GNS" -br link show hn0 | awk '{print $3}')
HMAC=$(ip -n "$HNS" -br link show hvport0 | awk '{print $3}')

# nic NAME EXPR: a field of the NIC in nic list --json (e.g.
# '["counters"]["tx_spoofed"]').
nic() {
	ctl nic list --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["schema"] == "hvis.nics/1"
n = [x for x in d["nics"] if x["name"] == sys.argv[1]]
print(eval("n[0]" + sys.argv[2]) if n else "none")' "$1" "$2"
}
# grew COUNTER N: hvport0's counter is above N.
grew() { [ "$(nic hvport0 "[\"counters\"][\"$1\"]")" -gt "$2" ]; }
ping_ok() { gns ping -c 2 -i 0.3 -W 3 10.98.0.1 >/dev/null 2>&1; }
ping_fails() { ! gns ping -c 2 -i 0.3 -W 1 10.98.0.1 >/dev/null 2>&1; }
# refused WORDS...: hvis-ctl fails (exit 1 or 2) with one line on stderr.
refused() {
	local rc
	ctl "$@" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || fail "'$*' exited $rc"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*' said: $(cat "$T/err")"
}
wait_until 10 ping_ok || fail "no ping through hvport0"

# ---- list, and what is refused
ctl nic list | grep -Eq "^hvport0 +$GMAC +up +off +- +open" ||
	fail "nic list: $(ctl nic list)"
[ "$(nic hvport0 '["mac_address"]')" = "$GMAC" ] || fail "json MAC"
[ "$(nic hvport0 '["counters"]["tx_frames"]')" -gt 0 ] || fail "json counters"
refused nic remove nosuch
grep -q "no NIC nosuch" "$T/err" || fail "remove nosuch: $(cat "$T/err")"
refused nic set hvport0 vlan=4095
refused nic set hvport0 spoofing=on
refused nic link hvport0 sideways
refused nic add tap=
refused nic add tap=hvport0
grep -q "a second adapter on the same TAP device hvport0" "$T/err" ||
	fail "add tap=hvport0: $(cat "$T/err")"
refused nic capture hvport0
refused nic frobnicate

# ---- two adapters on one TAP at start: the host says so and ends
mkdir "$T/dup" || fail "mkdir"
ip netns exec "$HNS" timeout 10 "$HOST_BIN" --dir "$T/dup" --quiet \
	--test-devices 0 --services none --nic tap=hvdup0 \
	--nic tap=hvdup0,vlan=5 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- \
	"--nic tap=hvdup0,vlan=5: a second adapter on the same TAP device hvdup0: give each its own tap=NAME" \
	"$T/err" || fail "two NICs on hvdup0: exit $rc: $(cat "$T/err")"

# ---- link down and up: the guest's carrier follows, nothing passes
ctl nic link hvport0 down >/dev/null || fail "link down"
wait_until 5 sh -c "ip -n $GNS link show hn0 | grep -q NO-CARRIER" ||
	fail "hn0 kept its carrier: $(ip -n "$GNS" link show hn0)"
[ "$(nic hvport0 '["link"]')" = down ] || fail "json link"
ping_fails || fail "ping passed with the link down"
ctl nic link hvport0 up --json | grep -q '"link": "up"' || fail "link up"
wait_until 5 sh -c "! ip -n $GNS link show hn0 | grep -q NO-CARRIER" ||
	fail "hn0 has no carrier after link up"
wait_until 10 ping_ok || fail "no ping after link up"

# ---- MAC spoofing: another source address dropped and counted, then
# passing with mac-spoofing=on (the host learns the new address)
ip -n "$GNS" link set hn0 address 02:00:00:00:00:99 || fail "guest MAC"
ip -n "$HNS" neigh flush dev hvport0
ping_fails || fail "spoofed frames passed"
[ "$(nic hvport0 '["counters"]["tx_spoofed"]')" -gt 0 ] ||
	fail "spoofed frames not counted"
ctl nic set hvport0 mac-spoofing=on >/dev/null || fail "spoofing on"
[ "$(nic hvport0 '["mac_address_spoofing"]')" = True ] || fail "json spoofing"
wait_until 10 ping_ok || fail "no ping with mac-spoofing=on"
ctl nic set hvport0 mac-spoofing=off >/dev/null || fail "spoofing off"
ip -n "$GNS" link set hn0 address "$GMAC" || fail "guest MAC back"
ip -n "$HNS" neigh flush dev hvport0
wait_until 10 ping_ok || fail "no ping with the adapter's MAC"

# ---- the guest's filter (directed, all-multicast, broadcast): a
# frame to another unicast address is not delivered, and counted
before=$(nic hvport0 '["counters"]["rx_filtered"]')
hns python3 "$FRAME" hvport0 02:00:00:00:00:77 0 10.98.0.1 10.98.0.2 ||
	fail "frame not sent"
wait_until 5 grew rx_filtered "$before" ||
	fail "frame to another MAC not filtered: $(ctl channels --wide)"

# ---- access VLAN 5: the guest's frames reach the TAP tagged; untagged
# frames from the host's side are dropped; tagged ones delivered
ctl nic set hvport0 vlan=5 >/dev/null || fail "vlan=5"
[ "$(nic hvport0 '["vlan"]')" = 5 ] || fail "json vlan"
ip -n "$GNS" neigh replace 10.98.0.1 lladdr "$HMAC" dev hn0 || fail neigh
# sniff OUT COUNT FILTER...: tcpdump -e on hvport0 in the background
# ($TD), once it listens.
sniff() {
	local out=$1 n=$2
	shift 2
	: >"$T/sniff.err"
	hns timeout 20 tcpdump -l -e -n -i hvport0 -c "$n" "$@" >"$out" \
		2>"$T/sniff.err" &
	TD=$!
	_pids+=("$TD")
	wait_until 10 grep -q "listening on" "$T/sniff.err" ||
		fail "tcpdump: $(cat "$T/sniff.err")"
}
sniff "$T/tagged" 2 icmp
gns ping -c 3 -i 0.3 -W 1 10.98.0.1 >/dev/null 2>&1
hns python3 "$FRAME" hvport0 "$GMAC" 5 10.98.0.1 10.98.0.2 || fail "tagged frame"
wait "$TD"
grep -q "vlan 5.*echo request" "$T/tagged" ||
	fail "no tagged frame on the TAP: $(cat "$T/tagged")"
before=$(nic hvport0 '["counters"]["rx_vlan"]')
hns ping -c 2 -i 0.3 -W 1 10.98.0.2 >/dev/null 2>&1 &&
	fail "an untagged ping reached the guest on VLAN 5"
wait_until 5 grew rx_vlan "$before" ||
	fail "untagged frames not counted"
sniff "$T/reply" 1 'icmp[icmptype] == icmp-echoreply'
hns python3 "$FRAME" hvport0 "$GMAC" 5 10.98.0.1 10.98.0.2 || fail "tagged frame"
wait "$TD"
grep -q "vlan 5.*echo reply" "$T/reply" ||
	fail "tagged echo not answered: $(cat "$T/reply")"
ctl nic set hvport0 vlan=none >/dev/null || fail "vlan=none"
ip -n "$GNS" neigh del 10.98.0.1 dev hn0
wait_until 10 ping_ok || fail "no ping after vlan=none"

# ---- capture: a relative path, stop, count
(cd "$T" && "$CTL_BIN" --dir "$T" nic capture hvport0 cap.pcap) >/dev/null ||
	fail "capture"
[ "$(nic hvport0 '["capture"]["running"]')" = True ] || fail "json capture"
ctl nic list | grep -q "$T/cap.pcap" || fail "list: no capture"
refused nic capture hvport0 "$T/other.pcap"
gns ping -c 3 -i 0.2 -W 2 10.98.0.1 >/dev/null || fail "ping while capturing"
ctl nic capture hvport0 --stop | grep -q "frames written to $T/cap.pcap, 0 dropped" ||
	fail "capture stop"
tcpdump -n -r "$T/cap.pcap" 2>/dev/null >"$T/cap.txt"
[ "$(grep -c 'ICMP echo request' "$T/cap.txt")" -ge 3 ] &&
	[ "$(grep -c 'ICMP echo reply' "$T/cap.txt")" -ge 3 ] ||
	fail "capture: $(cat "$T/cap.txt")"
ctl nic capture hvport0 "$T/two.pcap" --count 2 >/dev/null || fail "--count"
gns ping -c 3 -i 0.2 -W 2 10.98.0.1 >/dev/null
wait_until 5 sh -c "$CTL_BIN --dir $T nic list | grep -q ' -\$'" ||
	fail "capture --count 2 did not end"
[ "$(tcpdump -n -r "$T/two.pcap" 2>/dev/null | wc -l)" -eq 2 ] ||
	fail "--count 2 wrote $(tcpdump -n -r "$T/two.pcap" 2>/dev/null | wc -l)"

# ---- hot add and remove while the guest runs
hns "$CTL_BIN" --dir "$T" nic add tap=hvport1,mac=00:15:5d:00:98:01,vlan=7,mac-spoofing=on \
	>"$T/add" || fail "nic add: $(cat "$T/add")"
grep -q "nic hvport1 mac 00:15:5d:00:98:01" "$T/add" || fail "add: $(cat "$T/add")"
wait_until 10 sh -c "ip -n $GNS link show hn1 | grep -q 00:15:5d:00:98:01" ||
	fail "no hn1 after nic add: $(ip -n "$GNS" -br link)"
[ "$(nic hvport1 '["vlan"]')" = 7 ] && [ "$(nic hvport1 '["state"]')" = open ] ||
	fail "hvport1: $(ctl nic list)"
ctl nic remove hvport1 --json | grep -q '"schema": "hvis.nic-removed/1"' ||
	fail "nic remove"
wait_until 10 sh -c "! ip -n $GNS link show hn1" || fail "hn1 stayed"
wait_until 10 sh -c "! ip -n $HNS link show hvport1" || fail "hvport1 stayed"
[ "$(nic hvport1 '')" = none ] || fail "hvport1 still listed"
kill -0 "$GUEST_PID" || fail "guest died"
ping_ok || fail "hn0 broke when hn1 went"

stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" &&
	fail "sanitizer report"
echo "ok"
