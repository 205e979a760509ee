#!/usr/bin/env bash
# Stop-VM through the Shutdown service: the guest accepts and runs its
# configured action with --reboot / --force and the reason passed on;
# flags it does not know are refused and reported; by default the guest
# answers and exits with status 0.
source "$(dirname "$0")/services-common.sh"

start_host --heartbeat-ms 200
ctl vm stop 2>"$T/err" && fail "stop accepted without a guest"
grep -q 'not available (No Contact)' "$T/err" || fail "no-guest error: $(cat "$T/err")"

# The command records what it was asked to do.
cmd='echo "$1|$2|$HVIS_SHUTDOWN_FORCE|$HVIS_SHUTDOWN_REASON" >>'" '$T/sd.out'"
start_guest_ic --shutdown-cmd "$cmd"
wait_until 10 svc_is Shutdown OK || fail "shutdown service not OK"

out=$(ctl vm stop --reason "planned: test \"one\"") || fail "stop refused: $out"
grep -q '^Stop-VM: guest accepted shutdown ' <<<"$out" || fail "stop output: $out"
wait_until 5 test -s "$T/sd.out" || fail "shutdown command did not run"
[ "$(tail -1 "$T/sd.out")" = 'poweroff||0|planned: test "one"' ] ||
	fail "command got: $(tail -1 "$T/sd.out")"

out=$(ctl vm stop --reboot --force) || fail "reboot refused: $out"
grep -q 'accepted restart (forced)' <<<"$out" || fail "reboot output: $out"
wait_until 5 bash -c "[ \$(wc -l <'$T/sd.out') -eq 2 ]" || fail "second command"
[ "$(tail -1 "$T/sd.out")" = 'reboot|force|1|' ] ||
	fail "reboot command got: $(tail -1 "$T/sd.out")"

# The host's text reaches the guest's log escaped: a reason (and a KVP
# key) with an escape sequence, a C1 control and a tab stays one line
# with none of them raw.
nasty=$'x\e[2J\xc2\x9b\ty'
out=$(ctl vm stop --reason "$nasty") || fail "stop refused: $out"
wait_until 5 bash -c "[ \$(wc -l <'$T/sd.out') -eq 3 ]" || fail "third command"
ctl kvp set "k$nasty" v >/dev/null || fail "kvp set refused"
wait_until 5 log_has "$GUEST_LOG" 'x\\x1b\[2J\\x9b\\x09y" set' ||
	fail "kvp key not escaped in the guest log"
log_has "$GUEST_LOG" 'reason 0x[0-9a-f]*, "x\\x1b\[2J\\x9b\\x09y"' ||
	fail "shutdown reason not escaped in the guest log"
LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]' "$GUEST_LOG" "$HOST_LOG" &&
	fail "a raw control character in a log"
sed -i '$d' "$T/sd.out"

# Unknown flags (raw, through the hidden --flags) are refused by the guest.
ctl vm stop --flags 0x10 2>"$T/err" && fail "unknown flags accepted"
grep -q 'guest refused shutdown: guest status 0x80004005' "$T/err" ||
	fail "refusal not reported: $(cat "$T/err")"
ctl vm stop --bogus 2>/dev/null && fail "unknown option accepted"
[ "$(wc -l <"$T/sd.out")" -eq 2 ] || fail "refused request ran the command"
kill -0 "$GUEST_PID" || fail "guest exited with a shutdown command"
stop_proc "$GUEST_PID" guest

# Default action: answer, then exit 0; the host keeps running.
start_guest_ic
wait_until 10 svc_is Shutdown OK || fail "shutdown service not OK (2)"
out=$(ctl vm stop) || fail "default stop refused: $out"
grep -q 'accepted shutdown' <<<"$out" || fail "default stop output: $out"
wait "$GUEST_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "guest exited $rc after vm stop"
wait_until 5 svc_is Shutdown "No Contact" || fail "status after guest exit"
kill -0 "$HOST_PID" || fail "host gone"
stop_proc "$HOST_PID" host
echo "ok"
