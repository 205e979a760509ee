#!/usr/bin/env bash
# A hostile guest (evil_guest) against a real hvis-host: malformed frames,
# channel messages and GPADLs, bad opens and corrupted rings, each counted
# by the host with its failure reply; a guest that floods requests and
# never reads, dropped and counted while hvis-ctl is still answered; then
# a normal guest must find the host working, and the host must stop
# cleanly (no ASan report).
# Usage: hostile-guest.sh HOST GUEST CTL EVIL_GUEST [--poll]
source "$(dirname "$0")/lib.sh"
EVIL_GUEST=$4
MODE=${5:-}

start_host --test-devices 2 --subchannels 0 $MODE
"$EVIL_GUEST" "$T/vmbus.sock" "$T/ctl.sock" 2>"$T/evil.log"
rc=$?
cat "$T/evil.log"
[ "$rc" -eq 0 ] || fail "evil guest exited $rc"
kill -0 "$HOST_PID" 2>/dev/null || fail "host died"
grep -q 'channel disabled' "$HOST_LOG" || fail "host logged no broken channel"
log_has "$HOST_LOG" "PFN outside guest memory" || fail "GPADL refusal not logged"
log_has "$HOST_LOG" "would take the guest past 32768 mappings" ||
	fail "mapping cap not logged"
log_has "$HOST_LOG" "invalid guest memory frame" || fail "memory frame refusal not logged"

# A guest that sends without end and never reads: the host keeps
# answering hvis-ctl, drops it once its queue is full, and counts it.
"$EVIL_GUEST" "$T/vmbus.sock" "$T/ctl.sock" flood 2>"$T/flood.log"
rc=$?
cat "$T/flood.log"
[ "$rc" -eq 0 ] || fail "flooding guest: evil guest exited $rc"
log_has "$HOST_LOG" "guest stopped reading" || fail "drop not logged"

# The host recovered: a normal guest connects, opens both channels and
# exchanges traffic without a single new error.
errors_before=$(ctl vm show | awk '/^Errors:/ {print $2}')
start_guest --memory 64
wait_until 10 has_open 2 || fail "normal guest: channels did not open"
busy() { ctl channels --wide | awk 'NR > 1 && $10 > 100 && $11 > 100' | wc -l | grep -qx 2; }
wait_until 10 busy || fail "normal guest: no traffic: $(ctl channels --wide)"
[ "$(ctl vm show | awk '/^Errors:/ {print $2}')" = "$errors_before" ] \
	|| fail "errors while a normal guest ran: $(ctl vm show)"
stop_proc "$GUEST_PID" guest
log_has "$GUEST_LOG" "shutdown: traffic echo.*errors 0" || fail "guest summary"
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$T/evil.log" \
	&& fail "sanitizer report"
echo "ok"
