#!/usr/bin/env bash
# Live backup (VSS) on a loop-mounted ext4, the only file system the
# guest may freeze (--freeze): a write started while the host's snapshot
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
pidfds() { find "/proc/$HOST_PID/fd" -lname 'anon_inode:\[pidfd\]' | wc -l; }
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
echo "ok"
