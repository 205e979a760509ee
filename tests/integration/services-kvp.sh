#!/usr/bin/env bash
# KVP through real pool files: set/get/delete/list round trips from
# hvis-ctl to the guest's pools (hyperv-daemons' format: 2560-byte
# records, 512-byte key and 2048-byte value, NUL padded), records written
# by another program are read back, the auto pool lists the guest's
# intrinsic keys and `vm show` shows the guest's addresses from it.
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
ctl vm service enable kvp >/dev/null
wait_until 10 svc_is "Key-Value Pair Exchange" OK || fail "KVP not OK again"
[ "$(ctl kvp get "Key 2")" = "$val" ] || fail "pool lost across re-offer"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
echo "ok"
