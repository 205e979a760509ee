#!/usr/bin/env bash
# Sub-channels: the guest asks the test device for K, the host offers them
# (same GUIDs, sub_channel_index 1..K), each opens bound to CPU
# (index mod CPUs) and carries traffic.
source "$(dirname "$0")/lib.sh"

K=3
ncpu=$(nproc)
start_host --subchannels "$K"
start_guest --memory 64 --burst 16
wait_until 10 has_open $((K + 1)) || fail "$((K + 1)) channels did not open"

all_busy() {
	[ "$(ctl channels --wide | awk 'NR > 1 && $10 > 200 && $11 > 200' | wc -l)" -eq $((K + 1)) ]
}
wait_until 10 all_busy || fail "not every channel carries traffic: $(ctl channels --wide)"

chans=$(ctl channels --wide)
inst=$(awk 'NR == 2 {print $3}' <<<"$chans")
for i in $(seq 0 "$K"); do
	line=$(awk -v i="$i" 'NR > 1 && $4 == i' <<<"$chans")
	[ -n "$line" ] || fail "no sub-channel $i: $chans"
	read -r relid class ginst sub state ver cpu rest <<<"$line"
	[ "$ginst" = "$inst" ] || fail "sub-channel $i has instance $ginst"
	[ "$state" = open ] || fail "sub-channel $i: $state"
	[ "$cpu" = $((i % ncpu)) ] || fail "sub-channel $i bound to CPU $cpu, want $((i % ncpu))"
	log_has "$GUEST_LOG" "relid $relid open: test sub-channel $i, target VP $((i % ncpu))" \
		|| fail "guest did not open relid $relid on VP $((i % ncpu))"
done
ctl vm show | grep -q '^Errors: *0$' || fail "errors: $(ctl vm show)"
stop_proc "$GUEST_PID" guest
grep -c "shutdown: traffic echo.*errors 0" "$GUEST_LOG" | grep -qx $((K + 1)) \
	|| fail "guest summaries"

# Sub-channels belong to the guest that asked: the next guest starts with
# the primary only and asks for fewer.
: >"$GUEST_LOG"
wait_until 5 bash -c "[ \$('$CTL_BIN' --dir '$T' channels --wide | wc -l) -eq 2 ]" \
	|| fail "sub-channels kept after the guest left: $(ctl channels --wide)"
start_guest --memory 64 --subchannels 1
wait_until 10 has_open 2 || fail "second guest: 2 channels did not open"
sleep 0.2
[ "$(open_channels)" -eq 2 ] || fail "second guest: $(open_channels) open, want 2"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
echo "ok"
