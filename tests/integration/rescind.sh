#!/usr/bin/env bash
# Rescind (hot remove) of a channel while idle, during traffic and before
# its open completed: the guest stops, closes, tears the GPADL down and
# releases the relid; the host sees RELID_RELEASED and can reuse it; every
# echo the host sent is accounted for by the guest.
source "$(dirname "$0")/lib.sh"

released_by_guest() { log_has "$HOST_LOG" "relid $1 released by guest"; }
guest_released() { log_has "$GUEST_LOG" "relid $1 released"; }

# host_echoed RELID: the host's echo count at the last close of RELID.
host_echoed() {
	grep -o "test: relid $1: echoed [0-9]*" "$HOST_LOG" | tail -1 | awk '{print $NF}'
}

start_host --subchannels 2

# --- open and idle
start_guest --memory 64 --traffic none --subchannels 0
wait_until 10 has_open 1 || fail "idle: channel did not open"
ctl device remove 1 >/dev/null || fail "idle: remove refused"
wait_until 5 released_by_guest 1 || fail "idle: host saw no RELID_RELEASED"
wait_until 5 guest_released 1 || fail "idle: guest did not release"
[ "$(ctl channels | wc -l)" -eq 1 ] || fail "idle: channels left: $(ctl channels)"
ctl device remove 1 2>/dev/null && fail "idle: removed relid 1 twice"
# relid 1 is free again
ctl device add test --subchannels 2 | grep -q "relid 1$" || fail "idle: relid 1 not reused"
wait_until 10 has_open 1 || fail "idle: re-added device did not open"
stop_proc "$GUEST_PID" guest

# --- during traffic, primary and two sub-channels
: >"$HOST_LOG"; : >"$GUEST_LOG"
start_guest --memory 64 --traffic echo --burst 5000 --window 5000 --size 256
wait_until 10 has_open 3 || fail "traffic: 3 channels did not open"
sleep 0.5
ctl device remove 1 >/dev/null || fail "traffic: remove refused"
for r in 1 2 3; do
	wait_until 5 released_by_guest "$r" || fail "traffic: relid $r not released"
done
for r in 1 2 3; do
	line=$(grep "test: relid $r rescinded: " "$GUEST_LOG") || fail "traffic: no guest summary for $r"
	got=$(sed -E 's/.* received ([0-9]+),.*/\1/' <<<"$line")
	errs=$(sed -E 's/.* errors ([0-9]+)$/\1/' <<<"$line")
	sent=$(sed -E 's/.* sent ([0-9]+),.*/\1/' <<<"$line")
	echoed=$(host_echoed "$r")
	[ -n "$echoed" ] || fail "traffic: no host count for $r"
	[ "$got" -gt 0 ] || fail "traffic: relid $r carried no traffic"
	[ "$got" -eq "$echoed" ] || fail "traffic: relid $r: host echoed $echoed, guest got $got"
	[ "$errs" -eq 0 ] || fail "traffic: relid $r: $errs errors"
	[ "$sent" -ge "$got" ] || fail "traffic: relid $r: received more than sent"
done
[ "$(ctl channels | wc -l)" -eq 1 ] || fail "traffic: channels left"
stop_proc "$GUEST_PID" guest

# --- before the open completed: the guest holds OPENCHANNEL back and reads
# nothing meanwhile, so the RESCIND crosses its OPEN on the bus. The host
# refuses the OPEN as a race, the guest takes the refusal as a late answer;
# neither counts an error. Then a burst of add/remove racing every step of
# the open.
: >"$HOST_LOG"; : >"$GUEST_LOG"
start_guest --memory 64 --traffic none --open-delay 2000
relid=$(ctl device add test | awk '/^device/ {print $4}')
[ -n "$relid" ] || fail "opening: add failed"
wait_until 5 log_has "$GUEST_LOG" "relid $relid: holding OPENCHANNEL" || fail "opening: GPADL not created"
ctl device remove "$relid" >/dev/null || fail "opening: remove refused"
wait_until 5 released_by_guest "$relid" || fail "opening: host saw no RELID_RELEASED"
wait_until 5 guest_released "$relid" || fail "opening: guest did not release"
log_has "$HOST_LOG" "relid $relid opened" && fail "opening: channel opened after rescind"
show=$(ctl vm show)
grep -q '^Rescind races: *1 ' <<<"$show" || fail "opening: OPEN did not cross the RESCIND: $show"
grep -q '^Errors: *0$' <<<"$show" || fail "opening: host counted errors: $show"
stop_proc "$GUEST_PID" guest
log_has "$GUEST_LOG" "1 answers arrived after the rescind" || fail "opening: guest took no late answer"
! log_has "$GUEST_LOG" "rejected from host" || fail "opening: guest counted errors: $(grep 'rejected from host' "$GUEST_LOG")"

: >"$GUEST_LOG"
start_guest --memory 64 --traffic echo
for i in 1 2 3 4 5 6; do
	relid=$(ctl device add test | awk '/^device/ {print $4}')
	[ -n "$relid" ] || fail "race: add failed"
	[ "$i" -gt 3 ] && sleep 0.0$i
	ctl device remove "$relid" >/dev/null || fail "race: remove refused"
done
wait_until 10 bash -c "[ \$('$CTL_BIN' --dir '$T' channels | wc -l) -eq 1 ]" \
	|| fail "race: relids not all released: $(ctl channels)"
relid=$(ctl device add test | awk '/^device/ {print $4}')
wait_until 10 has_open 1 || fail "race: guest unusable afterwards"
[ "$relid" = 1 ] || fail "race: relid 1 not reused ($relid)"
# Requests crossing a rescind are a legal race, not an error on either side.
ctl vm show | grep -q '^Errors: *0$' || fail "race: host counted errors: $(ctl vm show)"
stop_proc "$GUEST_PID" guest
! log_has "$GUEST_LOG" "rejected from host" || fail "race: guest counted errors: $(grep 'rejected from host' "$GUEST_LOG")"
stop_proc "$HOST_PID" host
echo "ok"
