#!/usr/bin/env bash
# The older message versions of each integration service end to end:
# hvis-host offers versions up to a cap (--ic-version, as an older Hyper-V
# host would), the real hvis-guest negotiates them, `vm services` shows
# them, and one real operation of each service works at that version:
# heartbeat answers, Stop-VM is accepted and its command runs, time
# samples (no reference counter below 4.0) reach the guest and follow a
# host skew, KVP set/get/list/delete and GET_IP_INFO in its string form
# (below 5.0), a backup at VSS 5.0 (the only version). A 1.0 message cap
# also limits the framework to 1.0, as a WS2008 host offered.
source "$(dirname "$0")/services-common.sh"

HB="Heartbeat"
SD="Shutdown"
TS="Time Synchronization"
KVP="Key-Value Pair Exchange"

# Fake hyperv-daemons helper scripts: GET_IP_INFO's DNS comes from here.
S=$T/scripts
mkdir -p "$S"
printf '#!/bin/sh\necho 192.0.2.53\n' >"$S/hv_get_dns_info"
printf '#!/bin/sh\necho Disabled\n' >"$S/hv_get_dhcp_info"
printf '#!/bin/sh\nexit 0\n' >"$S/hv_set_ifconfig"
chmod +x "$S"/*

# An adapter of this machine for GET_IP_INFO (the guest process sees the
# same interfaces); none: an unknown one, which the guest must refuse.
MAC=
for d in /sys/class/net/*; do
	m=$(cat "$d/address" 2>/dev/null) || continue
	case $m in ??:??:??:??:??:??) ;; *) continue ;; esac
	[ "$m" = 00:00:00:00:00:00 ] && continue
	MAC=$m
	break
done

# run_caps CAP...: a host offering up to each CAP (SERVICE=X.Y) and a
# guest whose shutdown command records its calls.
run_caps() {
	local a=()
	for c in "$@"; do
		a+=(--ic-version "$c")
	done
	: >"$HOST_LOG"
	: >"$GUEST_LOG"
	rm -f "$T/sd.out"
	start_host --heartbeat-ms 200 --timesync-ms 300 --backup-cmd true \
		"${a[@]}"
	start_guest_ic --kvp-scripts "$S" \
		--shutdown-cmd "echo \"\$1\" >>'$T/sd.out'"
	wait_until 10 all_ok || fail "caps $*: not OK: $(ctl vm services)"
}
stop_run() {
	stop_proc "$GUEST_PID" guest
	stop_proc "$HOST_PID" host
	rm -f "$T/ctl.sock"
}

# want_versions NAME FW/MSG
want_versions() {
	[ "$(svc_versions "$1")" = "$2" ] ||
		fail "$1 versions $(svc_versions "$1"), want $2:" \
			"$(ctl vm services)"
}
# answers NAME: the service's Answers column.
answers() {
	ctl vm services | awk -v n="$1" \
		'substr($0, 1, 24) ~ "^" n " *$" { print $(NF - 3) }'
}
answers_above() { [ "$(answers "$HB")" -gt "$1" ]; }

check_heartbeat() { # MSG
	local n
	n=$(answers "$HB")
	wait_until 3 answers_above $((n + 2)) ||
		fail "heartbeat $1: $(answers "$HB") answers, had $n"
	svc_is "$HB" OK || fail "heartbeat $1 not OK"
}

check_stop() { # MSG
	local out
	out=$(ctl vm stop --reason "at $1") ||
		fail "shutdown $1: stop refused: $out"
	grep -q '^Stop-VM: guest accepted shutdown' <<<"$out" ||
		fail "shutdown $1: $out"
	wait_until 5 test -s "$T/sd.out" ||
		fail "shutdown $1: command did not run"
	[ "$(cat "$T/sd.out")" = poweroff ] ||
		fail "shutdown $1: command got $(cat "$T/sd.out")"
}

last_offset() {
	grep -o 'timesync: offset [-+][0-9.]* s (sample v[0-9])' "$GUEST_LOG" |
		tail -1 | awk '{print $3}'
}
offset_near() {
	local got
	got=$(last_offset)
	[ -n "$got" ] && awk -v g="$got" -v w="$1" \
		'BEGIN { d = g - w; exit !(d < 0.05 && d > -0.05) }'
}
check_time() { # MAJOR
	wait_until 5 log_has "$GUEST_LOG" "timesync: offset .* (sync v$1)" ||
		fail "timesync v$1: no SYNC at connect"
	wait_until 5 log_has "$GUEST_LOG" "timesync: offset .* (sample v$1)" ||
		fail "timesync v$1: no sample"
	grep -q 'timesync: offset .* v4)' "$GUEST_LOG" &&
		fail "timesync v$1: a v4 sample"
	offset_near 0 || fail "timesync v$1: offset $(last_offset)"
	ctl vm timesync --skew 100 >/dev/null ||
		fail "timesync v$1: skew refused"
	wait_until 5 offset_near 100 ||
		fail "timesync v$1: skewed offset $(last_offset)"
	ctl vm timesync | grep -q 'samples sent: *[1-9]' ||
		fail "timesync v$1: $(ctl vm timesync)"
}

check_kvp() { # MSG
	ctl kvp set "K $1" "value at $1" >/dev/null || fail "kvp $1: set"
	[ "$(ctl kvp get "K $1")" = "value at $1" ] || fail "kvp $1: get"
	[ "$(ctl kvp list)" = "$(printf 'K %s\tvalue at %s' "$1" "$1")" ] ||
		fail "kvp $1: list: $(ctl kvp list)"
	ctl kvp delete "K $1" >/dev/null || fail "kvp $1: delete"
	ctl kvp get "K $1" 2>/dev/null && fail "kvp $1: deleted key found"
	ctl kvp list --pool auto | grep -q '^OSName' ||
		fail "kvp $1: auto pool: $(ctl kvp list --pool auto)"
}

check_kvp_ip() { # MSG
	local out
	if [ -z "$MAC" ]; then
		ctl kvp ip get 00:15:5d:99:99:99 2>"$T/err" &&
			fail "kvp $1: unknown adapter found"
		grep -q 'no adapter with MAC 00:15:5d:99:99:99' "$T/err" ||
			fail "kvp $1: ip get: $(cat "$T/err")"
		return
	fi
	out=$(ctl kvp ip get "$MAC") || fail "kvp $1: ip get: $out"
	grep -qix "Adapter:  $MAC" <<<"$out" || fail "kvp $1: ip get: $out"
	grep -qx 'DHCP:     Disabled' <<<"$out" || fail "kvp $1: ip get: $out"
	grep -qx 'DNS:      192.0.2.53' <<<"$out" || fail "kvp $1: ip get: $out"
}

check_backup() {
	local out
	out=$(ctl vm backup 2>&1) || fail "backup at 5.0: $out"
	grep -q '^Backup: .*snapshot taken, guest thawed$' <<<"$out" ||
		fail "backup at 5.0: $out"
}

# --- the versions of a WS2008 host: framework 1.0 with message 1.0
run_caps heartbeat=1.0 shutdown=1.0 timesync=1.0 kvp=1.0 vss=5.0
want_versions "$HB" 1.0/1.0
want_versions "$SD" 1.0/1.0
want_versions "$TS" 1.0/1.0
want_versions "$KVP" 1.0/1.0
want_versions VSS 3.0/5.0
check_heartbeat 1.0
check_time 1
check_kvp 1.0
check_backup
check_stop 1.0
stop_run

# --- WS2008 R2 (framework 3.0; shutdown, time sync and KVP 3.0)
run_caps shutdown=3.0 timesync=3.0 kvp=3.0
want_versions "$HB" 3.0/3.0
want_versions "$SD" 3.0/3.0
want_versions "$TS" 3.0/3.0
want_versions "$KVP" 3.0/3.0
check_time 3
check_kvp 3.0
check_kvp_ip 3.0
check_stop 3.0
stop_run

# --- KVP 4.0 (WS2012's), shutdown 3.1; time sync 4.0 uncapped
run_caps Shutdown=3.1 "$KVP=4.0"
want_versions "$SD" 3.0/3.1
want_versions "$TS" 3.0/4.0
want_versions "$KVP" 3.0/4.0
check_kvp 4.0
check_kvp_ip 4.0
check_stop 3.1
stop_run
echo "ok"
