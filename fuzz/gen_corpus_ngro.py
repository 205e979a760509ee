#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ngro (fuzz/corpus/ngro/): streams of
TCP/IPv4 segments as a guest without TSO sends them (with timestamps,
consecutive, a short last one, PSH), and the shapes that end a run (a
gap, another flow, a FIN, a full checksum, a VLAN tag), each record as
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
}

shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
for name, data in CASES.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
