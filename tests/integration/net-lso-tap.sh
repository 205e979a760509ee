#!/usr/bin/env bash
# core/net's checksum and LSO fix-ups against the kernel (net_lso_tap.c):
# sends written into a TAP with a virtio-net header, forwarded and
# segmented by Linux, read back and verified. Needs root, /dev/net/tun
# and iproute2 (a network namespace of its own): skipped otherwise.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no iproute2"; exit 77; }
exec unshare --net "$1"
