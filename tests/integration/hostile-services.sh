#!/usr/bin/env bash
# A hostile guest on the integration service channels (evil_ic_guest)
# against a real hvis-host: malformed answers to NEGOTIATE (the host
# proposes again, a few times at most), heartbeat
# probes, time samples, Stop-VM, KVP (values, pools, IP info) and VSS,
# each counted by reason, the status never OK after garbage, every pending
# hvis-ctl request failed rather than left hanging. Then a normal guest
# gets all five services to OK without a new error, and the host stops
# cleanly (no sanitizer report).
# Usage: hostile-services.sh HOST GUEST CTL EVIL_IC_GUEST
source "$(dirname "$0")/services-common.sh"
EVIL=$4

start_host --test-devices 0 --services all --heartbeat-ms 200 \
	--request-timeout 1 --timesync-ms 600000
"$EVIL" "$T/vmbus.sock" "$T/ctl.sock" 2>"$T/evil.log"
rc=$?
cat "$T/evil.log"
[ "$rc" -eq 0 ] || fail "evil guest exited $rc"
kill -0 "$HOST_PID" 2>/dev/null || fail "host died"
wait_until 5 bash -c "'$CTL_BIN' --dir '$T' vm show | grep -q '^State: *Off'" ||
	fail "host did not notice the evil guest leaving"
log_has "$HOST_LOG" "Heartbeat: negotiation failed: malformed answer (1 of 3); proposing again" ||
	fail "negotiation retry not logged"
log_has "$HOST_LOG" "Heartbeat: negotiation failed: malformed answer (3 of 3); giving up" ||
	fail "negotiation given up not logged"
log_has "$HOST_LOG" "Heartbeat: negotiation failed: no common version" ||
	fail "no common version not logged"
log_has "$HOST_LOG" "Lost Communication (malformed answer)" || fail "garbage not logged"
ctl vm services >"$T/before"
for s in "${ALL_SERVICES[@]}"; do
	svc_is "$s" "No Contact" || fail "$s after the evil guest: $(svc_status "$s")"
done

# The host recovered: a normal guest gets every service to OK and causes
# no bad input of its own.
start_guest_ic
wait_until 10 all_ok || fail "normal guest: services not OK: $(ctl vm services)"
# BadInput: columns 113-120 (SecondaryStatusDescription follows).
bad_col() { awk 'NR > 1 && /^[A-Z]/ {print substr($0, 113, 8)}' | head -5; }
[ "$(ctl vm services | bad_col)" = "$(bad_col <"$T/before")" ] ||
	fail "bad input while a normal guest ran: $(ctl vm services)"
ctl kvp set Color blue >/dev/null || fail "kvp set"
[ "$(ctl kvp get Color)" = blue ] || fail "kvp get"
ctl vm backup >/dev/null || fail "backup"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" \
	"$T/evil.log" && fail "sanitizer report"
echo "ok"
