#!/usr/bin/env bash
# A control client that asks for a long reply and never reads it stalls
# nobody: the host sends what the socket takes, keeps the rest, answers
# other clients meanwhile, and cuts the silent one off after a second
# without progress. A client that does read gets the whole long reply.
source "$(dirname "$0")/services-common.sh"

# 1024 items of 1000 bytes in the external pool: `kvp list` answers about
# a megabyte, far more than a socket buffer holds.
python3 - "$KVP_ROOT/.kvp_pool_0" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(1024):
        f.write(("k%04d" % i).encode().ljust(512, b"\0"))
        f.write((b"v" * 1000).ljust(2048, b"\0"))
PY
start_host
start_guest_ic
wait_until 10 svc_is "Key-Value Pair Exchange" OK || fail "KVP not OK"

python3 - "$T/ctl.sock" "$CTL_BIN" "$T" <<'PY' || fail "slow client"
import socket, subprocess, sys, time
path, ctl, d = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.connect(path)
s.sendall(b"kvp list\n")
# Others are answered promptly while the list is built and while its
# reply waits for this client; the host cuts it off within seconds.
worst, t_end = 0.0, time.time() + 20
while time.time() < t_end:
    t0 = time.time()
    out = subprocess.run([ctl, "--dir", d, "vm", "show"],
                         capture_output=True, timeout=10)
    worst = max(worst, time.time() - t0)
    assert out.returncode == 0, out
    log = open(d + "/host.log").read()
    if "took no reply for 1000 ms: cut off" in log:
        break
    time.sleep(0.1)
else:
    sys.exit("the silent client was never cut off")
assert worst < 1.0, "vm show took %.3f s" % worst
s.setblocking(False)
got = b""
try:
    while True:
        d2 = s.recv(1 << 20)
        if not d2:
            break
        got += d2
except (BlockingIOError, ConnectionResetError):
    pass
assert got.startswith(b"ok\n") and len(got) < 1024 * 1000, len(got)
print("vm show took %.0f ms at worst; the silent client got %d bytes"
      % (worst * 1000, len(got)))
PY
out=$(ctl kvp list) || fail "kvp list failed"
[ "$(grep -c '^k[0-9]\{4\}' <<<"$out")" -eq 1024 ] ||
	fail "kvp list: $(grep -c '^k' <<<"$out") items"
stop_proc "$GUEST_PID" guest
stop_proc "$HOST_PID" host
echo "ok"
