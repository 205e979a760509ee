#!/usr/bin/env python3
"""Writes the seed corpora of the NVSP fuzz targets (fuzz/corpus/nvsp_guest,
fuzz/corpus/nvsp_host): whole init sessions at every version, the data
path, and hostile variants, in each target's record format (see the
comment at the top of fuzz_nvsp_guest.c and fuzz_nvsp_host.c).

    fuzz/gen_nvsp_corpus.py    # from the source tree's top
"""
import os
import struct

INBAND, XFER, GPA, COMP = 6, 7, 9, 0xB
REQ = 1
V1, V2, V4, V5, V6, V61 = 0x2, 0x30002, 0x40000, 0x50000, 0x60000, 0x60001
VERSIONS = [V1, V2, V4, V5, V6, V61]
SUB = 1808
RECV_SIZE = 256 * 1024
SEND_SIZE = 64 * 1024


def msg(*words, pad=40):
    b = struct.pack("<%dI" % len(words), *words)
    return b + bytes(max(0, pad - len(b)))


def pkt(ptype, payload, xid=0, flags=0, hdr=b""):
    """A VMBus packet: descriptor, type header, payload padded to 8."""
    hlen = 16 + len(hdr)
    payload += bytes(-len(payload) % 8)
    d = struct.pack("<HHHHQ", ptype, hlen // 8, (hlen + len(payload)) // 8,
                    flags, xid)
    return d + hdr + payload


def engine_xid(idx):
    """The guest target's marker: top byte 0xEE, low byte picks the
    engine's request (0 INIT, 1 RECV_BUF, 2 SEND_BUF, 3 SUBCHANNEL,
    4 SWITCH_DATA_PATH)."""
    return 0xEE << 56 | idx


def xfer_hdr(ranges, set_id=0xCAFE):
    h = struct.pack("<HBBI", set_id, 0, 0, len(ranges))
    for off, n in ranges:
        h += struct.pack("<II", n, off)
    return h + bytes(-len(h) % 8)


def gpa_hdr(n):
    h = struct.pack("<II", 0, n)
    for i in range(n):
        h += struct.pack("<IIQ", 100, 8, 0x1000 + i)
    return h


def write(target, name, head, records):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([head]))
        for kind, p in records:
            f.write(struct.pack("<BH", kind, len(p)) + p)


# ---- guest ----

def init_complete(status=1, ln=32):
    return pkt(COMP, msg(2, 0xFFFFFFFF, 34, status, pad=ln), engine_xid(0))


def recv_complete(status=1, sections=1, off=0, sub=SUB,
                  n=RECV_SIZE // SUB, end=None):
    end = n * sub if end is None else end
    return pkt(COMP, msg(102, status, sections, off, sub, n, end, pad=32),
               engine_xid(1))


def send_complete(status=1, size=6144):
    return pkt(COMP, msg(105, status, size, pad=32), engine_xid(2))


def guest_session(vidx):
    return [(0, init_complete()), (0, recv_complete()), (0, send_complete())]


def data_path():
    rndis = msg(107, 0, 0xFFFFFFFF, 0, pad=32)
    table = msg(134, 16, 12, *[i % 4 for i in range(16)], pad=76)
    return [
        (1 | 3 << 1, pkt(XFER, rndis, 9, REQ,
                         xfer_hdr([(0, SUB), (SUB, 100)]))),
        (1, pkt(XFER, rndis, 9, REQ, xfer_hdr([(0, SUB + 1)]))),
        (1, pkt(XFER, rndis, 9, REQ, xfer_hdr([(0, 60)], 0xBEEF))),
        (3 << 1, pkt(INBAND, table)),
        (0, pkt(INBAND, msg(128, 1, 7, pad=32), 1 << 63, REQ)),
        (0, pkt(INBAND, msg(129, 1, pad=32), 1 << 63 | 1, REQ)),
        (0, pkt(COMP, msg(108, 1, pad=8), 1234)),
        (0, pkt(COMP, msg(108, 1, pad=8), engine_xid(3))),
    ]


def guest():
    t = "nvsp_guest"
    for i in range(6):
        # From the start: the whole init at version i, then data.
        write(t, "session-v%d" % i, i | 0x40, guest_session(i) + data_path())
        # Ready already: the data path alone.
        write(t, "ready-v%d" % i, i | 3 << 3 | 0x40, data_path())
    write(t, "descent", 5, [(0, init_complete(0)), (0, init_complete(0)),
                            (0, init_complete(1, 16))] + guest_session(2)[1:])
    for name, rec in [("layout-2sections", recv_complete(sections=2)),
                      ("layout-offset", recv_complete(off=8)),
                      ("layout-big", recv_complete(n=RECV_SIZE // SUB + 1)),
                      ("layout-end", recv_complete(end=RECV_SIZE + 8)),
                      ("layout-fail", recv_complete(status=2))]:
        write(t, name, 5 | 1 << 3, [(0, rec)])
    for name, size in [("section-0", 0), ("section-odd", 6146),
                       ("section-big", SEND_SIZE + 4)]:
        write(t, name, 5 | 2 << 3, [(0, send_complete(size=size))])
    write(t, "subch", 3 | 4 << 3, [
        (0, pkt(COMP, msg(133, 1, 9, pad=32), engine_xid(3))),
        (0, pkt(COMP, msg(133, 1, 2, pad=32), engine_xid(3)))])
    write(t, "datapath", 3 | 5 << 3 | 0x40, [
        (0, pkt(COMP, b"", engine_xid(4))),
        (0, pkt(COMP, b"", engine_xid(4)))])
    buggy = msg(134, 16, 12, *([7] * 7 + [1] * 16), pad=104)
    write(t, "table-hostbug", 3 | 3 << 3, [(2 << 1, pkt(INBAND, buggy))])
    # Frames batched as netvsp sends them: a range a sub-allocation,
    # each an RNDIS PACKET of a 64-byte frame, the first's index the id;
    # then the same with the middle range past the buffer, one empty,
    # one longer than a sub-allocation, and one range over the limit
    # without RSC (375).
    frame = [(16 * SUB + i * SUB + 20, 108) for i in range(16)]

    def bad(i, r):
        return frame[:i] + [r] + frame[i + 1:]

    data = msg(107, 0, 0xFFFFFFFF, 0)
    write(t, "recv-batch", 5 | 3 << 3, [
        (1, pkt(XFER, data, 16, REQ, xfer_hdr(frame))),
        (1, pkt(XFER, data, 16, REQ, xfer_hdr(bad(8, (RECV_SIZE - 8, 108))))),
        (1, pkt(XFER, data, 16, REQ, xfer_hdr(bad(15, (16 * SUB, 0))))),
        (1, pkt(XFER, data, 16, REQ, xfer_hdr(bad(0, (16 * SUB, SUB + 1))))),
        (1, pkt(XFER, data, 16, REQ,
                xfer_hdr([(16 * SUB, 108)] * 376)))])
    write(t, "recv-many", 5 | 3 << 3 | 0x40, [
        (1, pkt(XFER, msg(107, 0, 0xFFFFFFFF, 0), 9, REQ,
                xfer_hdr([(8 * i, 8) for i in range(562)])))])


# ---- host ----

def hmsg(*words, ln=40, flags=REQ, xid=5, ptype=INBAND, hdr=b""):
    return pkt(ptype, msg(*words, pad=ln), xid, flags, hdr)


def host_session(v, ln=40):
    recs = [(3, hmsg(1, v, v, ln=ln))]
    if v >= V2:
        recs.append((3, hmsg(125, 1514, 0, 0x84, 0, ln=ln, flags=0)))
    recs += [(3, hmsg(100, 6, 30 if v >= V5 else 1, ln=ln, flags=0)),
             (3, hmsg(101, 1, 0xCAFE, ln=ln)),
             (3, hmsg(104, 2, 0, ln=ln))]
    return recs


def host_data():
    return [
        (0, hmsg(107, 0, 3, 200)),
        (0, hmsg(107, 1, 0xFFFFFFFF, 0, ptype=GPA, hdr=gpa_hdr(2))),
        (0, hmsg(107, 0, 99, 200)),
        (0, hmsg(107, 2, 0, 10)),
        (0, hmsg(133, 1, 2)),
        (0, hmsg(129, 1, flags=REQ)),
        (0, pkt(COMP, msg(108, 1, pad=8), 16)),
        (0, pkt(COMP, msg(108, 1, pad=8), 16)),
        (0, pkt(COMP, msg(108, 1, pad=8), 17)),
        (0, pkt(COMP, b"", 1 << 63)),
        (0, hmsg(103, 0xCAFE, flags=0)),
        (0, hmsg(106, 0, flags=0)),
    ]


def host():
    t = "nvsp_host"
    for i, v in enumerate(VERSIONS):
        write(t, "session-v%d" % i, 5, host_session(v) + host_data())
        write(t, "legacy32-v%d" % i, 5 | 1 << 6, host_session(v, 32) +
              host_data())
    write(t, "capped-v4", 2, [(3, hmsg(1, V61, V61)), (3, hmsg(1, V6, V6)),
                              (3, hmsg(1, V5, V5))] + host_session(V4))
    write(t, "init-28", 5, [(3, hmsg(1, V5, V5, ln=28))])
    write(t, "ready-queues", 5 | 4 << 3 | 2 << 6, host_data() + [
        (0, pkt(COMP, msg(108, 1, pad=8), x)) for x in (0, 16, 30, 60, 61)])
    write(t, "subchannel-engine", 5 | 5 << 3, host_data())
    write(t, "mapping-pending", 5 | 3 << 3, [
        (1, hmsg(101, 1, 0xCAFE)), (0, hmsg(104, 2, 0)),
        (2, hmsg(107, 0, 0, 10))])
    write(t, "map-sizes", 5 | 2 << 3, [
        (0, hmsg(101, 1, 0xCAFE)), (2, hmsg(101, 1, 0xCAFE)),
        (1, hmsg(101, 1, 0xCAFE)), (2, hmsg(104, 2, 0)),
        (1, hmsg(104, 2, 0))])
    write(t, "hostile", 5 | 1 << 3, [
        (0, hmsg(125, 20000, 0, 0, 0, flags=0)),
        (0, hmsg(101, 1, 0xBEEF)), (0, hmsg(110, 0)),
        (0, hmsg(1, V5, V5)), (0, hmsg(128, 1, 1)),
        (0, hmsg(133, 7, 1)), (0, pkt(INBAND, b"\x01", 5, REQ))])


if __name__ == "__main__":
    guest()
    host()
