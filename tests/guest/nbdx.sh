#!/usr/bin/env bash
# The guest's NBD export server (guest/os/nbdx) against real clients:
# nbdx_ram serves a RAM disk through it ("disk" read-write, "ro" the same
# bytes read-only), completing requests out of order from another
# thread, with a buffer pool small enough to run dry. nbdinfo, qemu-img,
# qemu-io, nbdcopy (4 connections) and nbdfuse + ext4 read and write it
# over the Unix socket and TCP; requests at any byte (qemu-io, and
# nbd_overlap: 4 connections writing into shared blocks at once); then
# EIO injection (reads of partial blocks failing too), removal of an
# export under load, a client that never reads its replies, and SIGTERM,
# each server exiting 0 (ASan's leak check included) within a second.
# Usage: nbdx.sh NBDX_RAM NBD_OVERLAP
source "$(dirname "$0")/../integration/lib.sh" "$1" - -
BIN=$1
OVERLAP=$2
CLIENT=$(dirname "$0")/nbdx_client.py
for p in nbdinfo nbdcopy qemu-img qemu-io python3; do
	command -v "$p" >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done
declare -A SRV

fail() {
	echo "FAIL: $*"
	for f in "$T"/*.log; do echo "--- $f"; cat "$f"; done
	exit 1
}

# start_srv NAME ARGS...: nbdx_ram on $T/NAME.sock, log $T/NAME.log.
start_srv() {
	local name=$1; shift
	"$BIN" "$T/$name.sock" "$@" 2>"$T/$name.log" &
	SRV[$name]=$!
	_pids+=($!)
	wait_until 10 log_has "$T/$name.log" "serving" ||
		fail "server $name did not start"
}

# stop_srv NAME: SIGTERM; exit 0 within a second, socket gone.
stop_srv() {
	local start ms rc
	start=$(date +%s%N)
	kill -TERM "${SRV[$1]}"
	wait "${SRV[$1]}"
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	[ "$rc" -eq 0 ] || fail "server $1 exited $rc"
	[ "$ms" -lt 1000 ] || fail "server $1 took $ms ms to stop"
	[ -e "$T/$1.sock" ] && fail "server $1 left its socket"
	echo "server $1 stopped in $ms ms"
}

count_ram() { grep -c '^nbdx_ram: ram ' "$1"; }
more_ram() { [ "$(count_ram "$1")" -gt "$2" ]; }

# stats NAME WHAT: the line of export WHAT (or "ram") printed on SIGUSR1.
stats() {
	local log=$T/$1.log n
	n=$(count_ram "$log")
	kill -USR1 "${SRV[$1]}"
	wait_until 5 more_ram "$log" "$n" || fail "no counters from $1"
	if [ "$2" = ram ]; then
		grep '^nbdx_ram: ram ' "$log" | tail -1
	else
		grep "^nbdx_ram: stats $2 " "$log" | tail -1
	fi
}
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }

uri() { echo "nbd+unix:///$2?socket=$T/$1.sock"; }

# ---- the main server: a pool of 6 buffers, TCP on a free port ----
for _ in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 40000))
	"$BIN" "$T/main.sock" --tcp "$PORT" --bufs 6 2>"$T/main.log" &
	SRV[main]=$!
	_pids+=($!)
	wait_until 10 log_has "$T/main.log" "serving\|nbdx_ram: 127"
	log_has "$T/main.log" serving && break
done
log_has "$T/main.log" serving || fail "main server did not start"
U=$(uri main disk)
URO=$(uri main ro)
[ "$(stat -c %a "$T/main.sock")" = 600 ] || fail "socket mode $(stat -c %a "$T/main.sock")"
"$BIN" "$T/main.sock" 2>"$T/again.out" && fail "second server on the same path"
grep -q "exists already" "$T/again.out" || fail "refusal: $(cat "$T/again.out")"
rm -f "$T/again.out"

# nbdinfo: GO with every item, LIST with descriptions, INFO per export.
nbdinfo "$U" >"$T/info" || fail "nbdinfo"
for want in 'export-size: 134217728' 'block_size_minimum: 1' \
	'block_size_preferred: 512' 'block_size_maximum: 1048576' \
	'can_flush: true' 'can_fua: true' 'can_multi_conn: true' \
	'can_trim: true' 'can_zero: true' 'can_fast_zero: false' \
	'is_read_only: false' 'description: RAM disk'; do
	grep -q "$want" "$T/info" || fail "nbdinfo: no '$want': $(cat "$T/info")"
done
nbdinfo --list "nbd+unix://?socket=$T/main.sock" >"$T/list" || fail "list"
grep -q 'export="disk"' "$T/list" && grep -q 'export="ro"' "$T/list" &&
	grep -q 'description: RAM disk, read-only' "$T/list" ||
	fail "list: $(cat "$T/list")"
nbdinfo --json "$URO" | grep -q '"is_read_only": true' || fail "ro writable"
nbdinfo --size "nbd+unix://?socket=$T/main.sock" | grep -qx 134217728 ||
	fail "default export"
nbdinfo "$(uri main nope)" >/dev/null 2>&1 && fail "unknown export opened"

# qemu-img: 64 MiB of random data in and compared; nbdcopy reads it
# back over 4 connections of the read-only export.
head -c 64M /dev/urandom >"$T/src.img"
qemu-img convert -n -f raw -O raw "$T/src.img" "$U" || fail "qemu-img convert"
qemu-img compare -f raw -F raw "$T/src.img" "$U" || fail "qemu-img compare"
nbdcopy --connections=4 "$URO" "$T/back.img" || fail "nbdcopy read"
cmp -n $((64 << 20)) "$T/back.img" "$T/src.img" || fail "nbdcopy read back differs"

# nbdcopy writing over 4 connections (multi-conn), checked by qemu-img.
head -c 64M /dev/urandom >"$T/src2.img"
nbdcopy --connections=4 "$T/src2.img" "$U" || fail "nbdcopy write"
qemu-img compare -f raw -F raw "$T/src2.img" "$(uri main disk)" ||
	fail "nbdcopy write differs"

# TCP on 127.0.0.1.
TU="nbd://127.0.0.1:$PORT/disk"
nbdinfo --size "$TU" | grep -qx 134217728 || fail "TCP nbdinfo"
qemu-img compare -f raw -F raw "$T/src2.img" "$TU" || fail "TCP compare"

# The read-only export refuses writes.
out=$(python3 "$CLIENT" "$T/main.sock" ro write) && [ "$out" = error=1 ] ||
	fail "ro write not refused with EPERM: $out"
qemu-img compare -f raw -F raw "$T/src2.img" "$U" >/dev/null ||
	fail "ro write changed the disk"

# qemu-io (past the 64 MiB compared above): mixed sizes (unaligned ones read-modify-write), FUA, aio,
# write zeroes, discard, flush; every pattern read back.
qemu-io -f raw \
	-c 'write -P 0x11 80M 512' -c 'write -P 0x22 81M 4k' \
	-c 'write -f -P 0x33 82M 1M' -c 'write -P 0x44 84M 3M' \
	-c 'write -P 0x55 95000000 1000' \
	-c 'aio_write -P 0x66 96M 64k' -c 'aio_write -P 0x77 97M 512k' \
	-c 'aio_write -P 0x88 98M 4k' -c 'aio_flush' \
	-c 'write -z 84M 1M' -c 'discard 86M 1M' -c 'flush' \
	-c 'read -P 0x11 80M 512' -c 'read -P 0x22 81M 4k' \
	-c 'read -P 0x33 82M 1M' -c 'read -P 0 84M 1M' \
	-c 'read -P 0x44 85M 1M' -c 'read -P 0 86M 1M' \
	-c 'read -P 0x55 95000000 1000' -c 'aio_read -P 0x66 96M 64k' \
	-c 'aio_read -P 0x77 97M 512k' -c 'aio_read -P 0x88 98M 4k' \
	-c 'aio_flush' "$U" >"$T/qio" 2>&1 || fail "qemu-io: $(cat "$T/qio")"
grep -qi 'fail\|error' "$T/qio" && fail "qemu-io: $(cat "$T/qio")"

# Requests at any byte, as qemu-io sends them to a minimum block of 1:
# writes into and across blocks (read-modify-write) around a known
# background, a byte, write zeroes, a discard covering no whole block
# (nothing changes), aio writes into one block at once, reads across
# block edges.
B=$((100 << 20))
qemu-io -f raw -c "write -P 0x5a $B 64k" \
	-c "write -P 0xab $((B + 1000)) 3000" -c "write -P 0xcd $((B + 5000)) 1" \
	-c "write -z $((B + 7000)) 3000" -c "discard $((B + 20000)) 100" \
	-c "aio_write -P 0x11 $((B + 30000)) 10" \
	-c "aio_write -P 0x22 $((B + 30010)) 10" \
	-c "aio_write -P 0x33 $((B + 30020)) 10" -c aio_flush \
	-c "read -P 0x5a $B 1000" -c "read -P 0xab $((B + 1000)) 3000" \
	-c "read -P 0x5a $((B + 4000)) 1000" -c "read -P 0xcd $((B + 5000)) 1" \
	-c "read -P 0x5a $((B + 5001)) 1999" -c "read -P 0 $((B + 7000)) 3000" \
	-c "read -P 0x5a $((B + 10000)) 10000" \
	-c "read -P 0x5a $((B + 20000)) 100" \
	-c "read -P 0x11 $((B + 30000)) 10" -c "read -P 0x22 $((B + 30010)) 10" \
	-c "read -P 0x33 $((B + 30020)) 10" \
	-c "read -P 0x5a $((B + 30030)) 35506" "$U" >"$T/qio" 2>&1 ||
	fail "qemu-io at any byte: $(cat "$T/qio")"
grep -qi 'fail\|error' "$T/qio" && fail "qemu-io at any byte: $(cat "$T/qio")"
# 4 connections writing chunks of 1 to 1200 bytes that share blocks, at
# once, 3 rounds each read back whole and at random bytes.
"$OVERLAP" "$U" $((110 << 20 | 1)) 2000000 4 3 >"$T/overlap" 2>&1 ||
	fail "nbd_overlap: $(cat "$T/overlap")"
echo "requests at any byte: ok ($(cat "$T/overlap"))"

# A filesystem: nbdfuse, a loop device, ext4; then its bytes over NBD.
if fuse_ok; then
	fuse_attach "$U"
	mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4"
	mount "$LOOP" "$T/mnt" || fail "mount"
	head -c 5M /dev/urandom >"$T/file1" && cp "$T/file1" "$T/mnt/file1" ||
		fail "write file1"
	cp "$T/src.img" "$T/mnt/file2" || fail "write file2"
	sync
	umount "$T/mnt" || fail "umount"
	fsck.ext4 -n -f "$LOOP" >"$T/fsck.out" 2>&1 || fail "fsck: $(cat "$T/fsck.out")"
	fuse_detach
	nbdcopy "$URO" "$T/fs.img" || fail "nbdcopy of the filesystem"
	fsck.ext4 -n -f "$T/fs.img" >"$T/fsck.out" 2>&1 ||
		fail "fsck over NBD: $(cat "$T/fsck.out")"
	debugfs -R "dump /file1 $T/file1.nbd" "$T/fs.img" >/dev/null 2>&1
	cmp "$T/file1" "$T/file1.nbd" || fail "file1 read over NBD differs"
	debugfs -R "dump /file2 $T/file2.nbd" "$T/fs.img" >/dev/null 2>&1
	cmp "$T/src.img" "$T/file2.nbd" || fail "file2 read over NBD differs"
	rm -f "$T/fs.img" "$T/file1.nbd" "$T/file2.nbd" "$T/fsck.out"
	echo "filesystem on nbdfuse: ok"
else
	echo "SKIP part: nbdfuse, fusermount3 (fuse3), /dev/fuse, a loop device or root missing: no filesystem test"
fi

# The pool ran dry (nbdx waited for buffers), nothing failed, and
# SIGTERM with a client copying ends the server within a second.
line=$(stats main ram)
[ "$(field "$line" dry)" -gt 0 ] || fail "the pool never ran dry: $line"
line=$(stats main ro)
[ "$(field "$line" errors)" -gt 0 ] || fail "ro writes not counted: $line"
line=$(stats main disk)
[ "$(field "$line" writes)" -gt 0 ] && [ "$(field "$line" trims)" -gt 0 ] &&
	[ "$(field "$line" zeroes)" -gt 0 ] && [ "$(field "$line" flushes)" -gt 0 ] ||
	fail "counters: $line"
nbdcopy --connections=4 "$URO" "$T/busy.img" 2>/dev/null &
COPY=$!
sleep 0.2
stop_srv main
wait "$COPY"
grep -q 'released disk' "$T/main.log" && grep -q 'released ro' "$T/main.log" ||
	fail "exports not released at stop"
rm -f "$T"/*.img

# ---- EIO injected into a quarter of the requests ----
start_srv eio --eio 25
args=()
for i in $(seq 0 199); do args+=(-c "read $((i * 4096)) 4k"); done
qemu-io -r -f raw "${args[@]}" "$(uri eio disk)" >"$T/qio" 2>&1
failed=$(grep -c 'read failed: Input/output error' "$T/qio")
line=$(stats eio ram)
injected=$(field "$line" injected)
line=$(stats eio disk)
[ "$injected" -gt 0 ] || fail "nothing injected: $line"
[ "$failed" -eq "$injected" ] && [ "$(field "$line" errors)" -eq "$injected" ] ||
	fail "injected $injected, client saw $failed: $line"
args=()
for i in $(seq 0 99); do args+=(-c "aio_write -P 5 $((i * 65536)) 64k"); done
qemu-io -f raw "${args[@]}" -c aio_flush "$(uri eio disk)" >"$T/qio" 2>&1
failed=$(grep -c 'write failed: Input/output error' "$T/qio")
more=$(($(field "$(stats eio ram)" injected) - injected))
line=$(stats eio disk)
# A failed FLUSH (qemu's own, on close) may reach no output line.
[ "$failed" -ge $((more - $(field "$line" flushes))) ] &&
	[ "$(field "$line" errors)" -eq $((injected + more)) ] ||
	fail "writes: injected $more, client saw $failed: $line"
# Unaligned writes: a failure of the read of a partial block or of the
# write is one failed request; every failed one was counted, and beside
# them at most the two FLUSHes (aio_flush, qemu's own at the end).
errs=$(field "$line" errors)
args=()
for i in $(seq 0 99); do args+=(-c "aio_write -P 6 $((i * 4096 + 100)) 1000"); done
qemu-io -f raw "${args[@]}" -c aio_flush "$(uri eio disk)" >"$T/qio" 2>&1
failed=$(grep -c 'write failed: Input/output error' "$T/qio")
line=$(stats eio disk)
[ "$failed" -gt 0 ] && [ "$(field "$line" errors)" -ge $((errs + failed)) ] &&
	[ "$(field "$line" errors)" -le $((errs + failed + 2)) ] ||
	fail "unaligned writes: client saw $failed failed: $line"
stop_srv eio

# ---- removal of "disk" 1.5 s into a load on it ----
head -c 64M /dev/urandom >"$T/src.img"
start_srv rm --remove-after 1500 --bufs 8
(while nbdcopy --connections=4 "$T/src.img" "$(uri rm disk)"; do :; done) \
	2>"$T/rm-copy.out" &
COPY=$!
(while qemu-io -f raw -c 'aio_write -P 1 96M 1M' -c 'aio_write -P 2 97M 1M' \
	-c 'read -P 1 96M 1M' -c 'aio_flush' "$(uri rm disk)" >"$T/rm-qio.out" 2>&1 &&
	! grep -q failed "$T/rm-qio.out"; do :; done) &
QIO=$!
wait_until 10 log_has "$T/rm.log" "released disk" || fail "disk not released"
wait_until 10 bash -c "! kill -0 $COPY 2>/dev/null && ! kill -0 $QIO 2>/dev/null" ||
	fail "clients still running after the removal"
# Each loop ends only on an error of its client.
wait "$COPY" "$QIO"
[ -s "$T/rm-copy.out" ] && [ -s "$T/rm-qio.out" ] || fail "no client error"
nbdinfo "$(uri rm disk)" >/dev/null 2>&1 && fail "removed export still opens"
nbdinfo --list "nbd+unix://?socket=$T/rm.sock" | grep -q 'export="disk"' &&
	fail "removed export still listed"
qemu-io -r -f raw -c 'read 0 1M' "$(uri rm ro)" >"$T/qio" 2>&1 &&
	! grep -q failed "$T/qio" || fail "ro lost with disk: $(cat "$T/qio")"
stop_srv rm
rm -f "$T/src.img"

# ---- a client that never reads its replies is cut off ----
start_srv slow --bufs 200
python3 "$CLIENT" "$T/slow.sock" disk slow 256 65536 12 >"$T/slow.out" 2>&1 &
SLOW=$!
_pids+=($SLOW)
wait_until 5 grep -q sent "$T/slow.out" || fail "slow client: $(cat "$T/slow.out")"
end=$(($(date +%s) + 11))
runs=0
while [ "$(date +%s)" -lt "$end" ]; do
	qemu-io -f raw -c 'write -P 9 100M 1M' -c 'read -P 9 100M 1M' \
		"$(uri slow disk)" >"$T/qio" 2>&1 && ! grep -q failed "$T/qio" ||
		fail "a client beside the slow one: $(cat "$T/qio")"
	runs=$((runs + 1))
done
wait "$SLOW" || fail "slow client not cut off: $(cat "$T/slow.out")"
line=$(stats slow disk)
[ "$(field "$line" cut_off)" -eq 1 ] || fail "cut-off not counted: $line"
echo "slow client cut off ($(tail -1 "$T/slow.out")), $runs qemu-io runs beside it"
stop_srv slow
echo PASS
