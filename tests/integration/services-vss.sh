#!/usr/bin/env bash
# Live backup (VSS) on a loop-mounted ext4, the only file system the
# guest may freeze (--freeze). Every outcome is reported as what it is:
# a guest thawed early by its own freeze timeout, one that froze nothing
# (crash-consistent only), one stopped by SIGTERM or whose channel is
# rescinded during the snapshot command; each with the guest's reason,
# and the command's output and running time reach the caller. A write
# started while the host's snapshot
# step runs (sleep 2) blocks until the thaw and then completes; a failing
# pre-freeze hook makes `vm backup` report the guest's failure and leaves
# nothing frozen; a backup command past --backup-timeout is killed with
# its process group and the guest thawed; a command blocked in the frozen
# file system never stalls the host. Needs root (loop devices,
# FIFREEZE): skipped otherwise.
source "$(dirname "$0")/services-common.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
for p in mkfs.ext4 mount umount fsfreeze; do
	command -v "$p" >/dev/null || { echo "SKIP: no $p"; exit 77; }
done
MNT=$T/mnt
mkdir -p "$MNT"
truncate -s 32M "$T/fs.img"
mkfs.ext4 -q -F "$T/fs.img" >/dev/null 2>&1 || { echo "SKIP: mkfs.ext4 failed"; exit 77; }
mount -o loop "$T/fs.img" "$MNT" 2>/dev/null || { echo "SKIP: no loop mount"; exit 77; }

# Processes go first (lib.sh's cleanup), then the mount, thawed in case.
vss_cleanup() {
	for p in "${_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	fsfreeze --unfreeze "$MNT" 2>/dev/null
	umount "$MNT" 2>/dev/null || umount -l "$MNT"
	cleanup
}
trap vss_cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_host --heartbeat-ms 200 --backup-cmd "sleep 2"
start_guest_ic --freeze "$MNT" --freeze-timeout 10
wait_until 10 svc_is VSS OK || fail "VSS not OK"
log_has "$GUEST_LOG" "vss: backups freeze $MNT" || fail "guest freezes more than $MNT"
echo before >"$MNT/file" && sync -f "$MNT/file"

ctl vm backup >"$T/backup.out" 2>&1 &
bpid=$!
_pids+=("$bpid")
wait_until 5 log_has "$HOST_LOG" "VSS: guest frozen" || fail "guest did not freeze"
t0=$(now_ms)
( echo during >>"$MNT/file"; now_ms >"$T/write.done" ) &
wpid=$!
sleep 0.5
[ -s "$T/write.done" ] && fail "write completed while frozen"
wait "$bpid"; rc=$?
tb=$(now_ms)
[ "$rc" -eq 0 ] || fail "backup failed: $(cat "$T/backup.out")"
grep -q '^Backup: guest froze its file systems (reported OK), snapshot taken, guest thawed$' "$T/backup.out" ||
	fail "backup output: $(cat "$T/backup.out")"
grep -q 'snapshot command:  sleep 2 (exit 0)' "$T/backup.out" || fail "snapshot line"
wait_until 5 test -s "$T/write.done" || fail "write still blocked after thaw"
wait "$wpid"
tw=$(cat "$T/write.done")
[ $((tw - t0)) -ge 1000 ] || fail "write took only $((tw - t0)) ms"
[ "$tw" -le $((tb + 1000)) ] || fail "write completed $((tw - tb)) ms after the reply"
[ "$(cat "$MNT/file")" = $'before\nduring' ] || fail "file content"
log_has "$GUEST_LOG" "vss: thawed" || fail "no thaw logged"

# A failing pre-freeze hook: the guest refuses, the host reports it.
stop_proc "$GUEST_PID" guest
printf '#!/bin/sh\necho "hook $1" >>"%s"\nexit 3\n' "$T/hook.log" >"$T/hook.sh"
chmod +x "$T/hook.sh"
start_guest_ic --freeze "$MNT" --pre-freeze "$T/hook.sh"
wait_until 10 svc_is VSS OK || fail "VSS not OK (2)"
ctl vm backup 2>"$T/err" && fail "backup succeeded despite the hook"
grep -q 'guest failed to freeze: guest status 0x' "$T/err" ||
	fail "failure not reported: $(cat "$T/err")"
grep -q '^hook freeze$' "$T/hook.log" || fail "hook did not run"
timeout 2 sh -c "echo after >>'$MNT/file'" || fail "left frozen after a failed backup"
svc_is VSS OK || fail "VSS status after failure: $(svc_status VSS)"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host

# The backup command's time limit (--backup-timeout): its whole process
# group is killed (a child it left behind too), the guest is thawed by the
# host long before its own --freeze-timeout, and the backup fails. The
# bound on the whole `vm backup` (set-up included) leaves room for a
# loaded machine yet stays far below the guest's 30 s.
start_host --heartbeat-ms 200 --backup-timeout 1 \
	--backup-cmd "sleep 30 & echo \$! >'$T/child.pid'; sleep 30"
start_guest_ic --freeze "$MNT" --freeze-timeout 30
wait_until 10 svc_is VSS OK || fail "VSS not OK (3)"
t0=$(now_ms)
ctl vm backup 2>"$T/err" && fail "backup succeeded past its time limit"
dt=$(($(now_ms) - t0))
grep -q 'backup command killed after the time limit (1.0 s)' "$T/err" ||
	fail "time limit not reported: $(cat "$T/err")"
[ "$dt" -ge 1000 ] && [ "$dt" -le 10000 ] || fail "backup ended after $dt ms"
log_has "$GUEST_LOG" "vss: thawed" || fail "no thaw logged (3)"
timeout 2 sh -c "echo after-limit >>'$MNT/file'" || fail "left frozen after the time limit"
child=$(cat "$T/child.pid")
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" | cut -c1)" = Z ]; }
wait_until 2 gone "$child" || fail "the command's child $child survived"
svc_is VSS OK || fail "VSS status after the time limit: $(svc_status VSS)"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host

# A backup command caught in a write to the frozen file system sleeps
# uninterruptibly (D): SIGKILL ends it only after the thaw. The host must
# never wait for it on its loop thread: at the time limit it sends THAW
# first, kills the command and answers hvis-ctl at once; the command is
# reaped when the thaw lets it die (no zombie, no pidfd left open).
in_d() { [ "$(ps -o stat= -p "$1" | cut -c1)" = D ]; }
reaped() { [ ! -e "/proc/$1" ]; }
# pidfds: the host's pidfds but the one it holds for the guest attached.
pidfds() {
	local f n=0
	for f in $(find "/proc/$HOST_PID/fd" -lname 'anon_inode:\[pidfd\]'); do
		grep -qx "Pid:[[:space:]]*$GUEST_PID" "/proc/$HOST_PID/fdinfo/${f##*/}" ||
			n=$((n + 1))
	done
	echo "$n"
}
STUCK_CMD="echo \$\$ >'$T/cmd.pid'; echo stuck >>'$MNT/stuck'"
# backup_stuck NAME: `vm backup` (killed after 20 s) in the background
# as $bpid, its output in NAME.out; waits until the command ($cmd) is
# blocked in the frozen file system, and sets $td to that moment.
backup_stuck() {
	rm -f "$T/cmd.pid"
	timeout -s KILL 20 "$CTL_BIN" --dir "$T" vm backup >"$T/$1.out" 2>&1 &
	bpid=$!
	_pids+=("$bpid")
	wait_until 10 test -s "$T/cmd.pid" || fail "$1: the command did not start"
	cmd=$(cat "$T/cmd.pid")
	wait_until 5 in_d "$cmd" ||
		fail "$1: command not blocked in the frozen fs: $(ps -o stat= -p "$cmd")"
	td=$(now_ms)
}
: >"$HOST_LOG"; : >"$GUEST_LOG"
# Timed from the moment the command is seen blocked, which is after the
# freeze: a host waiting for the command would answer only once the
# guest's own --freeze-timeout (12 s) thawed it, well past the bound. The
# 2 s time limit leaves the test time to see the command blocked.
start_host --heartbeat-ms 200 --backup-timeout 2 --backup-cmd "$STUCK_CMD"
start_guest_ic --freeze "$MNT" --freeze-timeout 12
wait_until 10 svc_is VSS OK || fail "VSS not OK (4)"
backup_stuck d1
wait "$bpid"; rc=$?
dt=$(($(now_ms) - td))
[ "$rc" -ne 0 ] && [ "$rc" -ne 137 ] || fail "stuck command: backup exit $rc"
grep -q 'backup command killed after the time limit (2.0 s)' "$T/d1.out" ||
	fail "stuck command: $(cat "$T/d1.out")"
[ "$dt" -le 6000 ] || fail "stuck command: the host answered $dt ms after the block"
log_has "$GUEST_LOG" "thawed (1 filesystems were frozen)" ||
	fail "stuck command: the host did not thaw the guest"
wait_until 3 reaped "$cmd" || fail "killed command $cmd not reaped: $(ps -o stat= -p "$cmd")"
log_has "$HOST_LOG" "stopped backup command (pid $cmd) reaped" || fail "reap not logged"
[ "$(pidfds)" -eq 0 ] || fail "the host keeps $(pidfds) pidfd(s) open"
svc_is Heartbeat OK || fail "heartbeat after the stuck command: $(svc_status Heartbeat)"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host

# The guest dies while the command is caught in the frozen file system,
# so nothing thaws it: the backup fails at once, the host keeps serving
# and reaps the command once the file system is thawed by hand. Then a
# host stopping with such a command left does not hang on it either.
start_host --heartbeat-ms 200 --backup-cmd "$STUCK_CMD"
start_guest_ic --freeze "$MNT" --freeze-timeout 30
wait_until 10 svc_is VSS OK || fail "VSS not OK (5)"
backup_stuck d2
kill -KILL "$GUEST_PID"
wait "$GUEST_PID" 2>/dev/null
t0=$(now_ms)
wait "$bpid"; rc=$?
dt=$(($(now_ms) - t0))
[ "$rc" -ne 0 ] && [ "$rc" -ne 137 ] || fail "guest death: backup exit $rc: $(cat "$T/d2.out")"
# At once (measured from the guest's death): the closed channel ends it.
[ "$dt" -le 5000 ] || fail "guest death: the host answered after $dt ms"
grep -q "error: backup failed: the guest closed the service's channel during the snapshot step, while the guest was frozen: a guest that goes away thaws, so the snapshot is not consistent" "$T/d2.out" ||
	fail "guest death: $(cat "$T/d2.out")"
timeout 3 "$CTL_BIN" --dir "$T" vm show >/dev/null || fail "host not answering"
in_d "$cmd" || fail "guest death: the command is no longer blocked"
fsfreeze --unfreeze "$MNT"
wait_until 3 reaped "$cmd" || fail "command $cmd not reaped after the thaw"
log_has "$HOST_LOG" "stopped backup command (pid $cmd) reaped" || fail "reap not logged (2)"
[ "$(pidfds)" -eq 0 ] || fail "guest death: $(pidfds) pidfd(s) left open"
start_guest_ic --freeze "$MNT" --freeze-timeout 30
wait_until 10 svc_is VSS OK || fail "VSS not OK (6)"
backup_stuck d3
kill -KILL "$GUEST_PID"
wait "$GUEST_PID" 2>/dev/null
wait "$bpid"
t0=$(now_ms)
stop_proc "$HOST_PID" host
dt=$(($(now_ms) - t0))
# The host waits at most 1 s for its killed commands, then exits.
[ "$dt" -le 8000 ] || fail "host stop took $dt ms"
log_has "$HOST_LOG" "backup command (pid $cmd) still not gone; left to init" ||
	fail "host stop: the stuck command not reported"
fsfreeze --unfreeze "$MNT"

writable() { timeout 2 sh -c "echo $1 >>'$MNT/file'"; }
backup_bg() { # backup_bg NAME: `vm backup` in the background as $bpid
	"$CTL_BIN" --dir "$T" vm backup >"$T/$1.out" 2>"$T/$1.err" &
	bpid=$!
	_pids+=("$bpid")
}
# no_success NAME: the backup failed and claims no consistent snapshot.
no_success() {
	wait "$bpid" && fail "$1: backup succeeded: $(cat "$T/$1.out")"
	grep -q 'froze its file systems\|frozen for' "$T/$1.out" "$T/$1.err" &&
		fail "$1: reported a freeze: $(cat "$T/$1.out" "$T/$1.err")"
	return 0
}

# --- The guest's freeze timeout (1 s) thaws during a 3 s snapshot: the
# THAW is answered "timed out between freeze and thaw", the backup fails
# with the guest's words.
: >"$HOST_LOG"; : >"$GUEST_LOG"
start_host --heartbeat-ms 200 --backup-cmd "sleep 3"
start_guest_ic --freeze "$MNT" --freeze-timeout 1
wait_until 10 svc_is VSS OK || fail "VSS not OK (7)"
backup_bg early
no_success early
grep -qF "error: the guest thawed early, by its own freeze timeout, before the snapshot ended: the snapshot is not consistent (guest status 0x800423f2); the guest says: THAW: thawed early, before the THAW came: no thaw within 1000 ms: thawed automatically (hvis-guest --freeze-timeout)" \
	"$T/early.err" || fail "early thaw: $(cat "$T/early.err")"
writable early || fail "left frozen after an early thaw"
stop_proc "$GUEST_PID" guest

# --- Nothing to freeze (tmpfs cannot be frozen): the snapshot still runs,
# the backup is crash-consistent only with the guest's reason; the
# command's stdout and stderr reach the caller, and its running time.
start_guest_ic --freeze /dev/shm
wait_until 10 svc_is VSS OK || fail "VSS not OK (8)"
stop_proc "$HOST_PID" host
start_host --heartbeat-ms 200 --backup-cmd "echo to-stdout; echo to-stderr >&2; printf 'esc\\033[2J\\n'; sleep 5.4"
start_guest_ic --freeze /dev/shm
wait_until 10 svc_is VSS OK || fail "VSS not OK (9)"
ctl vm backup >"$T/none.out" 2>"$T/none.err" || fail "crash-consistent backup failed: $(cat "$T/none.err")"
grep -qx 'Backup: crash-consistent only: the guest froze nothing, snapshot taken, guest thawed' \
	"$T/none.out" || fail "nothing frozen: $(cat "$T/none.out")"
grep -qx "  guest's reason:    FREEZE: nothing frozen: /dev/shm (its file system cannot be frozen)" \
	"$T/none.out" || fail "nothing frozen, reason: $(cat "$T/none.out")"
grep -qx 'Backup: warning: crash-consistent only: the guest froze nothing' "$T/none.err" ||
	fail "no warning: $(cat "$T/none.err")"
grep -qx '  to-stdout' "$T/none.err" && grep -qx '  to-stderr' "$T/none.err" ||
	fail "command output not passed on: $(cat "$T/none.err")"
grep -qx '  esc?\[2J' "$T/none.err" || fail "control characters passed on: $(cat -v "$T/none.err")"
grep -qx 'Backup: snapshot command running for 5 s (time limit 120 s)' "$T/none.err" ||
	fail "no running time: $(cat "$T/none.err")"
grep -q 'froze its file systems' "$T/none.out" && fail "claims a freeze: $(cat "$T/none.out")"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host

# --- SIGTERM to the guest during the snapshot command: it thaws as it
# goes, exits 0, and the backup fails saying so.
: >"$GUEST_LOG"
start_host --heartbeat-ms 200 --backup-cmd "echo x >'$T/snap'; sleep 4"
start_guest_ic --freeze "$MNT" --freeze-timeout 30
wait_until 10 svc_is VSS OK || fail "VSS not OK (10)"
rm -f "$T/snap"
backup_bg term
wait_until 5 test -s "$T/snap" || fail "term: the snapshot command did not run"
rm -f "$T/w.done"
( echo term >>"$MNT/file"; touch "$T/w.done" ) &
wpid=$!
sleep 0.3
[ -e "$T/w.done" ] && fail "term: not frozen during the snapshot"
kill -TERM "$GUEST_PID"
wait "$GUEST_PID" || fail "guest exited $? after SIGTERM while frozen"
no_success term
grep -qF "error: backup failed: the guest closed the service's channel during the snapshot step, while the guest was frozen: a guest that goes away thaws, so the snapshot is not consistent" \
	"$T/term.err" || fail "term: $(cat "$T/term.err")"
log_has "$GUEST_LOG" "channel gone while frozen: thawed" || fail "term: no thaw logged"
wait_until 2 test -e "$T/w.done" || fail "term: the write stayed blocked"
wait "$wpid"
writable term || fail "left frozen after SIGTERM"

# --- The VSS channel rescinded (service disabled) during the snapshot.
: >"$GUEST_LOG"
start_guest_ic --freeze "$MNT" --freeze-timeout 30
wait_until 10 svc_is VSS OK || fail "VSS not OK (11)"
rm -f "$T/snap"
backup_bg rescind
wait_until 5 test -s "$T/snap" || fail "rescind: the snapshot command did not run"
ctl vm service disable vss >/dev/null || fail "disable vss"
no_success rescind
grep -qF "error: backup failed: the service was disabled during the snapshot step, while the guest was frozen" \
	"$T/rescind.err" || fail "rescind: $(cat "$T/rescind.err")"
wait_until 5 log_has "$GUEST_LOG" "channel gone while frozen: thawed" || fail "rescind: no thaw"
writable rescind || fail "left frozen after the rescind"
ctl vm service enable vss >/dev/null || fail "enable vss"
wait_until 10 svc_is VSS OK || fail "VSS not back"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$GUEST_LOG" \
	&& fail "sanitizer report"
echo "ok"
