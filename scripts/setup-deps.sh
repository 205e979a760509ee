#!/usr/bin/env bash
# Install the Debian 12 packages hvis needs, only those that are missing.
# Usage: scripts/setup-deps.sh [build|test|all]   (default: all)
set -euo pipefail

# liburing and libnbd: storvsp's disk backends (io_uring, NBD servers).
# libpcap-dev: netvsp's packet capture (hvis-ctl nic capture).
build_pkgs=(gcc make meson ninja-build pkg-config python3 libjansson-dev
            liburing-dev libnbd-dev libpcap-dev)
# systemd (systemd-analyze), man-db, groff-base and bash-completion: the
# install test (tests/install.sh) checks units, man pages, completions.
# nbdkit, fuse3 (nbdfuse's fusermount3) and fio: the storage tests.
# ethtool, iputils-ping, netcat-openbsd: the network tests; iperf3:
# int-net-iperf's TCP and UDP runs with the offloads on and off,
# hvis-bench net's end-to-end rows and int-net-faults' traffic; tcpdump
# reads and takes int-net-ctl's captures.
# ucarp: the CARP failover test between two VMs (int-net-carp).
# libdpdk-dev: test_rss compares the RSS hash with DPDK's rte_softrss.
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev iproute2 util-linux
           e2fsprogs procps chrony hyperv-daemons libnbd-bin qemu-utils
           systemd man-db groff-base bash-completion
           nbdkit fuse3 fio ethtool libdpdk-dev iputils-ping
           netcat-openbsd iperf3 ucarp tcpdump)

case "${1:-all}" in
  build) want=("${build_pkgs[@]}") ;;
  test|all) want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
# hyperv-daemons and chrony ship services: installing must not start them
# (tests run their own chronyd with a private config). Without a
# policy-rc.d already in place, one refuses service starts during the
# install and is removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" env RUNLEVEL=1 apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef "${missing[@]}" >/dev/null
