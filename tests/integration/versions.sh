#!/usr/bin/env bash
# Negotiation against a host capped at each known version: the guest
# steps down to it and both report the same version.
source "$(dirname "$0")/lib.sh"

for v in 5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4 1.1 0.13; do
	: >"$HOST_LOG"; : >"$GUEST_LOG"
	start_host --max-version "$v" --subchannels 1 --once
	start_guest --memory 16 --ring-size 16 --burst 1
	wait_until 10 vm_running || fail "$v: guest did not connect"
	wait_until 10 has_open 1 || fail "$v: channel did not open"
	ctl vm show | grep -q "^VMBus version: *$v " || fail "$v: host reports $(ctl vm show | grep VMBus)"
	log_has "$GUEST_LOG" "connected: VMBus version $v " || fail "$v: guest did not report $v"
	# Sub-channels only from 2.4 on.
	case $v in
	1.1|0.13) want=1 ;;
	*) want=2 ;;
	esac
	wait_until 10 has_open "$want" || fail "$v: expected $want open channels"
	sleep 0.1
	[ "$(open_channels)" -eq "$want" ] || fail "$v: $(open_channels) channels open, want $want"
	ctl vm show | grep -q '^Errors: *0$' || fail "$v: errors: $(ctl vm show)"
	stop_proc "$GUEST_PID" guest
	wait "$HOST_PID"; rc=$?
	[ "$rc" -eq 0 ] || fail "$v: host --once exited $rc"
done

# A guest capped below what the host offers gets its own cap.
: >"$HOST_LOG"; : >"$GUEST_LOG"
start_host --once
start_guest --memory 16 --ring-size 16 --max-version 4.0
wait_until 10 vm_running || fail "capped guest did not connect"
ctl vm show | grep -q '^VMBus version: *4.0 ' || fail "guest cap not honoured"
stop_proc "$GUEST_PID" guest
wait "$HOST_PID" || fail "host --once failed"

# (A host that accepts none: hostile-host.sh's "refuse" case.)
echo "ok"
