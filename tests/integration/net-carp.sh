#!/usr/bin/env bash
# Two VMs and CARP: two hvis-host/hvis-guest pairs (each host with a
# runtime directory of its own) whose host TAPs are ports of a Linux
# bridge in one "switch" namespace, where a client has 10.95.0.100; each
# guest's hn0 sits in a namespace of its own (10.95.0.1, 10.95.0.2). The
# guests reach each other; ucarp in each guest namespace shares the
# virtual address 10.95.0.50 (vhid 42, an advertisement a second, dead
# after 2 missed), its up/down scripts adding and removing it on hn0 in
# that namespace. The client pings the VIP; the master's hvis-guest is
# killed (SIGKILL); the backup holds the VIP within 3 s and the client's
# pings are answered again.
#
# What ucarp sends (read in its source, checked here in the bridge's
# forwarding table): advertisements from the virtual MAC
# 00:00:5e:00:00:<vhid> (00:00:5e:00:00:2a here), not the adapter's; its
# gratuitous ARPs and everything the kernel sends for the VIP from the
# adapter's own MAC. As on Hyper-V, where CARP and VRRP need
# MacAddressSpoofing On, the adapters therefore get mac-spoofing=on when
# hvis-host has the option: once netvsp drops frames from other source
# MACs, the advertisements would otherwise never reach the backup, and
# both guests would claim the VIP (this test checks that only one does).
# Needs root, /dev/net/tun, iproute2, ping and ucarp: skipped otherwise.
# Usage: net-carp.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
need_net ip bridge ping ucarp
SW=hvis-carp-s$$
G=(hvis-carp-a$$ hvis-carp-b$$)
MAC=(00:15:5d:63:00:01 00:15:5d:63:00:02)
ADDR=(10.95.0.1 10.95.0.2)
VIP=10.95.0.50
VMAC=00:00:5e:00:00:2a
HPID=() GPID=() CPID=()
trap 'for n in "$SW" "${G[@]}"; do ip netns del "$n" 2>/dev/null; done; cleanup' EXIT
for n in "$SW" "${G[@]}"; do
	ip netns add "$n" || fail "ip netns add $n"
done
ip -n "$SW" link add br0 type bridge stp_state 0 &&
	ip -n "$SW" addr add 10.95.0.100/24 dev br0 &&
	ip -n "$SW" link set br0 up && ip -n "$SW" link set lo up ||
	fail "bridge"
spoof=
"$HOST_BIN" --help | grep -q 'mac-spoofing' && spoof=,mac-spoofing=on

# VM i: its host in the switch namespace (its TAP a port of br0), its
# guest's hn0 in namespace G[i] with ADDR[i].
start_vm() {
	local i=$1 d=$T/vm$1
	mkdir -m 700 "$d"
	ip netns exec "$SW" "$HOST_BIN" --dir "$d" --test-devices 0 \
		--services none --nic "tap=hvc$i,mac=${MAC[$i]}$spoof" \
		2>>"$HOST_LOG" &
	HPID[i]=$!
	_pids+=("${HPID[i]}")
	wait_until 10 test -S "$d/ctl.sock" || fail "host $i did not start"
	ip -n "$SW" link set "hvc$i" master br0 && ip -n "$SW" link set "hvc$i" up ||
		fail "hvc$i into the bridge"
	"$GUEST_BIN" --dir "$d" --no-services --netns "${G[i]}" 2>>"$GUEST_LOG" &
	GPID[i]=$!
	_pids+=("${GPID[i]}")
	wait_until 10 ip -n "${G[i]}" link show dev hn0 || fail "no hn0 in ${G[i]}"
	ip -n "${G[i]}" addr add "${ADDR[i]}/24" dev hn0 &&
		ip -n "${G[i]}" link set lo up || fail "address of guest $i"
}
start_vm 0
start_vm 1

# The guests reach each other, and the client both.
ip netns exec "${G[0]}" ping -c 3 -i 0.2 -W 2 "${ADDR[1]}" >"$T/ping" 2>&1 ||
	fail "guest 0 cannot reach guest 1: $(cat "$T/ping")"
for a in "${ADDR[@]}"; do
	ip netns exec "$SW" ping -c 2 -i 0.2 -W 2 "$a" >"$T/ping" 2>&1 ||
		fail "client cannot reach $a: $(cat "$T/ping")"
done

# ucarp i SKEW: in G[i], its scripts adding / removing the VIP on hn0
# there. Guest 0 advertises more often (lower skew): it becomes master;
# guest 1 takes over 2 advertisement periods and 20/256 s after the
# last one it heard.
ucarp_in() {
	local i=$1 ns=${G[$1]}
	printf '#!/bin/sh\nip -n %s addr add "$2/24" dev "$1"\n' "$ns" >"$T/up$i"
	printf '#!/bin/sh\nip -n %s addr del "$2/24" dev "$1"\n' "$ns" >"$T/down$i"
	chmod +x "$T/up$i" "$T/down$i"
	ip netns exec "$ns" ucarp --interface=hn0 --srcip="${ADDR[i]}" --vhid=42 \
		--pass=hvis --addr="$VIP" --advbase=1 --deadratio=2 --advskew="$2" \
		--upscript="$T/up$i" --downscript="$T/down$i" --neutral \
		>>"$T/ucarp$i.log" 2>&1 &
	CPID[i]=$!
	_pids+=("${CPID[i]}")
}
# On failure, what ucarp said too.
carp_fail() { fail "$* ($(cat "$T"/ucarp?.log 2>/dev/null | tail -n 20))"; }
has_vip() { ip -n "${G[$1]}" -4 addr show dev hn0 | grep -q "inet $VIP/"; }
ucarp_in 0 0
wait_until 10 has_vip 0 || carp_fail "guest 0 did not take the VIP"
ucarp_in 1 20
# Long enough for guest 1 to have declared guest 0 dead had it heard
# nothing (2 missed advertisements and its skew).
sleep 3
has_vip 1 && carp_fail "both guests hold the VIP (advertisements lost)"
has_vip 0 || carp_fail "guest 0 lost the VIP with guest 1 as backup"
adv_from() { bridge -n "$SW" fdb show br br0 | grep -q "^$VMAC dev $1 "; }
wait_until 3 adv_from hvc0 ||
	carp_fail "no CARP advertisement from $VMAC through hvc0:" \
		"$(bridge -n "$SW" fdb show br br0 | grep -v permanent)"

# The client pings the VIP (timestamps: -D) while the master dies.
ip netns exec "$SW" ping -D -i 0.2 -W 1 "$VIP" >"$T/vip-ping" 2>&1 &
PING=$!
_pids+=("$PING")
wait_until 5 grep -q 'bytes from' "$T/vip-ping" || fail "the VIP does not answer: $(cat "$T/vip-ping")"
ip -n "$SW" neigh show "$VIP" | grep -q "lladdr ${MAC[0]}" ||
	fail "the VIP is not guest 0's: $(ip -n "$SW" neigh show "$VIP")"
t0=$(date +%s.%N)
kill -KILL "${GPID[0]}"
wait_until 3 has_vip 1 || carp_fail "guest 1 did not take the VIP within 3 s"
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
# Answers again, with a timestamp after the kill.
resumed() {
	awk -v t0="$t0" -F'[][]' '/bytes from/ && $2 > t0 { f = 1 } END { exit !f }' \
		"$T/vip-ping"
}
wait_until 5 resumed || fail "the client's pings did not resume: $(tail -n 20 "$T/vip-ping")"
ip -n "$SW" neigh show "$VIP" | grep -q "lladdr ${MAC[1]}" ||
	fail "the VIP is not guest 1's: $(ip -n "$SW" neigh show "$VIP")"
kill "$PING"
echo "VIP on guest 1 after ${took} s; pings resumed"

for i in 0 1; do kill "${CPID[i]}" 2>/dev/null; done
stop_proc "${GPID[1]}" "guest 1"
stop_proc "${HPID[0]}" "host 0"
stop_proc "${HPID[1]}" "host 1"
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" &&
	fail "sanitizer report"
echo "ok"
