#!/usr/bin/env bash
# Test device sink and source modes: counts and data checked on both ends.
source "$(dirname "$0")/lib.sh"

start_host --subchannels 1
start_guest --memory 64 --traffic sink --count 3000 --size 500 --burst 200
wait_until 20 bash -c "[ \$(grep -c 'sink done: host counted 3000 packets, 1500000 bytes, 0 errors' '$GUEST_LOG') -eq 2 ]" \
	|| fail "sink: host tally missing or wrong"
ctl channels --wide | grep -q 'mode=sink.*sunk=3000 .*errors=0' || fail "sink: $(ctl channels --wide)"
stop_proc "$GUEST_PID" guest

: >"$GUEST_LOG"
start_guest --memory 64 --traffic source --count 4000 --size 3000 --ring-size 64
wait_until 20 bash -c "[ \$(grep -c 'source done: host sent 4000, received 4000' '$GUEST_LOG') -eq 2 ]" \
	|| fail "source: counts wrong"
ctl channels --wide | grep -q 'mode=source.*sourced=4000 errors=0' || fail "source: $(ctl channels --wide)"
stop_proc "$GUEST_PID" guest
grep -q "errors [1-9]" "$GUEST_LOG" && fail "source: guest saw errors"

# Polling guest: its inbound ring stays masked, so the host never signals.
: >"$GUEST_LOG"
start_guest --memory 64 --poll --subchannels 0 --count 2000 --burst 200
echoed_all() { ctl channels --wide | awk 'NR == 2 && $11 == 2001 {ok = 1} END {exit !ok}'; }
wait_until 20 echoed_all || fail "poll: $(ctl channels --wide)"
ctl channels --wide | awk 'NR == 2 && $13 == 0 {ok = 1} END {exit !ok}' \
	|| fail "poll: host signalled a polling guest: $(ctl channels --wide)"
stop_proc "$GUEST_PID" guest
log_has "$GUEST_LOG" "sent 2000, received 2000, in flight 0, errors 0" \
	|| fail "poll: guest summary"
stop_proc "$HOST_PID" host
echo "ok"
