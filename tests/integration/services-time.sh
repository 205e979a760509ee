#!/usr/bin/env bash
# Time sync: the host sends a SYNC at connect and samples periodically
# (message version 4.0, with the reference counter); a host clock skew of
# +/-N seconds set at run time shows as the guest's computed offset (its
# report sink logs each one) within a few milliseconds.
source "$(dirname "$0")/services-common.sh"

# last_offset: the guest's last logged offset in seconds.
last_offset() {
	grep -o 'timesync: offset [-+][0-9.]* s' "$GUEST_LOG" | tail -1 |
		awk '{print $3}'
}
# offset_near WANT: the last offset is within 50 ms of WANT.
offset_near() {
	local got
	got=$(last_offset)
	[ -n "$got" ] && awk -v g="$got" -v w="$1" \
		'BEGIN { d = g - w; exit !(d < 0.05 && d > -0.05) }'
}
samples() { ctl vm timesync | awk '/samples sent:/ {print $3}'; }

start_host --heartbeat-ms 200 --timesync-ms 400
start_guest_ic
wait_until 10 svc_is "Time Synchronization" OK || fail "timesync not OK"
[ "$(svc_versions "Time Synchronization")" = 3.0/4.0 ] || fail "not v4"
wait_until 5 log_has "$GUEST_LOG" "timesync: offset .* (sync v4)" ||
	fail "no SYNC at connect"
wait_until 5 log_has "$GUEST_LOG" "timesync: offset .* (sample v4)" ||
	fail "no periodic sample"
offset_near 0 || fail "unskewed offset $(last_offset)"
n=$(samples)
sleep 1
[ "$(samples)" -gt "$n" ] || fail "samples not periodic"

for skew in 100 -42.5 3600 0; do
	out=$(ctl vm timesync --skew "$skew") || fail "skew $skew refused"
	[ "$(awk '/skew:/ {print $2}' <<<"$out")" = "$(printf '%+.3f' "$skew")" ] ||
		fail "skew $skew not shown: $out"
	wait_until 5 offset_near "$skew" ||
		fail "skew $skew: guest offset $(last_offset)"
done
ctl vm timesync --skew abc 2>/dev/null && fail "bad skew accepted"
ctl vm timesync --skew 1e12 2>/dev/null && fail "huge skew accepted"
ctl vm services | awk 'substr($0, 1, 24) ~ /^Time Sync/' | grep -q ' 0 *$' ||
	fail "bad input counted: $(ctl vm services)"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
echo "ok"
