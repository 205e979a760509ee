#!/usr/bin/env bash
# hvis-bench net in its quickest form (one second a run): the frames
# part (netvsc in the bench against hvis-host's bench port, no TAP) moves
# frames both ways at both sizes, on one channel and on one per CPU, and
# 64 KiB TCP frames both ways (LSO sends, coalesced receives); as root
# with iperf3, the end-to-end
# part gives the veth limit, the TAP relay's rows and both hvis rows, and
# leaves no namespace
# behind; without, it says in one line why it is skipped. Figures are
# not judged: a benchmark is not a timed test.
# Usage: bench-net.sh HOST GUEST CTL BENCH
source "$(dirname "$0")/lib.sh"
BENCH=$4
# SIGTERM first: the benchmark then removes what it made itself; the
# trap removes its namespaces (named after its pid) if it could not.
# (the pid file is read in the trap: it is there from the start)
trap 'BPID=$(cat "$T/pid" 2>/dev/null); for n in va vb ra rb h g; do [ -n "$BPID" ] && ip netns del "hvis-bench-$n$BPID" 2>/dev/null; done; cleanup' EXIT
timeout -k 20 100 sh -c 'echo $$ >"$0"; exec "$@"' "$T/pid" \
	"$BENCH" net --seconds 1 >"$T/out" 2>"$T/err"
rc=$?
BPID=$(cat "$T/pid")
[ "$rc" -eq 0 ] || fail "hvis-bench net exited $rc: $(cat "$T/out" "$T/err")"
n='[0-9]+(\.[0-9]+)?'
rows() { grep -E "^(guest to host|host to guest) +(64|1500) +$1 +$n +$n +$n +$n +$n +$n%\$" "$T/out"; }
[ "$(rows 1 | wc -l)" -ge 4 ] || fail "frames rows, 1 channel: $(cat "$T/out")"
cpus=$(nproc)
[ "$(rows "$([ "$cpus" -gt 8 ] && echo 8 || echo "$cpus")" | wc -l)" -ge 4 ] ||
	fail "frames rows, one channel per CPU: $(cat "$T/out")"
lso() { grep -E "^(guest to host|host to guest) +65536 +$1 +$n +$n +$n +$n +$n +$n%\$" "$T/out"; }
[ "$(lso 1 | wc -l)" -eq 2 ] && [ "$(lso "$([ "$cpus" -gt 8 ] && echo 8 || echo "$cpus")" | wc -l)" -ge 2 ] ||
	fail "64 KiB rows: $(cat "$T/out")"
if grep -q '^skipped: ' "$T/out"; then
	[ "$(id -u)" -ne 0 ] || ! command -v iperf3 >/dev/null ||
		fail "end to end skipped as root with iperf3: $(cat "$T/out")"
else
	[ "$(grep -cE "^veth pair \(the limit\) +(b to a|a to b \(-R\)) +$n " \
		"$T/out")" -eq 2 ] ||
		fail "veth rows: $(cat "$T/out")"
	[ "$(grep -cE "^TAP relay, one CPU +(b to a|a to b \(-R\)) +$n +- +- +$n +$n%\$" \
		"$T/out")" -eq 2 ] || fail "TAP relay rows: $(cat "$T/out")"
	[ "$(grep -cE "^hvis, hn0 .*(to host|to guest) +$n +$n +$n +$n +$n%\$" \
		"$T/out")" -ge 2 ] || fail "hvis rows: $(cat "$T/out")"
	grep -qE '^hvis, hn0 tso off ' "$T/out" || fail "no TSO-off row"
fi
ip netns list 2>/dev/null | grep -qE "^hvis-bench-(va|vb|ra|rb|h|g)$BPID( |\$)" &&
	fail "namespaces left: $(ip netns list)"
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$T/err" &&
	fail "sanitizer report: $(cat "$T/err")"

# --json: one document, the same rows.
timeout -k 20 60 "$BENCH" net --only frames --seconds 0.5 --json \
	>"$T/json" 2>"$T/err" || fail "--json exited $?: $(cat "$T/json" "$T/err")"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
rows = [r for r in d["frames"] if "frames_per_s" in r]
assert d["schema"] == "hvis.bench.net/1" and len(rows) == 12, d
lso = [r for r in rows if r["bytes"] == 65536]
assert len(lso) == 4 and all(r["limit_memcpy_gbps"] > 0 for r in lso), lso
assert all(r["frames_per_s"] > 0 for r in rows), rows
' "$T/json" || fail "--json: $(cat "$T/json")"
echo "ok"
