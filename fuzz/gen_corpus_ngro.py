#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ngro (fuzz/corpus/ngro/): streams of
TCP segments over IPv4 and IPv6 as a guest without TSO sends them (with
timestamps, consecutive, a short last one, PSH), and the shapes that end
a run (a gap, another flow, a FIN, a full checksum, a VLAN tag; over
IPv6 another flow label, a hop-by-hop header, an IPv4 segment), each
record as
fuzz_ngro.c describes. Run from the source root; rewrites the
directory."""
import os
import shutil
import struct

OUT = "fuzz/corpus/ngro"
MACS = bytes.fromhex("00155d00000100155d000002")


def seg(seq, plen, ident, flags=0x10, sport=40000, ts=True, vlan=False):
    opts = struct.pack("!BBBBII", 1, 1, 8, 10, 1000, 2000) if ts else b""
    tcp = struct.pack("!HHIIBBHHH", sport, 5201, seq, 77, (5 + len(opts) // 4)
                      << 4, flags, 502, 0, 0) + opts
    body = tcp + bytes((seq + i) & 0xFF for i in range(plen))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident,
                     0x4000, 64, 6, 0, bytes([10, 0, 0, 2]),
                     bytes([10, 0, 0, 1]))
    eth = MACS + (struct.pack("!HH", 0x8100, 5) if vlan else b"") + \
        b"\x08\x00"
    return eth + ip + body


def seg6(seq, plen, label=5, nxt=6):
    opts = struct.pack("!BBBBII", 1, 1, 8, 10, 1000, 2000)
    tcp = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 77, 8 << 4, 0x10,
                      502, 0, 0) + opts
    body = tcp + bytes((seq + i) & 0xFF for i in range(plen))
    ip = struct.pack("!IHBB16s16s", 0x60000000 | label, len(body), nxt, 64,
                     bytes.fromhex("fd" + "00" * 14 + "02"),
                     bytes.fromhex("fd" + "00" * 14 + "01"))
    return MACS + b"\x86\xdd" + ip + body


def stream6(n, mss=1428, start=1000):
    return b"".join(rec(seg6(start + i * mss, mss), flags=5)
                    for i in range(n))


def rec(frame, flags=1):
    return struct.pack("<HB", len(frame), flags) + frame


def stream(n, mss=1448, last=None, start=1000, ident=1):
    out, seq = b"", start
    for i in range(n):
        plen = last if last and i == n - 1 else mss
        out += rec(seg(seq, plen, ident + i))
        seq += plen
    return out


CASES = {
    "run-3": stream(3),
    "run-short-last": stream(4, last=100),
    "run-psh": stream(2) + rec(seg(1000 + 2 * 1448, 1448, 3, flags=0x18)) +
    stream(2, start=1000 + 3 * 1448, ident=4),
    "gap": stream(2) + rec(seg(99999, 1448, 3)),
    "two-flows": stream(2) + rec(seg(1000 + 2 * 1448, 1448, 3, sport=1)),
    "fin": stream(2) + rec(seg(1000 + 2 * 1448, 1448, 3, flags=0x11)),
    "full-csum": stream(2) + rec(seg(1000 + 2 * 1448, 1448, 3), flags=0),
    "vlan": rec(seg(1000, 1448, 1, vlan=True)) * 2,
    "no-ts": rec(seg(1000, 1460, 1, ts=False)) +
    rec(seg(2460, 1460, 2, ts=False)),
    "long": stream(50),
    "v6-run-3": stream6(3),
    "v6-long": stream6(50),
    "v6-flow-label": stream6(2) + rec(seg6(1000 + 2 * 1428, 1428, label=6),
                                      flags=5),
    "v6-hop-by-hop": stream6(1) + rec(seg6(2428, 1428, nxt=0), flags=5),
    "v6-after-v4": stream(2) + stream6(2),
}

shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
for name, data in CASES.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
