#!/usr/bin/env bash
# Host and guest connect; hvis-ctl channels and vm show report it.
source "$(dirname "$0")/lib.sh"

start_host --subchannels 0
start_guest --memory 64
wait_until 10 vm_running || fail "guest did not connect"
wait_until 10 has_open 1 || fail "channel did not open"

show=$(ctl vm show) || fail "vm show failed"
grep -q '^Name: *demo$' <<<"$show" || fail "vm show: name: $show"
grep -q '^VMBus version: *5.3 ' <<<"$show" || fail "vm show: version: $show"
grep -q '^Guest memory: *64 MiB$' <<<"$show" || fail "vm show: memory: $show"
grep -q '^Errors: *0$' <<<"$show" || fail "vm show: errors: $show"
grep -q '^  bad-relid *0$' <<<"$show" || fail "vm show: counters: $show"

# Traffic flows: packet counters grow both ways.
wait_until 10 bash -c "[ \$('$CTL_BIN' --dir '$T' channels --wide | awk 'NR == 2 {print \$11}') -gt 100 ]" \
	|| fail "no echo traffic"
chans=$(ctl channels --wide) || fail "channels failed"
line=$(awk 'NR == 2' <<<"$chans")
read -r relid class inst sub state ver cpu g2h h2g gp hp gs hs rest <<<"$line"
[ "$relid" = 1 ] || fail "relid: $line"
[ "$class" = test ] || fail "class: $line"
[[ "$inst" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || fail "instance: $line"
[ "$sub" = 0 ] || fail "sub: $line"
[ "$ver" = 1.0 ] || fail "device version: $line"
[ "$cpu" = 0 ] || fail "cpu: $line"
[ "$g2h" = 256K ] && [ "$h2g" = 256K ] || fail "ring sizes: $line"
[ "$gp" -gt 0 ] && [ "$hp" -gt 0 ] && [ "$gs" -gt 0 ] && [ "$hs" -gt 0 ] \
	|| fail "counters: $line"
grep -q 'errors=0' <<<"$line" || fail "device errors: $line"

# Errors: unknown request and unknown relid.
ctl bogus 2>/dev/null && fail "bogus request accepted"
ctl device remove 99 2>/dev/null && fail "remove of unknown relid accepted"

# A second guest is refused while one is attached.
"$GUEST_BIN" --dir "$T" 2>"$T/guest2.log"
[ $? -ne 0 ] || fail "second guest was not refused"
log_has "$HOST_LOG" "refused a second guest" || fail "no refusal logged"
grep -q "host refused us: VM 'demo' already has a guest attached (pid $GUEST_PID)" \
	"$T/guest2.log" || fail "second guest not told why: $(cat "$T/guest2.log")"

# A second host for the same VM is refused and takes nothing from the first.
"$HOST_BIN" --dir "$T" 2>"$T/host2.log"
[ $? -ne 0 ] || fail "second host was not refused"
grep -q "VM 'demo' is already running: a host listens on $T/vmbus.sock" \
	"$T/host2.log" || fail "second host: $(cat "$T/host2.log")"
vm_running || fail "first host lost its sockets to the second"

stop_proc "$GUEST_PID" guest
log_has "$GUEST_LOG" "shutdown: traffic echo.*errors 0" || fail "guest summary"
# A guest on its way down unloads VMBus, and the host answers.
log_has "$HOST_LOG" "guest unloaded VMBus" || fail "host saw no UNLOAD"
log_has "$GUEST_LOG" "vmbus: unloaded" || fail "guest got no UNLOAD_RESPONSE"
wait_until 5 bash -c "! '$CTL_BIN' --dir '$T' vm show | grep -q Running" \
	|| fail "host did not notice the guest leaving"

# Hot remove with no guest attached: the offer never went out, so the
# relid is released at once (this once freed the channel under the host).
ctl device remove 1 >/dev/null || fail "remove with no guest refused"
ctl channels --wide | awk 'NR > 1 && $1 == 1' | grep -q . && fail "relid 1 still listed"
ctl vm show >/dev/null || fail "host gone after a remove with no guest"

# Control clients that connect and say nothing delay no one: a request
# made meanwhile is answered before the silent ones are timed out (each
# is, with a reason).
python3 - "$T/ctl.sock" <<'PY' || fail "silent control clients"
import socket, sys
path = sys.argv[1]
idle = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    idle.append(s)
# The request straight on the socket: answered in milliseconds, well
# inside the 1 s the host gives the silent ones.
q = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
q.settimeout(5)
q.connect(path)
q.sendall(b"vm show\n")
reply = b""
while True:
    got = q.recv(4096)
    if not got:
        break
    reply += got
assert reply.startswith(b"ok") and b"Name:" in reply, reply
for s in idle:
    s.setblocking(False)
    try:
        sys.exit("a silent client was served first: %r" % s.recv(100))
    except BlockingIOError:
        pass
for s in idle:
    s.setblocking(True)
    s.settimeout(5)
    got = s.recv(200)
    assert b"no whole request line" in got, got
PY
stop_proc "$HOST_PID" host
[ ! -e "$T/vmbus.sock" ] && [ ! -e "$T/ctl.sock" ] || fail "sockets left behind"
echo "ok"
