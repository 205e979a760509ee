#!/usr/bin/env bash
# KVP through real pool files: set/get/delete/list round trips from
# hvis-ctl to the guest's pools (hyperv-daemons' format: 2560-byte
# records, 512-byte key and 2048-byte value, NUL padded), records written
# by another program are read back, the auto pool lists the guest's
# intrinsic keys and `vm show` shows the guest's addresses from it (and
# nothing while the service is disabled). Also the host's limits: 1024
# items listed, no empty key, a SET the guest's pool file refused.
source "$(dirname "$0")/services-common.sh"

# field FILE INDEX OFFSET SIZE: a NUL-padded string of record INDEX.
field() {
	dd if="$1" bs=1 skip=$(($2 * 2560 + $3)) count="$4" 2>/dev/null |
		tr -d '\0'
}
record_ok() { # FILE INDEX KEY VALUE
	[ "$(field "$1" "$2" 0 512)" = "$3" ] &&
		[ "$(field "$1" "$2" 512 2048)" = "$4" ]
}
pool0=$KVP_ROOT/.kvp_pool_0
pool1=$KVP_ROOT/.kvp_pool_1
pool3=$KVP_ROOT/.kvp_pool_3
pool4=$KVP_ROOT/.kvp_pool_4

# pool_write FILE N: a pool file of records K0000/V0000 up to N - 1;
# pool_write FILE KEY VALUE ...: one of these records.
pool_write() {
	python3 - "$@" <<'EOF'
import sys
path, args = sys.argv[1], sys.argv[2:]
if len(args) == 1:
    args = [f"{c}{i:04d}" for i in range(int(args[0])) for c in "KV"]
with open(path, "wb") as f:
    for k, v in zip(args[0::2], args[1::2]):
        f.write(k.encode().ljust(512, b"\0") + v.encode().ljust(2048, b"\0"))
EOF
}
# The host lists as many items as it may (1024), and refuses a pool
# with more rather than show part of it as if it were all.
pool_write "$pool3" 1024
pool_write "$pool4" 1025

start_host --heartbeat-ms 200
start_guest_ic
wait_until 10 svc_is "Key-Value Pair Exchange" OK || fail "KVP not OK"

ctl kvp set Color blue >/dev/null || fail "set refused"
[ "$(ctl kvp get Color)" = blue ] || fail "get: $(ctl kvp get Color)"
[ "$(stat -c %s "$pool0")" -eq 2560 ] || fail "pool 0 size $(stat -c %s "$pool0")"
record_ok "$pool0" 0 Color blue || fail "record 0 on disk"

# Blanks, quotes, backslashes and UTF-8 survive the control line.
val='a "quoted" \ value with  blanks, Grüße'
ctl kvp set "Key 2" "$val" >/dev/null || fail "set 2 refused"
[ "$(ctl kvp get "Key 2")" = "$val" ] || fail "get 2: $(ctl kvp get "Key 2")"
ctl kvp set Color green >/dev/null || fail "update refused"
[ "$(stat -c %s "$pool0")" -eq 5120 ] || fail "update appended"
record_ok "$pool0" 0 Color green || fail "record 0 not updated in place"
record_ok "$pool0" 1 "Key 2" "$val" || fail "record 1 on disk"
long=$(printf 'x%.0s' $(seq 1023))
ctl kvp set Long "$long" >/dev/null || fail "long value refused"
[ "$(ctl kvp get Long)" = "$long" ] || fail "long value changed"
ctl kvp set Long "x$long" 2>"$T/err" && fail "1024-unit value accepted"
grep -q 'too long for the wire' "$T/err" || fail "long error: $(cat "$T/err")"
printf 'Color\tgreen\nKey 2\t%s\nLong\t%s\n' "$val" "$long" >"$T/want"
ctl kvp list >"$T/got" || fail "list failed"
cmp -s "$T/want" "$T/got" || fail "list: $(cat "$T/got")"

out=$(ctl kvp delete Color) || fail "delete refused: $out"
ctl kvp get Color 2>"$T/err" && fail "deleted key still there"
grep -q 'no key "Color" in pool 0' "$T/err" || fail "get error: $(cat "$T/err")"
ctl kvp delete Color 2>/dev/null && fail "second delete accepted"
[ "$(stat -c %s "$pool0")" -eq 5120 ] || fail "delete left $(stat -c %s "$pool0") bytes"
record_ok "$pool0" 0 "Key 2" "$val" || fail "records not moved up"
ctl kvp get "Key 2" --pool 1 2>/dev/null && fail "pool 0 key found in pool 1"

# The empty key is refused by the host, the guest's pools never see it.
empty_refused() { # OP ARGS...
	ctl kvp "$@" 2>"$T/err" && fail "kvp $1 of an empty key accepted"
	grep -q "kvp $1: the key is empty" "$T/err" ||
		fail "kvp $1 of an empty key: $(cat "$T/err")"
}
empty_refused get ""
empty_refused delete ""
empty_refused set "" x
# A key the wire carries (255 UTF-16 units) but the guest's pool file
# cannot hold (765 bytes of UTF-8 in 511): the guest's failure is named.
wide=$(python3 -c 'print("\u65e5" * 255)')
ctl kvp set "$wide" x 2>"$T/err" && fail "765-byte key stored"
grep -q 'kvp set: the guest could not store the item in pool 0' "$T/err" ||
	fail "set failure: $(cat "$T/err")"
[ "$(stat -c %s "$pool0")" -eq 5120 ] || fail "failed set wrote the pool"

# 1024 items list in full, 1025 are refused with the limit named.
for i in $(seq 0 1023); do printf 'K%04d\tV%04d\n' "$i" "$i"; done >"$T/want"
ctl kvp list --pool 3 >"$T/got" || fail "1024 items refused"
cmp -s "$T/want" "$T/got" || fail "1024 items: $(wc -l <"$T/got") listed"
ctl kvp list --pool 4 >/dev/null 2>"$T/err" && fail "1025 items listed"
head -1 "$T/err" | grep -q 'kvp list: pool 4 has more than 1024 items' ||
	fail "1025 items: $(head -1 "$T/err")"

# A record longer than the wire carries (511-byte key, 2047-byte value)
# is listed cut to the wire's 255 and 1023 characters, and the records
# after it are listed too.
pool_write "$pool4" "$(printf 'L%.0s' $(seq 511))" \
	"$(printf 'w%.0s' $(seq 2047))" After1 one After2 two
{ printf 'L%.0s' $(seq 255); printf '\t'; printf 'w%.0s' $(seq 1023)
  printf '\nAfter1\tone\nAfter2\ttwo\n'; } >"$T/want"
ctl kvp list --pool 4 >"$T/got" 2>"$T/err" ||
	fail "list after a long record: $(head -1 "$T/err")"
cmp -s "$T/want" "$T/got" || fail "list after a long record: $(cut -c1-40 "$T/got")"

# A record another program put in the guest pool is read back.
{ printf 'FromGuest'; head -c $((512 - 9)) /dev/zero
  printf 'guest value'; head -c $((2048 - 11)) /dev/zero; } >>"$pool1"
[ "$(ctl kvp get FromGuest --pool guest)" = "guest value" ] ||
	fail "guest pool record not read"
ctl kvp list --pool 1 | grep -qx $'FromGuest\tguest value' || fail "list pool 1"

# What the guest wrote never drives the administrator's terminal: escape
# sequences (ESC, the C1 CSI U+009B), newlines and tabs arrive as text.
evil=$'\e[2J\nforged line\tX\u009b1m'
{ printf 'Evil\tKey'; head -c $((512 - 8)) /dev/zero
  printf '%s' "$evil"; head -c $((2048 - $(printf '%s' "$evil" | wc -c))) /dev/zero; } >>"$pool1"
ctl kvp list --pool 1 >"$T/evil" || fail "list pool 1 with control characters"
[ "$(wc -l <"$T/evil")" -eq 2 ] || fail "guest text split a line: $(cat -A "$T/evil")"
grep -qxF 'Evil\x09Key	\x1b[2J\x0aforged line\x09X\x9b1m' "$T/evil" ||
	fail "control characters not escaped: $(cat -A "$T/evil")"

# The auto pool: the guest's intrinsic items, in hv_kvp_daemon's order.
ctl kvp list --pool auto >"$T/auto" || fail "auto list failed"
for k in FullyQualifiedDomainName IntegrationServicesVersion \
	NetworkAddressIPv4 NetworkAddressIPv6 OSBuildNumber OSName \
	OSMajorVersion OSMinorVersion OSVersion ProcessorArchitecture; do
	grep -q "^$k"$'\t' "$T/auto" || fail "auto pool lacks $k: $(cat "$T/auto")"
done
[ "$(cut -f1 "$T/auto" | head -1)" = FullyQualifiedDomainName ] || fail "auto order"
grep -qx $'ProcessorArchitecture\t'"$(uname -m)" "$T/auto" || fail "arch"
v4=$(awk -F'\t' '$1 == "NetworkAddressIPv4" {print $2}' "$T/auto")
v6=$(awk -F'\t' '$1 == "NetworkAddressIPv6" {print $2}' "$T/auto")
show=$(ctl vm show)
grep -qx "  IPv4 addresses:    ${v4:--}" <<<"$show" || fail "vm show IPv4: $show"
grep -qx "  IPv6 addresses:    ${v6:--}" <<<"$show" || fail "vm show IPv6: $show"
grep -qx "  OS name:           $(awk -F'\t' '$1 == "OSName" {print $2}' "$T/auto")" <<<"$show" ||
	fail "vm show OS: $show"

# Requests the host refuses itself.
ctl kvp get 2>/dev/null && fail "get without key accepted"
ctl kvp set A 2>/dev/null && fail "set without value accepted"
ctl kvp list --pool 9 2>/dev/null && fail "pool 9 accepted"
ctl kvp frob x 2>/dev/null && fail "unknown op accepted"
ctl kvp get "$(printf 'k%.0s' $(seq 256))" 2>/dev/null && fail "long key accepted"
ctl vm service disable kvp >/dev/null
ctl kvp get "Key 2" 2>"$T/err" && fail "get on a disabled service"
grep -q 'disabled' "$T/err" || fail "disabled error: $(cat "$T/err")"
# As Get-VMNetworkAdapter with the KVP service off: no guest data.
show=$(ctl vm show)
grep -qx 'Guest (KVP auto pool, Key-Value Pair Exchange disabled):' <<<"$show" ||
	fail "vm show heading while disabled: $show"
for l in "OS name:" "IPv4 addresses:" "IPv6 addresses:"; do
	grep -qx "  $(printf '%-18s' "$l") -" <<<"$show" ||
		fail "vm show $l while disabled: $show"
done
ctl vm service enable kvp >/dev/null
wait_until 10 svc_is "Key-Value Pair Exchange" OK || fail "KVP not OK again"
os_back() { ctl vm show | grep -qx "  OS name:           $1"; }
wait_until 10 os_back "$(awk -F'\t' '$1 == "OSName" {print $2}' "$T/auto")" ||
	fail "guest data not read again: $(ctl vm show)"
[ "$(ctl kvp get "Key 2")" = "$val" ] || fail "pool lost across re-offer"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
echo "ok"
