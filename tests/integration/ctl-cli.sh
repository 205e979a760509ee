#!/usr/bin/env bash
# hvis-ctl in Hyper-V's words, as a script uses it: each listing's JSON
# (parsed by python3's json module, fields as docs/json.md says), vm list
# (Get-VM) over the VMs here, vm services' exit status and secondary
# status, a service keeping its instance GUID across disable/enable and
# after `device remove`, Stop-VM -TurnOff of a guest that cannot answer,
# channels fitting 100 columns, and the command line checked with no host.
source "$(dirname "$0")/services-common.sh"

# json_check REQUEST... -- PYTHON: the reply to `hvis-ctl REQUEST` parses
# as JSON and PYTHON (an expression on the object `o`) holds.
json_check() {
	local args=() out
	while [ "$1" != "--" ]; do args+=("$1"); shift; done; shift
	out=$(ctl "${args[@]}") || [ $? -eq 3 ] || fail "${args[*]} failed"
	python3 -c 'import json, sys; o = json.loads(sys.stdin.read());
sys.exit(0 if eval("(" + sys.argv[1] + ")") else 1)' "$1" <<<"$out" ||
		fail "${args[*]}: not ($1): $out"
}

# --- no host: the command line is still checked, the hint names VMs
"$CTL_BIN" --dir "$T" bogus 2>"$T/err"; [ $? -eq 2 ] || fail "bogus: exit"
grep -q "unknown command 'bogus'" "$T/err" || fail "bogus: $(cat "$T/err")"
"$CTL_BIN" --dir "$T" vm show 2>"$T/err"; [ $? -eq 1 ] || fail "no host: exit"
grep -q "no hvis-host runs VM 'demo' .* start one with 'hvis-host --name demo'" \
	"$T/err" || fail "no host: $(cat "$T/err")"
"$CTL_BIN" --version | grep -Eq '^hvis-ctl [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
"$HOST_BIN" --version | grep -Eq '^hvis-host [0-9]+\.[0-9]+\.[0-9]+$' || fail "host --version"

start_host --heartbeat-ms 200 --subchannels 2 --services all
start_guest_ic
wait_until 10 all_ok || fail "services not OK: $(ctl vm services)"
wait_until 10 has_open 8 || fail "channels not open"

# --- JSON of every listing
json_check vm show --json -- 'o["schema"] == "hvis.vm/1" and o["state"] == "Running"
 and o["vmbus_version"] == "5.3" and o["channels_open"] == 8
 and o["errors"]["total"] == 0 and o["guest_pid"] > 0 and o["uptime_s"] >= 0
 and len(o["integration_services"]) == 5 and "os_name" in o["guest_data"]'
json_check channels --json -- 'o["schema"] == "hvis.channels/1"
 and len(o["channels"]) == 8 and all(c["state"] == "open" for c in o["channels"])
 and o["channels"][0]["device"]["mode"] == "echo"
 and o["channels"][0]["guest_to_host"]["packets"] >= 0'
json_check vm services --json -- 'o["schema"] == "hvis.services/1"
 and [s["primary_status"] for s in o["services"]] == ["OK"] * 5
 and o["services"][3]["message_version"] == "5.0"'
json_check vm list --json -- 'o["schema"] == "hvis.vm-list/1"
 and len(o["vms"]) == 1 and o["vms"][0]["reachable"]
 and o["vms"][0]["vm"]["state"] == "Running"'
ctl kvp set Color "deep blue" >/dev/null || fail "kvp set"
json_check kvp list --json -- 'o["schema"] == "hvis.kvp-list/1" and o["pool"] == 0
 and {"key": "Color", "value": "deep blue"} in o["items"]'
# What `kvp list --pool auto` lists, `kvp get --pool auto` finds.
ctl kvp list --pool auto >"$T/auto" || fail "kvp list --pool auto"
[ "$(wc -l <"$T/auto")" -ge 10 ] || fail "auto pool: $(cat "$T/auto")"
while IFS=$'\t' read -r k v; do
	[ "$(ctl kvp get --pool auto "$k")" = "$v" ] ||
		fail "auto pool: get $k is not the listed '$v'"
done <"$T/auto"
out=$(ctl vm list) || fail "vm list"
grep -Eq '^[^ ]+ +Running +[0-9]{2}:[0-9]{2}:[0-9]{2} +5\.3 ' <<<"$out" ||
	fail "vm list: $out"

# --- channels: 100 columns by default, every counter with --wide
[ "$(ctl channels | awk '{ if (length($0) > m) m = length($0) } END { print m }')" -le 100 ] \
	|| fail "channels wider than 100: $(ctl channels)"
ctl channels --wide | grep -q 'G2H-SIGS' || fail "--wide: no signal counts"

# --- vm services: exit 3 and a reason when an enabled service is not OK
ctl vm services >/dev/null || fail "vm services: exit $? while all OK"
guid_before=$(ctl channels --json | python3 -c 'import json, sys
print([c["instance"] for c in json.load(sys.stdin)["channels"] if c["class"] == "timesync"][0])')
ts=$(relid_of timesync)
out=$(ctl device remove "$ts") || fail "device remove: $out"
[ "$out" = "rescinded relid $ts" ] || fail "device remove said: $out"
wait_until 5 svc_is "Time Synchronization" "No Contact" || fail "not No Contact"
ctl vm services >"$T/svc" 2>"$T/err"; rc=$?
[ "$rc" -eq 3 ] || fail "vm services exit $rc with a service not OK"
grep -q "1 enabled service not OK: Time Synchronization (No Contact)" "$T/err" ||
	fail "vm services warning: $(cat "$T/err")"
grep -q '^Time Synchronization .*Device removed: vm service enable offers it again$' \
	"$T/svc" || fail "secondary status: $(cat "$T/svc")"
# ... recovered by enabling it, with its instance GUID unchanged
ctl vm service enable timesync >/dev/null || fail "enable after remove"
wait_until 10 svc_is "Time Synchronization" OK || fail "not OK after enable"
ctl vm service disable timesync >/dev/null || fail "disable"
ctl vm service enable timesync >/dev/null || fail "enable"
wait_until 10 all_ok || fail "not OK after disable/enable"
guid_after=$(ctl channels --json | python3 -c 'import json, sys
print([c["instance"] for c in json.load(sys.stdin)["channels"]
 if c["class"] == "timesync" and c["state"] == "open"][0])')
[ "$guid_after" = "$guid_before" ] || fail "instance GUID changed: $guid_before -> $guid_after"
# A test device's removal names its sub-channels too.
out=$(ctl device remove 1) || fail "remove test device"
[[ "$out" =~ ^rescinded\ relid\ [0-9]+,\ [0-9]+,\ 1$ ]] || fail "remove said: $out"

# --- vm watch: rates beside the totals; Off (not an exit) when the host
# goes away, and the VM again when it is back
"$CTL_BIN" --dir "$T" vm watch >"$T/watch" 2>&1 &
watch_pid=$!
_pids+=("$watch_pid")
wait_until 5 grep -q 'G2H/s' "$T/watch" || fail "watch: no rates: $(cat "$T/watch")"

# --- Stop-VM -TurnOff: the guest is stopped dead, and still goes
kill -STOP "$GUEST_PID"
out=$(ctl vm stop --turn-off) || fail "turn-off: $out"
grep -q "turned off (guest pid $GUEST_PID killed)" <<<"$out" || fail "turn-off said: $out"
wait "$GUEST_PID"; rc=$?
[ "$rc" -eq 137 ] || fail "guest exit $rc after turn-off"
json_check vm show --json -- 'o["state"] == "Off" and o["guest_data"] is None
 and o["uptime_s"] is None'
ctl vm show | grep -q '^Guest (KVP auto pool, no guest attached):' || fail "stale guest data"
ctl vm stop --turn-off 2>"$T/err" && fail "turn-off of an Off VM"
grep -q "is Off already" "$T/err" || fail "turn-off Off: $(cat "$T/err")"
stop_proc "$HOST_PID" host
wait_until 5 grep -q '^State: *Off (host not running: nothing at ' "$T/watch" ||
	fail "watch: no Off: $(tail -5 "$T/watch")"
kill -0 "$watch_pid" || fail "watch exited when the host went"
start_host --services none
# back: a host's own status after the last "host not running"
back() { awk '/host not running/ { off = NR } /^State: *Off \(waiting/ { on = NR }
	END { exit !(off && on > off) }' "$T/watch"; }
wait_until 5 back || fail "watch did not find the host back"
kill -INT "$watch_pid"
wait "$watch_pid" || fail "watch exit $? on Ctrl-C"
stop_proc "$HOST_PID" host
echo "ok"
