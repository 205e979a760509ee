#!/usr/bin/env bash
# Synthetic storage end to end with real programs: hvis-host serves image
# files as SCSI disks (storvsp, io_uring), hvis-guest drives them
# (storvsc) and exports each LUN over NBD; qemu-img, qemu-io, nbdcopy,
# nbdinfo, fio's nbd engine and nbdfuse + a loop-mounted ext4 read and
# write them, and every byte is checked against the host's image files.
# Then a resize, a hot remove and a hot add while the guest runs.
# Usage: storage.sh HOST GUEST CTL NBD_OVERLAP
source "$(dirname "$0")/lib.sh"
OVERLAP=$4
for p in nbdinfo nbdcopy qemu-img qemu-io; do
	command -v "$p" >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done

IMG=$T/disk.img
RO=$T/ro.img
truncate -s 256M "$IMG"
head -c 16M /dev/urandom >"$RO"
SOCK=$T/nbd.sock
U="nbd+unix:///scsi0-lun0?socket=$SOCK"
URO="nbd+unix:///scsi0-lun3?socket=$SOCK"

start_host --test-devices 0 --services none --disk "$IMG" \
	--disk "$RO,ro,lun=3"
start_guest --no-services
wait_until 10 log_has "$GUEST_LOG" "LUN 0 found" || fail "LUN 0 not found"
wait_until 10 log_has "$GUEST_LOG" "LUN 3 found" || fail "LUN 3 not found"
log_has "$GUEST_LOG" "LUN 3 found: 16 MiB, 512-byte blocks, read-only" ||
	fail "LUN 3 not read-only"

# The exports as an NBD client sees them.
nbdinfo "$U" >"$T/info" || fail "nbdinfo"
grep -q 'export-size: 268435456' "$T/info" || fail "size: $(cat "$T/info")"
grep -q 'can_flush: true' "$T/info" && grep -q 'can_fua: true' "$T/info" ||
	fail "flush/fua: $(cat "$T/info")"
grep -q 'block_size_minimum: 1$' "$T/info" &&
	grep -q 'block_size_preferred: 512' "$T/info" || fail "block sizes"
nbdinfo --list "nbd+unix://?socket=$SOCK" >"$T/list" || fail "list"
grep -q 'export="scsi0-lun0"' "$T/list" &&
	grep -q 'export="scsi0-lun3"' "$T/list" || fail "list: $(cat "$T/list")"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode $(stat -c %a "$SOCK")"

# 256 MiB of random data in, compared over NBD and in the host's file.
head -c 256M /dev/urandom >"$T/src.img"
qemu-img convert -n -f raw -O raw "$T/src.img" "$U" || fail "qemu-img convert"
qemu-img compare -f raw -F raw "$T/src.img" "$U" || fail "qemu-img compare"
cmp "$T/src.img" "$IMG" || fail "host image differs from what was written"
nbdcopy --connections=4 "$U" "$T/back.img" || fail "nbdcopy"
cmp "$T/src.img" "$T/back.img" || fail "nbdcopy read back differs"

# The read-only LUN: its bytes, exported read-only.
qemu-img compare -f raw -F raw "$RO" "$URO" || fail "read-only LUN content"
nbdinfo --json "$URO" | grep -q '"is_read_only": true' ||
	fail "read-only LUN exported writable"

# qemu-io: FUA, flush, write zeroes, discard, unaligned lengths.
qemu-io -f raw -c 'write -f -P 0xa5 4096 65536' -c 'flush' \
	-c 'write -z 1M 2M' -c 'discard 8M 1M' -c 'write -P 0x3c 300000 3584' \
	-c 'read -P 0xa5 4096 65536' -c 'read -P 0 1M 2M' -c 'read -P 0 8M 1M' \
	-c 'read -P 0x3c 300000 3584' "$U" >"$T/qio" 2>&1 ||
	fail "qemu-io: $(cat "$T/qio")"
grep -q -i 'fail\|error' "$T/qio" && fail "qemu-io: $(cat "$T/qio")"
cmp -s <(head -c 2M /dev/zero) <(dd if="$IMG" bs=1M skip=1 count=2 2>/dev/null) ||
	fail "write zeroes did not reach the image"

# Requests at any byte (minimum block 1): storvsc reads and writes whole
# blocks, the export read-modify-writes the partial ones. qemu-io into
# and across blocks, a byte, write zeroes, a discard of no whole block;
# then 4 connections writing chunks that share blocks at once
# (nbd_overlap); then the host's image against what NBD reads.
B=$((200 << 20))
qemu-io -f raw -c "write -P 0x5a $B 64k" \
	-c "write -f -P 0xab $((B + 1000)) 3000" -c "write -P 0xcd $((B + 5000)) 1" \
	-c "write -z $((B + 7000)) 3000" -c "discard $((B + 20000)) 100" \
	-c "read -P 0x5a $B 1000" -c "read -P 0xab $((B + 1000)) 3000" \
	-c "read -P 0x5a $((B + 4000)) 1000" -c "read -P 0xcd $((B + 5000)) 1" \
	-c "read -P 0x5a $((B + 5001)) 1999" -c "read -P 0 $((B + 7000)) 3000" \
	-c "read -P 0x5a $((B + 10000)) 55536" "$U" >"$T/qio" 2>&1 ||
	fail "qemu-io at any byte: $(cat "$T/qio")"
grep -q -i 'fail\|error' "$T/qio" && fail "qemu-io at any byte: $(cat "$T/qio")"
"$OVERLAP" "$U" $((210 << 20 | 7)) 2000000 4 3 >"$T/overlap" 2>&1 ||
	fail "nbd_overlap: $(cat "$T/overlap")"
echo "requests at any byte: $(cat "$T/overlap")"
qemu-img compare -f raw -F raw "$IMG" "$U" >/dev/null ||
	fail "host image differs from what NBD reads"

# fio through the nbd engine, random writes of 4 to 128 KiB at depth 32,
# every block verified.
if command -v fio >/dev/null && fio --enghelp 2>&1 | grep -qw nbd; then
	fio --name=verify --ioengine=nbd --uri="$U" --rw=randwrite \
		--bsrange=4k-128k --iodepth=32 --size=64M --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --verify_state_save=0 --output="$T/fio" >/dev/null 2>&1 ||
		fail "fio: $(cat "$T/fio")"
	grep -q 'err= 0' "$T/fio" || fail "fio errors: $(cat "$T/fio")"
else
	echo "fio with the nbd engine not installed: fio part skipped"
fi

# A real filesystem on the synthetic disk: nbdfuse, a loop device, ext4.
if fuse_ok; then
	fuse_attach "$U"
	mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4"
	mount "$LOOP" "$T/mnt" || fail "mount"
	head -c 5M /dev/urandom >"$T/mnt/file1" || fail "write file1"
	head -c 64M "$T/src.img" >"$T/file2" && cp "$T/file2" "$T/mnt/file2" ||
		fail "write file2"
	sync
	cp "$T/mnt/file1" "$T/file1.copy"
	umount "$T/mnt" || fail "umount"
	fsck.ext4 -n -f "$LOOP" >"$T/fsck" 2>&1 || fail "fsck: $(cat "$T/fsck")"
	fuse_detach
	# The same filesystem read straight from the host's image.
	fsck.ext4 -n -f "$IMG" >"$T/fsck2" 2>&1 || fail "fsck of the image: $(cat "$T/fsck2")"
	debugfs -R "dump /file1 $T/file1.host" "$IMG" >/dev/null 2>&1
	cmp "$T/file1.copy" "$T/file1.host" || fail "file read from the image differs"
	debugfs -R "dump /file2 $T/file2.host" "$IMG" >/dev/null 2>&1
	cmp "$T/file2" "$T/file2.host" || fail "big file read from the image differs"
else
	echo "nbdfuse, fuse3 or root missing: filesystem part skipped"
fi

# Get-VMHardDiskDrive: both disks with counters.
ctl disk list >"$T/disks" || fail "disk list"
grep -q "SCSI .* 0 .* 268435456 no .* scsi0-lun0 .*disk.img" "$T/disks" ||
	fail "list: $(cat "$T/disks")"
grep -q "SCSI .* 3 .* 16777216 yes .*ro.img" "$T/disks" || fail "list: $(cat "$T/disks")"
ctl disk list --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["schema"] == "hvis.disks/1", d
l0 = [x for x in d["disks"] if x["controller_location"] == 0][0]
assert l0["io"]["writes"] > 0 and l0["io"]["bytes_written"] >= 256 << 20, l0
assert l0["io"]["errors"] == 0, l0
assert l0["guest_export"] == "scsi0-lun0", l0
' || fail "disk list --json"

# Resize: the guest sees the new size (unit attention, rescan).
ctl disk resize --controller 0 --lun 0 --size 512M || fail "resize"
nbdinfo "$U" >/dev/null # an I/O that meets the unit attention
wait_until 10 log_has "$GUEST_LOG" "LUN 0 resized: 512 MiB" || fail "resize not seen"
nbdinfo --size "$U" | grep -qx 536870912 || fail "export size after resize"

# Hot remove: the export goes; the other LUN stays.
ctl disk remove --controller 0 --lun 3 || fail "disk remove"
wait_until 10 log_has "$GUEST_LOG" "LUN 3 removed" || fail "removal not seen"
nbdinfo "$URO" >/dev/null 2>&1 && fail "removed LUN still exported"
nbdinfo "$U" >/dev/null || fail "LUN 0 lost after removing LUN 3"

# Hot add: a new disk appears with its export.
head -c 8M /dev/urandom >"$T/new.img"
ctl disk add "$T/new.img" --lun 5 | grep -q 'controller 0 lun 5' || fail "disk add"
wait_until 10 log_has "$GUEST_LOG" "LUN 5 found" || fail "added LUN not seen"
qemu-img compare -f raw -F raw "$T/new.img" \
	"nbd+unix:///scsi0-lun5?socket=$SOCK" || fail "added LUN content"
out=$(ctl disk add "$T/new.img" --lun 5 2>&1) && fail "LUN reuse accepted"
[[ $out == *"is in use"* ]] || fail "LUN reuse: $out"
out=$(ctl disk add "$T/nope.img" 2>&1) && fail "missing image accepted"
[[ $out == *"No such file"* ]] || fail "missing image: $out"
# Paths with blanks and commas, through hvis-ctl as given.
cp "$T/new.img" "$T/a b,c.img"
ctl disk add "$T/a b,c.img" --lun 6 | grep -q 'controller 0 lun 6' ||
	fail "disk add of a path with a blank and a comma"
wait_until 10 log_has "$GUEST_LOG" "LUN 6 found" || fail "LUN 6 not seen"
ctl disk list | grep -q "a b,c.img" || fail "list: $(ctl disk list)"

# SIGTERM ends both within a second, cleanly (ASan checks for leaks).
start=$(date +%s%N)
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt 2000 ] || fail "stopping took $ms ms"
[ -e "$SOCK" ] && fail "NBD socket left behind"
echo "PASS"
