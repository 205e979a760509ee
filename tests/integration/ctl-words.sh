#!/usr/bin/env bash
# The words of nic and disk requests against a running hvis-host (a
# bench NIC: no TAP, no root): `nic add bench` refused with one line
# saying what to do (it used to crash the host), a TAP named bench
# refused (the bench port's name), numbers past their
# bounds refused with one line naming the option and its range, and the
# host still answering afterwards and ending cleanly.
source "$(dirname "$0")/lib.sh"

start_host --test-devices 0 --services none --nic bench

# refused WANT WORDS...: hvis-ctl WORDS exits 1 with one line on stderr
# that holds WANT (a fixed string), and the host still answers.
refused() {
	local want=$1 rc; shift
	ctl "$@" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 1 ] || fail "'$*' exited $rc: $(cat "$T/out" "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "'$*' said: $(cat "$T/err")"
	grep -qF -- "$want" "$T/err" || fail "'$*' said $(cat "$T/err"), want $want"
	kill -0 "$HOST_PID" 2>/dev/null || fail "host died after '$*'"
	ctl nic list >/dev/null || fail "host not answering after '$*'"
}
BENCH_ONLY="the bench port is hvis-bench's, made at start only (hvis-host --nic bench); add a NIC with tap=NAME"
refused "$BENCH_ONLY" nic add bench
refused "$BENCH_ONLY" nic add bench,rx=64,queues=2
# a TAP named bench would share the bench port's name in nic list
refused "a NIC named bench is there already (the bench port's name): give the TAP another name" \
	nic add tap=bench
refused "--seconds wants a whole number from 1 to 31536000, not '18446744074'" \
	nic capture bench "$T/c.pcap" --seconds 18446744074
refused "--seconds wants a whole number from 1 to 31536000, not '0'" \
	nic capture bench "$T/c.pcap" --seconds 0
refused "--count wants a whole number from 1 to 18446744073709551615, not '-1'" \
	nic capture bench "$T/c.pcap" --count -1
refused "usage: nic capture NAME FILE" nic capture bench
refused "--lun wants a whole number from 0 to 63, not '64'" \
	disk remove --controller 0 --lun 64
refused "--size wants a size in bytes (K, M, G or T after it for KiB, MiB, ...), not '1Q'" \
	disk resize --controller 0 --lun 0 --size 1Q
refused "--size wants a size in bytes" \
	disk resize --controller 0 --lun 0 --size 16777216T
# what is within bounds still works
ctl nic capture bench "$T/c.pcap" --seconds 31536000 >/dev/null || fail "capture"
ctl nic capture bench --stop >/dev/null || fail "capture stop"
[ "$(ctl nic list --json | python3 -c 'import json, sys
print(len(json.load(sys.stdin)["nics"]))')" = 1 ] || fail "nic list: $(ctl nic list)"
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" &&
	fail "sanitizer report"
echo "ok"
