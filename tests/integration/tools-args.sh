#!/usr/bin/env bash
# The tools' command lines without a VM: malformed numbers, signs and
# trailing junk are refused with exit 2 and the usage, and hvis-ctl says
# why it will not send a request.
# Usage: tools-args.sh HOST GUEST CTL BENCH
source "$(dirname "$0")/lib.sh"
BENCH=$4

# refused EXIT CMD...: CMD exits with EXIT, says something on stderr and
# never starts (nothing on stdout; a tool that took the value and started
# is killed after 5 s).
refused() {
	local want=$1 out rc; shift
	out=$(timeout -s KILL 5 "$@" 2>"$T/err"); rc=$?
	[ "$rc" -eq "$want" ] || fail "$* exited $rc, want $want"
	[ -z "$out" ] || fail "$* wrote to stdout: $out"
	[ -s "$T/err" ] || fail "$* said nothing"
}

for v in -1 -0 +5 " 5" 5x "" 99999999999999999999999; do
	refused 2 "$GUEST_BIN" --dir "$T" --memory "$v"
	refused 2 "$HOST_BIN" --dir "$T" --test-devices "$v"
	refused 2 "$BENCH" ring --ring-kib "$v"
done
refused 2 "$GUEST_BIN" --dir "$T" --ring-size 6
refused 2 "$BENCH" ring --seconds 1x
refused 2 "$BENCH" ring --sizes 64,-0
refused 2 "$BENCH" ring --sizes 64,,256
refused 2 "$HOST_BIN" --dir "$T" --max-version 5.3x
# --ic-version: a version the host knows for that service, spelt exactly.
for v in heartbeat=2.0 vss=3.0 kvp=5.1 timesync=03.0 "shutdown= 3.0" \
	kvp=4 heartbeat bogus=1.0 =1.0 heartbeat=1.0x; do
	refused 2 "$HOST_BIN" --dir "$T" --ic-version "$v"
done
refused 2 "$GUEST_BIN" --dir "$T" --max-version 0.12 # nothing to try

# hvis-ctl: the request is one line, so a line break in a value cannot be
# sent; it says so instead of "too long".
refused 2 "$CTL_BIN" --ctl "$T/none.sock" kvp set k $'a\nb'
grep -q "line break" "$T/err" || fail "ctl: $(cat "$T/err")"
refused 2 "$CTL_BIN" --ctl "$T/none.sock" kvp set k "$(head -c 9000 /dev/zero | tr '\0' v)"
grep -q "too long" "$T/err" || fail "ctl: $(cat "$T/err")"
refused 1 "$CTL_BIN" --ctl "$T/none.sock" vm show
grep -q "no hvis-host at $T/none.sock: start one with" "$T/err" ||
	fail "ctl: $(cat "$T/err")"
refused 2 "$CTL_BIN"

# hvis-bench end to end, briefly: every point runs and checks every packet
# (it exits 1 if any packet was lost or corrupt); figures are not judged.
timeout -s KILL 60 "$BENCH" ring --seconds 0.05 --sizes 64,65536 >"$T/bench" \
	|| fail "bench failed: $(cat "$T/bench")"
grep -q "gsig/1000 hsig/1000 vs memcpy" "$T/bench" || fail "bench header: $(cat "$T/bench")"
[ "$(grep -cE '^(interrupt|poll) +(64|65536) ' "$T/bench")" -eq 4 ] \
	|| fail "bench points: $(cat "$T/bench")"
echo "ok"
