#!/usr/bin/env bash
# evil_stor_guest against a real hvis-host with a disk (see its header);
# then a normal guest finds the disk and reads it, and the host stops
# cleanly (no ASan report).
# Usage: hostile-storage-guest.sh HOST GUEST CTL EVIL_STOR_GUEST
source "$(dirname "$0")/lib.sh"
EVIL=$4
head -c 4M /dev/urandom >"$T/disk.img"
start_host --test-devices 0 --services none --disk "$T/disk.img"
"$EVIL" "$T/vmbus.sock" "$T/ctl.sock" "$T/disk.img" 2>"$T/evil.log"
rc=$?
cat "$T/evil.log"
[ "$rc" -eq 0 ] || fail "evil storage guest exited $rc"
kill -0 "$HOST_PID" 2>/dev/null || fail "host died"
wait_until 10 sh -c "! \"$CTL_BIN\" --dir \"$T\" vm show | grep -q 'Running'" ||
	fail "host still sees the evil guest"

start_guest --no-services
wait_until 10 log_has "$GUEST_LOG" "LUN 0 found" || fail "normal guest: no LUN"
if command -v qemu-img >/dev/null; then
	qemu-img compare -f raw -F raw "$T/disk.img" \
		"nbd+unix:///scsi0-lun0?socket=$T/nbd.sock" ||
		fail "normal guest reads other bytes"
fi
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error' "$HOST_LOG" "$T/evil.log" &&
	fail "sanitizer report"
echo "ok"
