#!/usr/bin/env bash
# evil_stor_guest against a real hvis-host with a disk (see its header);
# then a normal guest finds the disk and reads it, and the host stops
# cleanly (no ASan report).
# Usage: hostile-storage-guest.sh HOST GUEST CTL EVIL_STOR_GUEST
source "$(dirname "$0")/lib.sh"
EVIL=$4
head -c 4M /dev/urandom >"$T/disk.img"
start_host --test-devices 0 --services none --disk "$T/disk.img"

# run_evil LOG WHAT [MODE]: the evil guest must pass its own checks, and
# the host must survive it and let go of it when it leaves.
run_evil() {
	local log=$1 what=$2 rc
	shift 2
	"$EVIL" "$T/vmbus.sock" "$T/ctl.sock" "$T/disk.img" "$@" 2>"$T/$log"
	rc=$?
	cat "$T/$log"
	[ "$rc" -eq 0 ] || fail "$what exited $rc"
	kill -0 "$HOST_PID" 2>/dev/null || fail "host died"
	wait_until 10 sh -c "! \"$CTL_BIN\" --dir \"$T\" vm show |
		grep -q 'Running'" || fail "host still sees the $what"
}
run_evil evil.log "evil storage guest"
# A guest that fills both rings and reads nothing: removing its disk
# answers at once, and the host lets go of it when it leaves.
run_evil evil2.log "non-reading storage guest" noread
"$CTL_BIN" --dir "$T" disk add "$T/disk.img" || fail "disk add after removal"

start_guest --no-services
wait_until 10 log_has "$GUEST_LOG" "LUN 0 found" || fail "normal guest: no LUN"
if command -v qemu-img >/dev/null; then
	qemu-img compare -f raw -F raw "$T/disk.img" \
		"nbd+unix:///scsi0-lun0?socket=$T/nbd.sock" ||
		fail "normal guest reads other bytes"
fi
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$T/evil.log" \
	"$T/evil2.log" &&
	fail "sanitizer report"
echo "ok"
