#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_nframe (fuzz/corpus/nframe/): frames of
every shape the parser knows (IPv4 with options, IPv6 with extension
headers, TCP, UDP, ICMP, VLAN and QinQ tags, fragments, LSO sends with
length 0, TAP headers with partial checksums), each behind the 15-byte
prefix fuzz_nframe.c describes. Run from the source root; rewrites the
directory."""
import os
import shutil
import struct

OUT = "fuzz/corpus/nframe"
MACS = bytes.fromhex("00155d00000100155d000002")
SRC4, DST4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SRC6 = bytes.fromhex("fe800000000000000000000000000001")
DST6 = bytes.fromhex("fe800000000000000000000000000002")


def eth(etype, tags=()):
    b = MACS
    for i, tpid in enumerate(tags):
        b += struct.pack("!HH", tpid, 0x2000 | (100 + i))
    return b + struct.pack("!H", etype)


def ip4(proto, body, opts=b"", fo=0, tot=None):
    hl = 20 + len(opts)
    tot = hl + len(body) if tot is None else tot
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, tot, 0x1234, fo,
                    64, proto, 0, SRC4, DST4)
    return h + opts + body


def ip6(nh, body, plen=None):
    plen = len(body) if plen is None else plen
    return struct.pack("!IHBB16s16s", 0x60000000, plen, nh, 64, SRC6,
                       DST6) + body


def ext(nh, units, body):
    return bytes([nh, units]) + bytes(6 + 8 * units) + body


def frag6(nh, off_m, body):
    return struct.pack("!BBHI", nh, 0, off_m, 0xabcd0001) + body


def tcp(payload=b"", opts=b"", flags=0x18):
    doff = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", 40000, 80, 1, 2, doff << 4, flags,
                       0xffff, 0, 0) + opts + payload


def udp(payload=b"", ulen=None):
    ulen = 8 + len(payload) if ulen is None else ulen
    return struct.pack("!HHHH", 1234, 80, ulen, 0) + payload


def vnet(flags=0, gso=0, hdr_len=0, gso_size=0, start=0, off=0):
    return struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, start, off)


def prefix(pflags=0x06, csum=0, mss=0, v6=False, l4off=0, hdr=None):
    m = mss | (0x8000 if v6 else 0)
    return (bytes([pflags, csum]) + struct.pack("<H", m) + bytes([l4off]) +
            (hdr if hdr is not None else vnet()))


PAY = bytes(range(48))
OPTS = bytes([1, 1, 1, 1, 2, 4, 5, 0xb4])
SEEDS = {
    "ip4-tcp": prefix() + eth(0x0800) + ip4(6, tcp(PAY)),
    "ip4-tcp-opts": prefix() + eth(0x0800) + ip4(6, tcp(PAY, OPTS),
                                                 opts=bytes([1] * 4)),
    "ip4-udp": prefix(csum=0x19) + eth(0x0800) + ip4(17, udp(b"hi!")),
    "ip4-udp-pad": prefix() + eth(0x0800) + ip4(17, udp(b"x")) + bytes(17),
    "ip4-icmp": prefix() + eth(0x0800) + ip4(1, bytes(8)),
    "ip4-frag-first": prefix() + eth(0x0800) + ip4(17, udp(PAY, 200),
                                                   fo=0x2000),
    "ip4-frag-later": prefix() + eth(0x0800) + ip4(6, PAY, fo=0x0010),
    "vlan-ip4-tcp": prefix(csum=0x15) + eth(0x0800, [0x8100]) +
    ip4(6, tcp(PAY)),
    "qinq-ip6-udp": prefix(csum=0x0a) + eth(0x86dd, [0x88a8, 0x8100]) +
    ip6(17, udp(PAY)),
    "ip6-tcp": prefix(csum=0x06) + eth(0x86dd) + ip6(6, tcp(PAY)),
    "ip6-ext": prefix() + eth(0x86dd) + ip6(0, ext(43, 0, ext(60, 1,
                                                             tcp(PAY)))),
    "ip6-frag-first": prefix() + eth(0x86dd) + ip6(44, frag6(17, 1,
                                                            udp(PAY, 300))),
    "ip6-frag-later": prefix() + eth(0x86dd) + ip6(44, frag6(6, 0x100, PAY)),
    "ip6-no-next": prefix() + eth(0x86dd) + ip6(59, b""),
    "arp": prefix() + eth(0x0806) + bytes(28),
    "lso4": prefix(0x07, 0, 1448, False, 34) + eth(0x0800) +
    ip4(6, tcp(bytes(3000), OPTS, 0x98), tot=0),
    "lso6": prefix(0x07, 0, 1440, True, 54) + eth(0x86dd) +
    ip6(6, tcp(bytes(3000), OPTS), plen=0),
    "lso4-vlan": prefix(0x07, 0, 536, False, 38) + eth(0x0800, [0x8100]) +
    ip4(6, tcp(bytes(1200)), tot=0),
    "tap-partial-tcp6": prefix(hdr=vnet(1, 0, 0, 0, 54, 16)) + eth(0x86dd) +
    ip6(6, tcp(PAY)),
    "tap-partial-udp4": prefix(hdr=vnet(1, 0, 0, 0, 34, 6)) + eth(0x0800) +
    ip4(17, udp(PAY)),
    "tap-gso": prefix(hdr=vnet(1, 1, 66, 1448, 34, 16)) + eth(0x0800) +
    ip4(6, tcp(PAY)),
    "rsc-head4": prefix(0x16) + eth(0x0800) +
    ip4(6, tcp(bytes(3000), OPTS), tot=3052)[:1500],
    "rsc-head6": prefix(0x16) + eth(0x86dd) +
    ip6(6, tcp(bytes(3000)), plen=3020)[:1500],
    "bad-ihl": prefix() + eth(0x0800) + bytes([0x44]) + ip4(6, b"")[1:],
    "bad-doff": prefix() + eth(0x0800) + ip4(6, tcp(PAY)[:12] + b"\x40" +
                                            tcp(PAY)[13:]),
    "bad-udp-len": prefix() + eth(0x86dd) + ip6(17, udp(PAY, 7)),
    "short": prefix() + eth(0x0800) + bytes(10),
}


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
