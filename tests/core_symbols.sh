#!/usr/bin/env bash
# The core must link into a kernel: its archive may reference no symbol
# beyond the platform interface (core/plat.h), the four memory functions
# compilers emit calls to, and the GOT the linker provides for PIC code.
# References between the archive's own members are not external.
set -euo pipefail
lib=$1
allowed='^(memcpy|memmove|memset|memcmp|hvis_plat_zalloc|hvis_plat_free|_GLOBAL_OFFSET_TABLE_)$'
syms=$(nm --format=posix "$lib")
defined=$(awk 'NF >= 2 && $2 ~ /^[TDBRVWCG]$/ {print $1}' <<<"$syms" | sort -u)
undef=$(awk 'NF >= 2 && $2 == "U" {print $1}' <<<"$syms" | sort -u)
external=$(comm -23 <(echo "$undef") <(echo "$defined"))
bad=$(grep -Ev "$allowed" <<<"$external" || true)
if [ -n "$bad" ]; then
  echo "core references symbols outside the platform interface:"
  echo "$bad"
  exit 1
fi
[ -n "$defined" ] || { echo "no symbols defined in $lib"; exit 1; }
echo "core external symbols: $(tr '\n' ' ' <<<"$external")"
