#!/usr/bin/env bash
# Time sync end to end into the real chronyd: hvis-host (time skewed by
# hvis-ctl) -> hvis-guest --timesync chrony:SOCK -> chronyd's SOCK
# refclock. chronyd runs with -x (it never touches the clock) on a private
# configuration; chronyc must show the HV refclock reached, with samples
# and an offset of minus the host's skew (the guest is behind the host).
# Needs root and Debian's chrony; skipped (77) otherwise.
source "$(dirname "$0")/lib.sh"

CHRONYD=/usr/sbin/chronyd
CHRONYC=/usr/bin/chronyc
if [ "$(id -u)" -ne 0 ] || [ ! -x "$CHRONYD" ] || [ ! -x "$CHRONYC" ]; then
	echo "needs root and chrony: skipped"
	exit 77
fi

# chronyd refuses a command socket in a directory others can enter.
C=$T/chrony
mkdir -m 700 "$C"
cat >"$C/chrony.conf" <<EOF
refclock SOCK $C/hv.sock refid HV poll 0
bindcmdaddress $C/chronyd.sock
cmdport 0
port 0
pidfile $C/chronyd.pid
driftfile $C/drift
logdir $C
log refclocks
EOF
"$CHRONYD" -x -d -u root -f "$C/chrony.conf" >"$C/chronyd.out" 2>&1 &
_pids+=("$!")
wait_until 10 test -S "$C/hv.sock" || fail "chronyd did not start: $(cat "$C/chronyd.out")"

chronyc_() { "$CHRONYC" -h "$C/chronyd.sock" "$@"; }
# The HV line of `chronyc -c sources`:
# mode,state,name,stratum,poll,reach,lastrx,offset,measured,error
hv_line() { chronyc_ -c sources 2>/dev/null | grep '^#,.,HV,'; }
hv_reached() {
	local reach
	reach=$(hv_line | cut -d, -f6)
	[ -n "$reach" ] && [ "$((8#$reach))" -ne 0 ] &&
		[ "$(grep -c ' HV ' "$C/refclocks.log" 2>/dev/null)" -ge 3 ]
}

start_host --services timesync --timesync-ms 250
ctl vm timesync --skew 1.5 >/dev/null || fail "skew refused"
start_guest --traffic none --timesync "chrony:$C/hv.sock"
wait_until 30 hv_reached || {
	chronyc_ sources >&2
	fail "chronyd never reached the HV refclock: $(cat "$C/chronyd.out")"
}
line=$(hv_line)
off=$(cut -d, -f9 <<<"$line")
# The measured offset is local minus reference: -1.5 s, within 50 ms.
awk -v o="$off" 'BEGIN { exit !(o > -1.55 && o < -1.45) }' ||
	fail "chronyd offset $off, expected about -1.5 s ($line)"
# chronyd's own log of the raw samples agrees.
tail -1 "$C/refclocks.log" | grep -q ' HV .* 1\.5[0-9]*e+00' ||
	fail "refclocks.log: $(tail -3 "$C/refclocks.log")"
echo "chronyd: HV reached, offset $off s"
chronyc_ sources
stop_proc "$GUEST_PID" guest
