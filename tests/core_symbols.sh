#!/usr/bin/env bash
# The core must link into a kernel: its archive may reference no symbol
# beyond the platform interface (core/plat.h) and the four memory functions
# compilers emit calls to.
set -euo pipefail
lib=$1
allowed='^(memcpy|memmove|memset|memcmp|hvis_plat_zalloc|hvis_plat_free)$'
undef=$(nm -u --format=posix "$lib" | awk 'NF >= 2 && $2 == "U" {print $1}' | sort -u)
bad=$(grep -Ev "$allowed" <<<"$undef" || true)
if [ -n "$bad" ]; then
  echo "core references symbols outside the platform interface:"
  echo "$bad"
  exit 1
fi
echo "core undefined symbols: $(tr '\n' ' ' <<<"$undef")"
