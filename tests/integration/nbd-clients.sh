#!/usr/bin/env bash
# Real NBD clients against the core/nbd engine: nbd_loopback serves a RAM
# disk through it on a Unix socket, and nbdinfo (GO, INFO, LIST), qemu-img
# (info, convert, compare), qemu-io (unaligned writes, FUA, flush, trim,
# write zeroes) and nbdcopy (several connections) read and write it; the
# data must come back as written and no connection may end for a
# protocol violation. Skipped when the clients are not installed.
# Usage: nbd-clients.sh NBD_LOOPBACK
set -uo pipefail
BIN=$1
for p in nbdinfo nbdcopy qemu-img qemu-io; do
	command -v "$p" >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/hvis-nbd.XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	echo "--- server log"; cat "$T/server.log"
	exit 1
}

SOCK=$T/nbd.sock
"$BIN" "$SOCK" 32 2>"$T/server.log" &
PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || fail "server did not start"
URI="nbd+unix:///disk?socket=$SOCK"
RO="nbd+unix:///ro?socket=$SOCK"

# nbdinfo: GO with every information item, LIST then INFO per export.
nbdinfo "$URI" >"$T/info" || fail "nbdinfo"
grep -q 'export-size: 33554432' "$T/info" || fail "size: $(cat "$T/info")"
grep -q 'can_multi_conn: true' "$T/info" || fail "multi-conn: $(cat "$T/info")"
grep -q 'can_fast_zero: true' "$T/info" || fail "fast zero: $(cat "$T/info")"
grep -q 'block_size_preferred: 4096' "$T/info" || fail "block sizes"
nbdinfo --list "nbd+unix://?socket=$SOCK" >"$T/list" || fail "nbdinfo --list"
grep -q 'export="disk"' "$T/list" && grep -q 'export="ro"' "$T/list" ||
	fail "list: $(cat "$T/list")"
grep -q 'description: RAM disk' "$T/list" || fail "description"
nbdinfo --json "$RO" | grep -q '"is_read_only": true' || fail "read-only"
nbdinfo "nbd+unix:///nope?socket=$SOCK" >/dev/null 2>&1 && fail "unknown export"

# qemu-img: a random image in, compared, and read back by nbdcopy over
# several connections.
head -c 32M /dev/urandom >"$T/src.img"
qemu-img info -f raw "$URI" | grep -q 'virtual size: 32 MiB' ||
	fail "qemu-img info"
qemu-img convert -n -f raw -O raw "$T/src.img" "$URI" ||
	fail "qemu-img convert"
qemu-img compare -f raw -F raw "$T/src.img" "$URI" ||
	fail "qemu-img compare"
nbdcopy --connections=4 "$RO" "$T/back.img" || fail "nbdcopy read"
cmp "$T/src.img" "$T/back.img" || fail "nbdcopy read back differs"

# qemu-io: unaligned and FUA writes, flush, trim, write zeroes.
qemu-io -f raw \
	-c 'write -P 0xab 1000 3000' -c 'read -P 0xab 1000 3000' \
	-c 'write -f -P 0xcd 12345 1' -c 'read -P 0xcd 12345 1' \
	-c 'flush' -c 'discard 65536 65536' -c 'read -P 0 65536 65536' \
	-c 'write -z 131072 4096' -c 'read -P 0 131072 4096' \
	"$URI" >"$T/qio" 2>&1 || fail "qemu-io: $(cat "$T/qio")"
grep -qi 'error\|fail' "$T/qio" && fail "qemu-io: $(cat "$T/qio")"

# nbdcopy writing over several connections, read back by qemu-img.
head -c 32M /dev/urandom >"$T/src2.img"
nbdcopy --connections=4 "$T/src2.img" "$URI" || fail "nbdcopy write"
qemu-img compare -f raw -F raw "$T/src2.img" "$URI" ||
	fail "nbdcopy write differs"

kill "$PID"; wait "$PID" 2>/dev/null; PID=
grep -q '^conn: ' "$T/server.log" || fail "no connection reported"
grep '^conn: ' "$T/server.log" | grep -v ' fatal=0 ' && fail "protocol violation"
grep -qv '^conn: ' "$T/server.log" && fail "server complained"
echo "nbd clients: ok ($(grep -c '^conn: ' "$T/server.log") connections)"
