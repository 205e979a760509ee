#!/usr/bin/env bash
# Peer death: kill -9 the guest, the host notices at once and takes a new
# guest; kill -9 the host, the guest notices at once and exits nonzero, or
# with --reconnect waits for the next host.
source "$(dirname "$0")/lib.sh"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# within_1s START CMD...: CMD becomes true less than a second after START.
within_1s() {
	local start=$1; shift
	wait_until 5 "$@" || return 1
	[ $(($(now_ms) - start)) -lt 1000 ]
}

start_host --subchannels 2
start_guest --memory 64 --burst 64
wait_until 10 has_open 3 || fail "channels did not open"

# --- guest dies
t0=$(now_ms)
kill -KILL "$GUEST_PID"; wait "$GUEST_PID" 2>/dev/null
within_1s "$t0" log_has "$HOST_LOG" "guest disconnected: connection closed by guest" \
	|| fail "host did not notice the guest's death within 1 s"
ctl vm show | grep -q '^State: *Off' || fail "host not waiting: $(ctl vm show)"
# the host takes the next guest at once; a sanitized guest's own start
# is what may take seconds on a loaded machine
start_guest --memory 64 --burst 64
wait_until 5 vm_running || fail "new guest not connected within 5 s"
wait_until 10 has_open 3 || fail "new guest: channels did not open"
ctl vm show | grep -q '^Guest sessions: *2 ' || fail "guest count: $(ctl vm show)"

# --- host dies
t0=$(now_ms)
kill -KILL "$HOST_PID"; wait "$HOST_PID" 2>/dev/null
gone() { ! kill -0 "$GUEST_PID" 2>/dev/null; }
within_1s "$t0" gone || fail "guest did not exit within 1 s of the host's death"
wait "$GUEST_PID"; rc=$?
[ "$rc" -eq 1 ] || fail "guest exited $rc, want 1"
log_has "$GUEST_LOG" "host connection lost: connection closed by host" \
	|| fail "guest did not log why"

# --- host dies, guest reconnects to the next one
: >"$HOST_LOG"; : >"$GUEST_LOG"
rm -f "$T/ctl.sock" "$T/vmbus.sock"
start_host --subchannels 1
start_guest --memory 64 --reconnect
wait_until 10 has_open 2 || fail "reconnect: channels did not open"
kill -KILL "$HOST_PID"; wait "$HOST_PID" 2>/dev/null
wait_until 5 log_has "$GUEST_LOG" "retrying every 500 ms" || fail "reconnect: no retry"
sleep 0.6
kill -0 "$GUEST_PID" || fail "reconnect: guest exited"
rm -f "$T/ctl.sock"
start_host --subchannels 1
wait_until 5 vm_running || fail "reconnect: guest did not come back"
wait_until 10 has_open 2 || fail "reconnect: channels did not reopen"
log_has "$GUEST_LOG" "host is back" || fail "reconnect: not logged"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
echo "ok"
