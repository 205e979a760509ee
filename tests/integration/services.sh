#!/usr/bin/env bash
# Integration services: all five reach OK with the versions both sides
# support best; disabling a service rescinds its channel (the guest
# releases it, Enabled False) and enabling offers it again (OK again);
# a stopped guest loses its heartbeat within a few periods and regains
# it when it runs again; hvis-host and hvis-guest exit cleanly.
source "$(dirname "$0")/services-common.sh"

start_host --heartbeat-ms 200
start_guest_ic
wait_until 10 all_ok || fail "services not OK: $(ctl vm services)"

# Highest versions both ends speak (framework/message).
for pair in "Heartbeat:3.0/3.0" "Shutdown:3.0/3.2" \
	"Time Synchronization:3.0/4.0" "Key-Value Pair Exchange:3.0/5.0" \
	"VSS:3.0/5.0"; do
	name=${pair%%:*}
	[ "$(svc_versions "$name")" = "${pair#*:}" ] ||
		fail "$name versions $(svc_versions "$name"), want ${pair#*:}"
	[ "$(svc_enabled "$name")" = True ] || fail "$name not enabled"
done
ctl channels --wide | grep -Eq '^[0-9]+ +timesync .* open +4\.0 ' ||
	fail "channels: timesync version: $(ctl channels --wide)"
# Every column of the table starts where its heading does.
[ "$(ctl channels --wide | awk 'NR > 1 { print index($0, $3), index($0, " " $5 " ") }
	NR == 1 { print index($0, "INSTANCE"), index($0, " STATE ") }' |
	sort -u | wc -l)" = 1 ] || fail "channels: columns not aligned: $(ctl channels --wide)"
ctl vm show | grep -Eq '^  Heartbeat +True +OK$' || fail "vm show: services"
ctl vm services | grep -q '^Bad input by reason: none$' || fail "bad input where none was sent"

# --- disable rescinds, enable offers again
relid=$(relid_of timesync)
[ -n "$relid" ] || fail "no timesync channel"
ctl vm service disable "Time Synchronization" | grep -q 'Enabled False' ||
	fail "disable refused"
wait_until 5 log_has "$HOST_LOG" "relid $relid released by guest" ||
	fail "guest did not release timesync relid $relid"
[ "$(svc_enabled "Time Synchronization")" = False ] || fail "still enabled"
[ "$(svc_versions "Time Synchronization")" = "-/-" ] || fail "versions kept"
ctl channels --wide | awk '$2 == "timesync"' | grep -q . && fail "timesync channel left"
svc_is Heartbeat OK || fail "heartbeat disturbed by the disable"
ctl vm service enable timesync | grep -q 'Enabled True' || fail "enable refused"
wait_until 10 svc_is "Time Synchronization" OK || fail "timesync not OK again"
[ "$(svc_versions "Time Synchronization")" = 3.0/4.0 ] || fail "renegotiation"
[ -n "$(relid_of timesync)" ] || fail "timesync not open again"

# Every service by its alias, twice over, then all OK again.
for a in heartbeat shutdown timesync kvp vss; do
	ctl vm service disable $a >/dev/null || fail "disable $a"
done
wait_until 5 bash -c "! '$CTL_BIN' --dir '$T' channels --wide | grep -Eq ' (heartbeat|shutdown|timesync|kvp|vss) '" ||
	fail "channels left after disabling all: $(ctl channels --wide)"
ctl vm services | grep -c ' False ' | grep -qx 5 || fail "not all disabled"
ctl vm service disable vss >/dev/null || fail "second disable refused"
for a in heartbeat shutdown timesync kvp; do
	ctl vm service enable $a >/dev/null || fail "enable $a"
done
ctl vm service enable VSS >/dev/null || fail "enable VSS"
wait_until 10 all_ok || fail "not OK after enabling all: $(ctl vm services)"
ctl vm service enable bogus 2>/dev/null && fail "unknown service accepted"
ctl vm service disable 2>/dev/null && fail "missing name accepted"

# --- heartbeat: a stopped guest is Lost Communication within a few
# periods (3 x 200 ms), OK again once it runs
kill -STOP "$GUEST_PID"
t0=$(date +%s%N)
wait_until 3 svc_is Heartbeat "Lost Communication" ||
	{ kill -CONT "$GUEST_PID"; fail "no Lost Communication"; }
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$GUEST_PID"
[ "$ms" -le 1500 ] || fail "Lost Communication after $ms ms"
wait_until 3 svc_is Heartbeat OK || fail "heartbeat not OK after SIGCONT"
svc_is Shutdown OK || fail "shutdown status changed"

stop_proc "$GUEST_PID" guest
wait_until 5 svc_is Heartbeat "No Contact" || fail "guest gone but $(svc_status Heartbeat)"
stop_proc "$HOST_PID" host
echo "ok"
