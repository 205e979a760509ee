#!/usr/bin/env python3
"""Raw NBD clients for tests/guest/nbdx.sh, doing what the usual tools
will not. Each makes the fixed newstyle handshake with NBD_OPT_GO for
EXPORT, then:

  slow COUNT SIZE SECONDS: COUNT reads of SIZE bytes sent at once; prints
    "sent", sleeps SECONDS without reading, then reads what the server
    let through. Exits 0 if the server cut it off (the stream ended
    before every reply arrived), 1 if every reply came.
  write: one WRITE of 4096 bytes at offset 0 (nbdcopy and qemu-io
    refuse to write to a read-only export themselves); prints the error
    value of its reply, "error=N".

Usage: nbdx_client.py SOCKET EXPORT slow COUNT SIZE SECONDS
       nbdx_client.py SOCKET EXPORT write
"""
import socket
import struct
import sys
import time

IHAVEOPT = 0x49484156454F5054
OPT_GO = 7
REP_ACK = 1
REQUEST_MAGIC = 0x25609513
CMD_READ = 0
CMD_WRITE = 1
REPLY_MAGIC = 0x67446698


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        part = s.recv(n - len(buf))
        if not part:
            sys.exit("end of stream in the handshake")
        buf += part
    return buf


def handshake(s, export):
    read_exact(s, 18)  # NBDMAGIC, IHAVEOPT, handshake flags
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    data = struct.pack(">I", len(export)) + export + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, len(data)) + data)
    while True:
        _, _, kind, length = struct.unpack(">QIII", read_exact(s, 20))
        read_exact(s, length)
        if kind == REP_ACK:
            return
        if kind & 0x80000000:
            sys.exit("NBD_OPT_GO refused")


def drain(s):
    got = 0
    s.settimeout(5)
    try:
        while True:
            part = s.recv(1 << 20)
            if not part:
                break
            got += len(part)
    except (ConnectionResetError, socket.timeout) as e:
        print("recv:", e)
    return got


def slow(s, count, size, seconds):
    for i in range(count):
        s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_READ, i,
                              (i * size) % (32 << 20), size))
    print("sent", flush=True)
    time.sleep(seconds)
    got, want = drain(s), count * (16 + size)
    print("got", got, "of", want, flush=True)
    return 0 if got < want else 1


def write(s):
    s.sendall(struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_WRITE, 7, 0,
                          4096) + bytes(4096))
    magic, err, cookie = struct.unpack(">IIQ", read_exact(s, 16))
    if magic != REPLY_MAGIC or cookie != 7:
        sys.exit("bad reply")
    print("error=%d" % err, flush=True)
    return 0


def main():
    path, export, mode = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    handshake(s, export)
    if mode == "slow":
        return slow(s, int(sys.argv[4]), int(sys.argv[5]),
                    float(sys.argv[6]))
    return write(s)


sys.exit(main())
