#!/usr/bin/env bash
# Install the Debian 12 packages hvis needs, only those that are missing.
# Usage: scripts/setup-deps.sh [build|test|all]   (default: all)
set -euo pipefail

build_pkgs=(gcc make meson ninja-build pkg-config python3)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev iproute2 util-linux
           e2fsprogs chrony hyperv-daemons)

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
"${sudo[@]}" apt-get update -qq
# hyperv-daemons and chrony ship services; never start them here.
"${sudo[@]}" env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef "${missing[@]}" >/dev/null
