#!/usr/bin/env bash
# Synthetic storage under faults, with real servers behind the host's NBD
# backend: a VHDX image served by qemu-nbd (written by the guest, then
# checked by qemu-img check); nbdkit's error filter failing a share of
# reads and writes (every failure reaches the NBD client as an error, the
# rest is intact, the guest stays up; writes inside a block, whose
# read-modify-write reads fail too, are each done whole or not at all); a disk removed under fio (the job
# fails, the guest stays up); a host killed with SIGKILL right
# after a FLUSH (every flushed write is in the image); a guest killed
# mid-I/O (the host releases everything and serves the next guest); and
# hot add and remove of a LUN repeated while I/O runs on another; and a
# host whose channel workers poll.
# Usage: storage-faults.sh HOST GUEST CTL
source "$(dirname "$0")/lib.sh"
for p in nbdinfo qemu-img qemu-io qemu-nbd nbdkit; do
	command -v "$p" >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done
SOCK=$T/nbd.sock
lun() { echo "nbd+unix:///scsi0-lun$1?socket=$SOCK"; }
found() { wait_until 10 log_has "$GUEST_LOG" "LUN $1 found" || fail "LUN $1 not found"; }

# ---- VHDX through qemu-nbd, and an error-injecting nbdkit ----
qemu-img create -q -f vhdx "$T/disk.vhdx" 64M || fail "qemu-img create vhdx"
qemu-nbd -f vhdx -k "$T/qnbd.sock" --cache=none "$T/disk.vhdx" &
_pids+=($!)
nbdkit -U "$T/kit.sock" -f --filter=error memory 64M error-rate=20% \
	error=EIO error-file="$T/errors-on" &
_pids+=($!)
wait_until 10 test -S "$T/qnbd.sock" || fail "qemu-nbd did not start"
wait_until 10 test -S "$T/kit.sock" || fail "nbdkit did not start"
truncate -s 64M "$T/plain.img"
start_host --test-devices 0 --services none \
	--disk "nbd+unix:///?socket=$T/qnbd.sock,lun=0" \
	--disk "nbd+unix:///?socket=$T/kit.sock,lun=1" \
	--disk "$T/plain.img,lun=2"
start_guest --no-services
found 0; found 1; found 2

head -c 32M /dev/urandom >"$T/src"
qemu-img convert -n -f raw -O raw "$T/src" "$(lun 0)" || fail "write to VHDX"
# The disk is larger than src: compare also checks that the rest is zero.
qemu-img compare -f raw -F raw "$T/src" "$(lun 0)" >/dev/null ||
	fail "VHDX content over NBD"

# nbdkit fails 20% of requests while errors-on exists.
qemu-img convert -n -f raw -O raw "$T/src" "$(lun 1)" || fail "write before errors"
touch "$T/errors-on"
ok=0 bad=0
for i in $(seq 0 63); do
	if qemu-io -f raw -c "read -P 0 $((i * 65536 + 33554432)) 64k" "$(lun 1)" \
		>"$T/qio" 2>&1 && ! grep -q 'failed' "$T/qio"; then
		ok=$((ok + 1))
	else
		grep -q 'Input/output error' "$T/qio" || fail "not EIO: $(cat "$T/qio")"
		bad=$((bad + 1))
	fi
done
rm -f "$T/errors-on"
[ "$bad" -gt 0 ] && [ "$ok" -gt 0 ] || fail "error filter: $ok good, $bad failed reads"
qemu-img compare -f raw -F raw "$T/src" "$(lun 1)" >/dev/null ||
	fail "data behind the error filter changed"
# Writes of 100 bytes inside a block (read-modify-write: the block's
# read fails as often as the write): each EIO or done, and afterwards
# each one's bytes there or not at all, its neighbours untouched.
touch "$T/errors-on"
wok=() wbad=0
for i in $(seq 0 63); do
	off=$((i * 65536 + 33554432 + 1000))
	if qemu-io -f raw -c "write -P 0x77 $off 100" "$(lun 1)" >"$T/qio" 2>&1 &&
		! grep -q 'failed' "$T/qio"; then
		wok+=("$off")
	else
		grep -q 'Input/output error' "$T/qio" || fail "not EIO: $(cat "$T/qio")"
		wbad=$((wbad + 1))
	fi
done
rm -f "$T/errors-on"
[ "$wbad" -gt 0 ] && [ "${#wok[@]}" -gt 0 ] ||
	fail "error filter: ${#wok[@]} good, $wbad failed writes"
for i in $(seq 0 63); do
	off=$((i * 65536 + 33554432 + 1000)) p=0
	[[ " ${wok[*]} " == *" $off "* ]] && p=0x77
	qemu-io -f raw -c "read -P 0 $((off - 1000)) 1000" -c "read -P $p $off 100" \
		-c "read -P 0 $((off + 100)) 1000" "$(lun 1)" >"$T/qio" 2>&1 &&
		! grep -q 'fail' "$T/qio" || fail "write at $off (pattern $p): $(cat "$T/qio")"
done
ctl disk list --json | python3 -c '
import json, sys
d = {x["controller_location"]: x for x in json.load(sys.stdin)["disks"]}
assert d[1]["io"]["errors"] > 0, d[1]
assert d[0]["io"]["errors"] == 0 and d[2]["io"]["errors"] == 0, d
' || fail "error counters: $(ctl disk list)"
vm_running || fail "guest not running after backend errors"

# ---- hot add and remove, repeated, while LUN 2 is busy ----
head -c 16M /dev/urandom >"$T/busy"
( for _ in $(seq 20); do
	qemu-img convert -n -f raw -O raw "$T/busy" "$(lun 2)" || exit 1
  done ) &
io=$!
head -c 1M /dev/urandom >"$T/hot.img"
for i in $(seq "${HVIS_HOTPLUG_ROUNDS:-100}"); do
	ctl disk add "$T/hot.img" --lun 7 >/dev/null || fail "add round $i"
	ctl disk remove --controller 0 --lun 7 >/dev/null || fail "remove round $i"
done
wait "$io" || fail "I/O on LUN 2 failed during hot add/remove"
cmp <(head -c 16M "$T/plain.img") "$T/busy" || fail "LUN 2 data during hot plug"
ctl disk add "$T/hot.img" --lun 7 >/dev/null || fail "final add"
wait_until 10 nbdinfo "$(lun 7)" || fail "LUN 7 not exported after the rounds"
qemu-img compare -f raw -F raw "$T/hot.img" "$(lun 7)" || fail "LUN 7 content"

# ---- hot remove under fio: the job fails cleanly, the guest stays up ----
if command -v fio >/dev/null && fio --enghelp 2>&1 | grep -qw nbd; then
	head -c 8M /dev/urandom >"$T/victim.img"
	ctl disk add "$T/victim.img" --lun 6 >/dev/null || fail "add LUN 6"
	wait_until 10 nbdinfo "$(lun 6)" || fail "LUN 6 not exported"
	timeout 30 fio --name=victim --ioengine=nbd --uri="$(lun 6)" \
		--rw=randwrite --bs=4k --iodepth=8 --time_based --runtime=20 \
		--output="$T/victim.fio" >/dev/null 2>&1 &
	vpid=$!
	sleep 1
	ctl disk remove --controller 0 --lun 6 >/dev/null || fail "remove LUN 6"
	wait "$vpid"
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] ||
		fail "fio on a removed LUN: exit $rc: $(cat "$T/victim.fio")"
	vm_running || fail "guest not running after the hot remove"
	nbdinfo "$(lun 2)" >/dev/null || fail "LUN 2 lost with LUN 6"
fi

# ---- the guest killed mid-I/O: the host serves the next one ----
( qemu-img convert -n -f raw -O raw "$T/src" "$(lun 2)" 2>/dev/null ) &
sleep 0.2
kill -KILL "$GUEST_PID"
wait "$GUEST_PID" 2>/dev/null
wait_until 10 sh -c "! \"$CTL_BIN\" --dir \"$T\" vm show | grep -q 'Running'" ||
	fail "host did not see the guest go"
# the dead guest's NBD socket is stale: the next guest replaces it
start_guest --no-services
wait_until 10 vm_running || fail "second guest not running"
wait_until 10 nbdinfo "$(lun 2)" || fail "second guest: LUN 2 not exported"

# ---- the host killed after a FLUSH: the flushed data is in the image ----
qemu-io -f raw -c 'write -P 0x6b 1M 4M' -c 'flush' "$(lun 2)" >/dev/null ||
	fail "write + flush"
kill -KILL "$HOST_PID"
wait "$HOST_PID" 2>/dev/null
cmp <(head -c 4M /dev/zero | tr '\0' '\153') \
	<(dd if="$T/plain.img" bs=1M skip=1 count=4 2>/dev/null) ||
	fail "flushed data not in the image after SIGKILL"
wait "$GUEST_PID" 2>/dev/null
kill -TERM "$GUEST_PID" 2>/dev/null

# The VHDX image is consistent after all of it.
for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
qemu-img check -q -f vhdx "$T/disk.vhdx" || fail "qemu-img check of the VHDX"
qemu-img convert -f vhdx -O raw "$T/disk.vhdx" "$T/vhdx.raw" &&
	cmp -n $((32 << 20)) "$T/src" "$T/vhdx.raw" || fail "VHDX content"

# ---- a polling host: its spinning workers reap the disk's completions ----
# (the image's name holds a comma: doubled in --disk)
rm -f "$T/vmbus.sock" "$T/ctl.sock"
mv "$T/plain.img" "$T/plain,1.img"
start_host --test-devices 0 --services none --poll --disk "$T/plain,,1.img"
start_guest --no-services
wait_until 10 nbdinfo "$(lun 0)" || fail "polling host: LUN 0 not exported"
qemu-img convert -n -f raw -O raw "$T/src" "$(lun 0)" ||
	fail "polling host: convert"
qemu-img compare -f raw -F raw "$T/src" "$(lun 0)" >/dev/null ||
	fail "polling host: the guest reads other bytes"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
cmp -n $((32 << 20)) "$T/src" "$T/plain,1.img" ||
	fail "polling host: the image differs"
echo "PASS"
