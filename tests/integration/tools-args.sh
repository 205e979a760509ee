#!/usr/bin/env bash
# The tools' command lines without a VM: malformed numbers, signs and
# trailing junk are refused with exit 2 (hvis-guest: with one line naming
# the option, the value and what is allowed, never the usage), and
# hvis-ctl says why it will not send a request.
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

# one_line WANT CMD...: CMD is refused with exit 2 and exactly one line
# on stderr, which holds WANT (a fixed string), never the usage.
one_line() {
	local want=$1; shift
	refused 2 "$@"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$*: not one line: $(cat "$T/err")"
	grep -qF -- "$want" "$T/err" || fail "$*: said $(cat "$T/err"), want $want"
	grep -q usage "$T/err" && fail "$*: printed the usage"
	return 0
}
guest_refused() { local w=$1; shift; one_line "$w" "$GUEST_BIN" --dir "$T" "$@"; }
host_refused() { local w=$1; shift; one_line "$w" "$HOST_BIN" --dir "$T" "$@"; }
for v in -1 -0 +5 " 5" 5x "" 99999999999999999999999; do
	guest_refused "hvis-guest: --memory $v: want MiB from 1 to 1048576" --memory "$v"
	refused 2 "$HOST_BIN" --dir "$T" --test-devices "$v"
	refused 2 "$BENCH" ring --ring-kib "$v"
done
guest_refused "--ring-size 6: want KiB, a multiple of 4" --ring-size 6
guest_refused "--max-version 9.9: unknown VMBus version (known: 0.13, 1.1, 2.4," \
	--max-version 9.9
guest_refused "--max-version 4.5: unknown VMBus version" --max-version 4.5
guest_refused "--max-version 0.12: unknown VMBus version" --max-version 0.12
guest_refused "--traffic fast: want echo, sink, source or none" --traffic fast
guest_refused "--timesync ntp: want report, clock or chrony:PATH" --timesync ntp
guest_refused "--freeze-timeout 0: want seconds from 1 to 3600" --freeze-timeout 0
guest_refused "--host-user no-such-user-x: want a user name" --host-user no-such-user-x
guest_refused "--freeze all: not with --freeze /mnt" --freeze /mnt --freeze all
guest_refused "--net-rss-table 1,x: want up to 128 channel numbers below" --net-rss-table 1,x
guest_refused "--net-rss-table @$T/none: No such file or directory" --net-rss-table "@$T/none"
guest_refused "--net-rss-table @$T: not a regular file" --net-rss-table "@$T"
guest_refused "unexpected argument 'stray'" stray
guest_refused "unexpected argument 'x'" --poll x
guest_refused "unknown option --frob" --frob
guest_refused "--memory needs a value" --memory
out=$("$GUEST_BIN" --version) || fail "guest --version failed"
[[ "$out" =~ ^hvis-guest\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "guest --version: $out"
# Whole, then searched: grep -q would stop reading a long text midway.
"$GUEST_BIN" --help >"$T/help" && grep -q -- '--system' "$T/help" ||
	fail "guest --help"
refused 2 "$BENCH" ring --seconds 1x
refused 2 "$BENCH" ring --sizes 64,-0
refused 2 "$BENCH" ring --sizes 64,,256
refused 2 "$HOST_BIN" --dir "$T" --max-version 5.3x
host_refused "hvis-host: --max-version 9.9: unknown VMBus version (known: 0.13, 1.1," \
	--max-version 9.9
host_refused "--services timesynch: unknown service 'timesynch' (known: all, none," \
	--services timesynch
host_refused "--services heartbeat,kvpp: unknown service 'kvpp'" --services heartbeat,kvpp
host_refused "--ic-version kvp=9.0: kvp has no message version '9.0' (known: 5.0," \
	--ic-version kvp=9.0
host_refused "--test-devices 65: want a count from 0 to 64" --test-devices 65
host_refused "--heartbeat-ms 0: want milliseconds from 1 to 3600000" --heartbeat-ms 0
host_refused "--request-timeout 1x: want seconds from 0.001 to 3600" --request-timeout 1x
host_refused "unexpected argument 'stray'" stray
host_refused "unknown option --frob (see hvis-host --help)" --frob
host_refused "--services needs a value" --services
host_refused "--nic needs tap=NAME" --nic mac=00:15:5d:00:00:01
host_refused "'mac=01:00:5e:00:00:01' is not tap=NAME" \
	--nic tap=x,mac=01:00:5e:00:00:01
host_refused "'tap=abcdefghijklmnop' is not tap=NAME" --nic tap=abcdefghijklmnop
host_refused "'mac=00:15:5d:00:00' is not" --nic tap=x,mac=00:15:5d:00:00
host_refused "--nic needs tap=NAME or bench" --nic tap=x,bench
host_refused "'rx=64' is not tap=NAME" --nic rx=64
host_refused "'rx=13' is not tap=NAME" --nic bench,rx=13
host_refused "'rx=65550' is not tap=NAME" --nic bench,rx=65550
host_refused "(after bench) rx=SIZE (14 to 65549)" --nic bench,rx=65550
host_refused "'vlan=4095' is not" --nic tap=x,vlan=4095
host_refused "'mac-spoofing=yes' is not" --nic tap=x,mac-spoofing=yes
one_line "hvis-ctl: --host-user no-such-user-x: want a user name or uid" \
	"$CTL_BIN" --host-user no-such-user-x vm show
one_line "unknown option --frob (see hvis-ctl --help)" "$CTL_BIN" --frob vm show
one_line "unknown command 'vm frob'" "$CTL_BIN" --dir "$T" vm frob
# A command's stray words, missing arguments and values: one line naming
# the word and the command's usage, exit 2, nothing sent (no host here).
ctl_refused() { local w=$1; shift; one_line "$w" "$CTL_BIN" --dir "$T" "$@"; }
ctl_refused "unexpected argument 'extra' (want: vm show [--json])" vm show extra
ctl_refused "unexpected argument 'extra' (want: vm list [--json])" vm list extra
ctl_refused "unexpected argument 'x' (want: vm watch)" vm watch x
ctl_refused "unexpected argument 'x' (want: channels" channels --wide x
ctl_refused "unknown option '--wide' (want: vm show" vm show --wide
ctl_refused "unexpected argument 'now' (want: vm backup)" vm backup now
ctl_refused "unexpected argument 'y' (want: vm stop" vm stop --reason x y
ctl_refused "a value is missing after '--skew'" vm timesync --skew
ctl_refused "an argument is missing (want: kvp get KEY" kvp get
ctl_refused "unexpected argument 'w' (want: kvp set KEY VALUE" kvp set k v w
ctl_refused "an argument is missing (want: vm service enable NAME)" vm service enable
ctl_refused "unexpected argument '2' (want: device remove RELID)" device remove 1 2
ctl_refused "unexpected argument 'x' (want: kvp ip get ADAPTER" kvp ip get 00:15:5d:0a:0b:0c x
# ... while what a command takes goes on to the host (none: exit 1), a KVP
# value that looks like an option and a service name in several words
# included.
for args in "kvp set k --json" "vm service enable Key-Value Pair Exchange" \
	"device add test --subchannels 2" "vm stop --force --reboot --reason r" \
	"kvp ip set 00:15:5d:0a:0b:0c --ip 10.0.0.2/24 --gateway 10.0.0.1" \
	"kvp list --pool auto --json" "channels --wide --json"; do
	# shellcheck disable=SC2086 # the words are meant to split
	refused 1 "$CTL_BIN" --dir "$T" $args
	grep -q "no hvis-host runs VM" "$T/err" || fail "ctl $args: $(cat "$T/err")"
done
# --help lists every option, --help and --version among them, in one
# column; nothing is wider than 80 columns.
for p in "$HOST_BIN" "$GUEST_BIN" "$CTL_BIN"; do
	"$p" --help >"$T/help" || fail "$p --help exit $?"
	grep -q -- "--help" "$T/help" && grep -q -- "--version" "$T/help" ||
		fail "$p --help lacks --help/--version: $(cat "$T/help")"
	[ "$(awk 'length($0) > 80' "$T/help" | wc -l)" -eq 0 ] ||
		fail "$p --help wider than 80 columns"
done
# Every option's description, and every line continuing one, starts in
# column 24.
for p in "$HOST_BIN" "$GUEST_BIN"; do
	"$p" --help | sed -n -E 's/^(  --[^ ]+( [^ ]+)? +|  +)[^ ].*/\1/p' |
		awk '{ print length($0) }' | sort -u >"$T/cols"
	[ "$(cat "$T/cols")" = 23 ] || fail "$p --help: description columns $(cat "$T/cols")"
done
# --ic-version: a version the host knows for that service, spelt exactly.
for v in heartbeat=2.0 vss=3.0 kvp=5.1 timesync=03.0 "shutdown= 3.0" \
	kvp=4 heartbeat bogus=1.0 =1.0 heartbeat=1.0x; do
	refused 2 "$HOST_BIN" --dir "$T" --ic-version "$v"
done

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

# hvis-bench's command line: help and version exit 0, errors one line.
"$BENCH" --help >"$T/out" || fail "bench --help exited $?"
grep -q "usage: hvis-bench" "$T/out" || fail "bench --help: $(cat "$T/out")"
"$BENCH" ring --help >/dev/null || fail "bench ring --help exited $?"
"$BENCH" --version | grep -qE '^hvis-bench [0-9]' || fail "bench --version"
one_line "unknown command 'rng'" "$BENCH" rng
one_line "no command" "$BENCH"
one_line "--mode: 'fast' is not interrupt, poll or both" "$BENCH" ring --mode fast
one_line "--measure: 'x' is not throughput, latency or both" "$BENCH" ring --measure x
one_line "--burst: '0' is not a number of packets from 1 to 1024" "$BENCH" ring --burst 0
one_line "unexpected argument 'extra'" "$BENCH" ring extra
one_line "unknown option --bogus" "$BENCH" ring --bogus
one_line "unknown option --bogus" "$BENCH" disk --bogus
"$BENCH" disk --help | grep -q -- '--no-nbd' || fail "bench disk --help"
one_line "unknown option --bogus" "$BENCH" net --bogus
one_line "unexpected argument 'extra'" "$BENCH" net extra
one_line "net: bad value 'x'" "$BENCH" net --only x
one_line "net: bad value '0'" "$BENCH" net --seconds 0
"$BENCH" net --help | grep -q -- '--only e2e|frames' || fail "bench net --help"
"$BENCH" net --help | grep -q -- '--json' || fail "bench net --help: --json"

# hvis-bench end to end, briefly: every point runs and checks every packet
# (it exits 1 if any packet was lost or corrupt), bursts and single
# packets; figures are not judged.
for burst in 16 1; do
	timeout -s KILL 60 "$BENCH" ring --seconds 0.05 --sizes 64,65536 \
		--burst $burst >"$T/bench" || fail "bench failed: $(cat "$T/bench")"
	grep -q "pkt/batch gsig/1000 hsig/1000 vs memcpy" "$T/bench" ||
		fail "bench header: $(cat "$T/bench")"
	[ "$(grep -cE '^(interrupt|poll) +(64|65536) ' "$T/bench")" -eq 4 ] \
		|| fail "bench points: $(cat "$T/bench")"
	[ "$(grep -cE '^(interrupt|poll) +[0-9]+( +[0-9.]+){5}$' \
		"$T/bench")" -eq 2 ] || fail "bench latency rows: $(cat "$T/bench")"
done
echo "ok"
