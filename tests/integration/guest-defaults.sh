#!/usr/bin/env bash
# hvis-guest started with no options at all touches nothing of this
# machine but its own directories: under strace, every file it (or a
# helper it runs) opens for writing, creates, renames, removes or
# changes is in its runtime directory ($XDG_RUNTIME_DIR/hvis/demo) or
# its state directory (~/.local/state/hvis/demo, made with mode 0700),
# while the host asks it for everything: KVP writes, `kvp ip set`
# (refused: no --system), `kvp ip get`, a backup (nothing frozen: no
# FIFREEZE), time samples (no clock change) and a shutdown. HOME,
# XDG_RUNTIME_DIR and TMPDIR point into the test's directory; /var/lib/
# hyperv and the machine's interfaces are never written.
source "$(dirname "$0")/services-common.sh"

command -v strace >/dev/null || { echo "SKIP: no strace"; exit 77; }
export HOME=$T/home XDG_RUNTIME_DIR=$T/run TMPDIR=$T/tmp
unset XDG_STATE_HOME
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$TMPDIR"
chmod 700 "$XDG_RUNTIME_DIR"
RUN=$XDG_RUNTIME_DIR/hvis/demo
STATE=$HOME/.local/state/hvis/demo
dctl() { "$CTL_BIN" "$@"; }

"$HOST_BIN" --heartbeat-ms 200 --timesync-ms 300 2>>"$HOST_LOG" &
HOST_PID=$!
_pids+=("$HOST_PID")
wait_until 10 test -S "$RUN/ctl.sock" || fail "host did not start"
TRACE='trace=open,openat,openat2,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,link,linkat,symlink,symlinkat,chmod,fchmod,fchmodat,chown,fchown,fchownat,lchown,truncate,ftruncate,utimensat,mknod,mknodat,bind,ioctl,clock_settime,clock_adjtime,adjtimex,settimeofday'
# LeakSanitizer cannot run under ptrace; the other tests check leaks.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" \
	strace -f -y -qq -e "$TRACE" -o "$T/strace" "$GUEST_BIN" 2>>"$GUEST_LOG" &
GUEST_PID=$!
_pids+=("$GUEST_PID")
svc_ok() { [ "$(dctl vm services | awk -v n="$1" 'substr($0, 1, 24) ~ "^" n " *$"' |
	cut -c34-57 | sed 's/ *$//')" = OK ]; }
for s in Heartbeat Shutdown "Time Synchronization" "Key-Value Pair Exchange" VSS; do
	wait_until 20 svc_ok "$s" || fail "$s not OK"
done

dctl kvp set Color blue >/dev/null || fail "kvp set"
[ "$(dctl kvp get Color)" = blue ] || fail "kvp get"
[ -s "$STATE/.kvp_pool_0" ] || fail "pool 0 not in the state directory"
[ "$(stat -c %a "$STATE")" = 700 ] || fail "state directory mode $(stat -c %a "$STATE")"
mac=$(cat /sys/class/net/*/address 2>/dev/null | grep -v '^00:00:00:00:00:00$' | head -n 1)
if [ -n "$mac" ]; then
	dctl kvp ip get "$mac" >/dev/null 2>&1
	dctl kvp ip set "$mac" --ip 10.99.0.1/24 2>"$T/err" && fail "kvp ip set accepted"
	grep -q 'access denied' "$T/err" || fail "kvp ip set: $(cat "$T/err")"
fi
dctl vm backup >"$T/b.out" 2>/dev/null || fail "backup: $(cat "$T/b.out")"
grep -q '^Backup: crash-consistent only: the guest froze nothing' "$T/b.out" ||
	fail "backup: $(cat "$T/b.out")"
sleep 1 # time samples
dctl vm stop >/dev/null || fail "stop"
wait "$GUEST_PID" || fail "guest exited $?"
log_has "$GUEST_LOG" "timesync: offset" || fail "no time samples taken"

# Paths the guest acted on: fd paths (<...>) and path arguments ("..."),
# the latter relative to the dirfd before them when not absolute.
awk -v t="$T" '
	/^[0-9]+ +(\+\+\+|---)/ { next }
	/ioctl\(/ { if ($0 ~ /FIFREEZE/) print "FIFREEZE: " $0; next }
	/(clock_settime|clock_adjtime|adjtimex|settimeofday)\(/ { print "CLOCK: " $0; next }
	/ (open|openat|openat2|creat)\(/ && !/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/ { next }
	/ bind\(/ && !/sun_path/ { next }
	/ (ftruncate|fchmod|fchown)\(/ {
		# a socket before it is bound, a memfd: nothing on disk
		if ($0 !~ "\\(" "[0-9]+<" t && $0 !~ /\([0-9]+<\/memfd:/ &&
		    $0 !~ /\([0-9]+<socket:/)
			print "WRITE: " $0
		next
	}
	{
		if (match($0, /"[^"]*"/)) {
			p = substr($0, RSTART + 1, RLENGTH - 2)
			if (p !~ /^\// && match($0, /\(([0-9]+|AT_FDCWD)<[^>]*>/)) {
				d = substr($0, RSTART, RLENGTH); sub(/^[^<]*</, "", d); sub(/>$/, "", d)
				p = d "/" p
			}
			if (index(p, t) != 1 && p != "/dev/null")
				print "WRITE: " $0
		}
	}' "$T/strace" >"$T/outside"
[ -s "$T/outside" ] && fail "touched outside its directories: $(head -20 "$T/outside")"
grep -q "$STATE" "$T/strace" || fail "strace saw nothing (check the trace)"

# The state directory is trusted as the runtime directory is: one that
# others may write to, or a symlink, is refused before anything starts.
# refused_state WANT: hvis-guest exits 1 at once, saying WANT.
refused_state() {
	timeout -s KILL 5 "$GUEST_BIN" 2>"$T/err"
	local rc=$?
	[ "$rc" -eq 1 ] || fail "state dir: guest exited $rc: $(cat "$T/err")"
	grep -qF -- "$1" "$T/err" || fail "state dir: $(cat "$T/err")"
}
chmod 0777 "$STATE"
refused_state "state directory: $STATE is writable by group or others"
mv "$STATE" "$T/elsewhere" && ln -s "$T/elsewhere" "$STATE"
refused_state "state directory: $STATE is a symlink"
stop_proc "$HOST_PID" host
echo "ok"
